"""Where a process spends its CPU, from py-spy samples: by library, engine step and thread.

py-spy samples a running process from outside (no code change, little overhead); with `--gil`
only the thread holding the GIL is recorded, so a sample is Python really running (waiting on the
network or the database releases the GIL and does not count), and samples per second of
recording say how busy the process's one Python core was. Each sample is charged three times: to
the library of its innermost frame (is it SQLAlchemy, psycopg, Celery, our own code?), to the
innermost frame of the engine's own code (`campaign/`, `workers/`, `schedules/`), which says
which step of ours the library work is done for, and to its thread (a worker's dial tasks run in
Celery's pool threads, its drains in their own, Celery's own consumer loop in the main thread).
py-spy is optional: without it the section says so and the figures are unaffected.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
RATE_HZ = 100
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")
_OURS = ("campaign/", "workers/", "schedules/")
_THREAD = re.compile(r"^thread \(\d+\): (?P<name>.*?)[\d_-]*$")


def available() -> bool:
    """py-spy is installed beside this interpreter (it is optional)."""
    return PY_SPY.exists()


class Spy:
    """`py-spy record` of one pid for `seconds`, started now, read with `summary()`."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self._out = out
        self._proc = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "-p",
                str(pid),
                "-d",
                str(max(1, round(seconds))),
                "-r",
                str(RATE_HZ),
                "-f",
                "raw",
                "-o",
                str(out),
                "--nonblocking",
                "--gil",
                "--threads",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def summary(self, top: int = 10) -> str:
        """Wait for the recording, then the two rankings as text."""
        _, err = self._proc.communicate(timeout=120)
        if self._proc.returncode != 0 or not self._out.exists():
            return f"py-spy failed: {err.decode(errors='replace')[-300:]}"
        return summarize(self._out.read_text(), top)


def _package(path: str) -> str:
    parts = path.split("/")
    if parts[0] in ("campaign", "workers", "schedules"):
        return "/".join(parts[:2]).removesuffix(".py")
    return parts[0].removesuffix(".py")


def summarize(raw: str, top: int = 10) -> str:
    """Rank py-spy's raw (collapsed) stacks by library and by engine function."""
    by_library: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    by_thread: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        parts = stack.split(";")
        frames = [m for m in (_FRAME.match(f) for f in parts) if m]
        if not frames:
            continue
        total += count
        thread = _THREAD.match(parts[0])
        by_thread[thread["name"] if thread else "(unnamed)"] += count
        by_library[_package(frames[-1]["file"])] += count
        ours = [f for f in frames if f["file"].startswith(_OURS)]
        step = f"{ours[-1]['func']} ({ours[-1]['file']})" if ours else "(outside engine code)"
        by_step[step] += count
    if not total:
        return "no samples (the process was idle)"
    lines = [f"{total} samples holding the GIL at {RATE_HZ} Hz", "by library (innermost frame):"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in by_library.most_common(top)]
    lines.append("by engine step (innermost frame of campaign/, workers/, schedules/):")
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in by_step.most_common(top)]
    lines.append("by thread (numbers dropped: a worker's pool, drain and consumer threads):")
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in by_thread.most_common(top)]
    return "\n".join(lines)
