"""Every CLI failure is one line on stderr with a non-zero exit, whatever went wrong."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.services import free_port


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campaign", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("upload",), 2, "error: campaign upload: Missing argument 'ID'."),
        (("status", "1", "--bogus"), 2, "error: campaign status: No such option: --bogus"),
        (("health", "scheduler"), 1, "error: health: 'scheduler' is not worker or dispatcher"),
    ],
)
def test_usage_errors_are_one_line(args: tuple[str, ...], code: int, message: str) -> None:
    done = _run(*args, REDIS_URL="redis://127.0.0.1:6379/0")
    assert done.returncode == code
    assert done.stderr.strip().splitlines() == [message]


def test_unreachable_database_is_one_line() -> None:
    done = _run("status", "1", DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert "refused" in line


def test_unmigrated_database_says_what_to_run(database_url: str) -> None:
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    done = _run("status", "1", DATABASE_URL=admin)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        'error: database: relation "campaigns" does not exist (run `campaign db upgrade`?)'
    ]
