"""`campaign demo` against the machine's PostgreSQL and Redis (DATABASE_URL/REDIS_URL set): the
whole stack as real processes, a small campaign, and a report that agrees with the database."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from rich.console import Console

from campaign.demo.run import run_demo
from campaign.demo.supervisor import LOCK_NAME
from campaign.errors import ServiceUnavailable
from campaign.settings import load_settings
from tests.demo.checks import assert_report_matches_database
from tests.demo.conftest import ROWS, DemoInputs

CLI = (
    "from campaign.cli import app, main\n"
    "from campaign.cli import demo\n"
    "if all(c.callback is not demo.demo for c in app.registered_commands):\n"
    "    demo.register(app)\n"
    "main()\n"
)


def _campaign_processes() -> list[psutil.Process]:
    """Processes of ours running `-m campaign` (none may outlive a demo)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "campaign" in proc.cmdline() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _wait_for_calls(demo: subprocess.Popen[bytes], lock: Path, database_url: str) -> list[int]:
    """Wait until the demo's five processes run and calls are flowing; their pids."""
    children: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and demo.poll() is None:
        record = json.loads(lock.read_text() or "{}") if lock.exists() else {}
        children = [c["pid"] for c in record.get("children", [])]
        with psycopg.connect(database_url) as conn:
            try:
                (attempts,) = conn.execute("SELECT count(*) FROM attempts").fetchone() or (0,)
            except psycopg.errors.UndefinedTable:  # not migrated yet
                attempts = 0
        if len(children) == 5 and attempts > 20:
            break
        time.sleep(0.2)
    return children


def _assert_console_shows_the_campaign(log: str) -> None:
    """The demo printed the console's URL and an operator key, and both work while it runs."""
    url = re.search(r"console\s+(http://\S+/)", log)
    key = re.search(r"operator key\s+(\S+)", log)
    assert url, log
    assert key, log
    assert httpx.get(url.group(1)).headers["content-type"].startswith("text/html")
    auth = {"Authorization": f"Bearer {key.group(1)}"}
    assert httpx.get(f"{url.group(1)}api/v1/me", headers=auth).json() == {"scope": "operator"}
    items = httpx.get(f"{url.group(1)}api/v1/overview", headers=auth).json()["items"]
    assert [item["state"] for item in items] == ["running"]


def test_demo_on_external_servers_reports_what_the_database_holds(
    demo_inputs: DemoInputs, demo_database: str, demo_redis: str, data_dir: Path
) -> None:
    settings = load_settings(database_url=demo_database, redis_url=demo_redis)
    output = io.StringIO()

    report, used = run_demo(
        demo_inputs.options(data_dir), settings, Console(file=output, width=120)
    )

    assert report.ended in ("completed", "settled"), output.getvalue()
    assert report.servers.startswith("external")
    assert used.database_url == demo_database
    assert report.upload["rows"] == ROWS + 11
    assert len(report.upload["rejected"]) == 9
    assert report.upload["duplicates"] == 2
    assert report.upload["suppressed"] == report.dnc_listed == 15
    assert sum(report.retries.values()) > 0
    assert report.memory_bytes > 0
    assert report.memory_pss_bytes > 0
    assert_report_matches_database(report, demo_database)
    with psycopg.connect(demo_database) as conn:
        (state,) = conn.execute(
            "SELECT state FROM campaigns WHERE id = %s", (report.campaign_id,)
        ).fetchone() or ("?",)
    assert state in ("completed", "paused")  # never left running once the demo is gone
    assert not (data_dir / LOCK_NAME).exists()
    assert _campaign_processes() == []


def test_ctrl_c_stops_every_process_and_a_second_demo_runs_right_after(
    demo_inputs: DemoInputs, demo_database: str, demo_redis: str, data_dir: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": demo_database, "REDIS_URL": demo_redis}
    argv = [
        sys.executable, "-c", CLI, "demo",
        "--data-dir", str(data_dir),
        "--spec", str(demo_inputs.spec),
        "--contacts-file", str(demo_inputs.contacts),
        "--time-scale", "0.005",
    ]  # fmt: skip
    log_path = data_dir / "first-run.log"
    with log_path.open("wb") as log:
        # Started with SIGINT ignored, as a shell without job control (a script, CI) starts a
        # background command: the demo must still stop on Ctrl-C (it ran on to exit 0 before).
        first = subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    try:
        children = _wait_for_calls(first, data_dir / LOCK_NAME, demo_database)
        assert len(children) == 5, log_path.read_text()
        _assert_console_shows_the_campaign(log_path.read_text())

        os.killpg(first.pid, signal.SIGINT)  # what a terminal's Ctrl-C does to the demo's group

        assert first.wait(60) == 130, log_path.read_text()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
    assert not (data_dir / LOCK_NAME).exists()
    assert not any(psutil.pid_exists(pid) for pid in children)
    with psycopg.connect(demo_database) as conn:
        states = conn.execute("SELECT state FROM campaigns").fetchall()
    assert states == [("paused",)]

    settings = load_settings(database_url=demo_database, redis_url=demo_redis)
    report, _ = run_demo(demo_inputs.options(data_dir), settings, Console(file=io.StringIO()))
    assert report.ended in ("completed", "settled")
    assert_report_matches_database(report, demo_database)


def test_a_process_that_dies_mid_run_is_named_and_everything_else_stops(
    demo_inputs: DemoInputs, demo_database: str, demo_redis: str, data_dir: Path
) -> None:
    lock = data_dir / LOCK_NAME
    victims: list[int] = []

    def kill_worker2() -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            record = json.loads(lock.read_text() or "{}") if lock.exists() else {}
            pids = {c["name"]: c["pid"] for c in record.get("children", [])}
            if "dispatcher" in pids:
                time.sleep(2)  # let calls flow
                victims.append(pids["worker2"])
                os.kill(pids["worker2"], signal.SIGKILL)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_worker2)
    killer.start()
    settings = load_settings(database_url=demo_database, redis_url=demo_redis)
    with pytest.raises(ServiceUnavailable, match=r"worker2 \(pid \d+\) exited with code -9"):
        run_demo(demo_inputs.options(data_dir), settings, Console(file=io.StringIO()))
    killer.join()

    assert victims
    assert not lock.exists()
    assert _campaign_processes() == []
    with psycopg.connect(demo_database) as conn:
        assert conn.execute("SELECT state, paused_reason FROM campaigns").fetchall() == [
            ("paused", "demo ended (worker2 died)")
        ]
