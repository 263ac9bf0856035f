"""The demo's supervisor with real processes: deaths are named, nothing outlives stop(), and a
folder whose previous owner died is taken over cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from campaign.demo.supervisor import LOCK_NAME, Supervisor
from campaign.errors import Conflict

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]
# Ignores SIGTERM and keeps a grandchild (which also ignores it): only SIGKILL to the group ends
# them both.
STUBBORN = [
    "/bin/sh",
    "-c",
    "trap '' TERM; (trap '' TERM; sleep 60) & sleep 60",
]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_until(predicate: object, timeout_s: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_dead_child_is_named_with_its_exit_code(tmp_path: Path) -> None:
    with Supervisor(tmp_path) as sup:
        sup.start("steady", SLEEP, {})
        sup.start("crasher", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], {})
        _wait_until(lambda: sup.casualty() is not None)
        dead = sup.casualty()
        assert dead is not None
        assert (dead.name, dead.exit_code()) == ("crasher", 3)
        assert "boom" in dead.tail()


def test_stop_kills_children_that_ignore_sigterm_and_their_grandchildren(tmp_path: Path) -> None:
    with Supervisor(tmp_path, grace_s=0.5) as sup:
        child = sup.start("stubborn", STUBBORN, {})
        _wait_until(lambda: len(psutil.Process(child.pid).children(recursive=True)) >= 2)
        family = [child.pid] + [p.pid for p in psutil.Process(child.pid).children(recursive=True)]
    assert all(_gone(pid) for pid in family)
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_second_supervisor_on_a_held_folder_is_refused(tmp_path: Path) -> None:
    with Supervisor(tmp_path), pytest.raises(Conflict, match="already running"):
        Supervisor(tmp_path).acquire()


def test_a_folder_whose_owner_was_killed_is_taken_over_and_its_leftovers_ended(
    tmp_path: Path,
) -> None:
    # A supervisor in another process starts a child that survives its parent's death (it
    # ignores the PDEATHSIG SIGTERM), then the supervisor is SIGKILLed: no cleanup ran.
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from campaign.demo.supervisor import Supervisor
        sup = Supervisor(Path({str(tmp_path)!r}))
        sup.acquire()
        child = sup.start("stubborn", {STUBBORN!r}, {{}})
        # "ready" only once the shell ignores SIGTERM (its SigIgn mask has bit 15): killed
        # before its `trap` ran, the parent-death SIGTERM would end it (a loaded host's flake).
        status = Path(f"/proc/{{child.pid}}/status")
        while not int(next(l for l in status.read_text().splitlines()
                           if l.startswith("SigIgn:")).split()[1], 16) & (1 << 14):
            time.sleep(0.01)
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True
    )
    assert owner.stdout is not None
    with owner.stdout:
        assert owner.stdout.readline().strip() == b"ready"
    record = json.loads((tmp_path / LOCK_NAME).read_text())
    leftover = record["children"][0]["pid"]
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait(5)
    assert not _gone(leftover)

    with Supervisor(tmp_path, grace_s=0.5) as sup:
        assert _gone(leftover)
        child = sup.start("fresh", SLEEP, {})
        assert sup.casualty() is None
    assert _gone(child.pid)
