"""Small, fast demo inputs made by the shipped generator, and a database of the demo's own.

The demo's dispatcher claims every running campaign of its database, so its tests never share
the session's database with other tests' campaigns.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from campaign.demo import EXAMPLES
from campaign.demo.run import DemoOptions
from tests.support import services

ROWS = 150  # good rows; the generator adds 9 bad rows and 2 duplicates
FAST_RETRY = {
    "max_attempts": 4,
    "outcomes": {
        "busy": {"delays": ["1s", "2s"]},
        "no_answer": {"delays": ["1s", "2s"]},
        "rejected": {"delays": ["1s"], "max": 2},
        "unavailable": {"delays": ["1s"]},
        "gateway_error": {"delays": ["1s"]},
        "lost": {"delays": ["1s"]},
    },
}


@dataclass(frozen=True)
class DemoInputs:
    """Files for a demo that takes seconds: the generator's output and a spec with 1-2 s delays."""

    spec: Path
    contacts: Path
    dnc: Path
    sim_config: Path

    def options(self, data_dir: Path, **changes: object) -> DemoOptions:
        base = {
            "data_dir": data_dir,
            "spec": self.spec,
            "contacts_file": self.contacts,
            "dnc_file": self.dnc,
            "sim_config": self.sim_config,
            "time_scale": 0.005,
            "settle_horizon_s": 5.0,
            "timeout_s": 150.0,
            "worker_concurrency": 4,  # a shared PostgreSQL has connections for everyone
        }
        return DemoOptions(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def demo_inputs(tmp_path_factory: pytest.TempPathFactory) -> DemoInputs:
    out = tmp_path_factory.mktemp("demo-inputs")
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "make_demo_contacts.py"),
            "--rows",
            str(ROWS),
            "--out",
            str(out),
        ],
        check=True,
    )
    spec = yaml.safe_load((EXAMPLES / "demo-campaign.yaml").read_text())
    spec["retry"] = FAST_RETRY
    spec["pacing"] = {**spec["pacing"], "cps": 40, "max_live_calls": 40}
    (out / "spec.yaml").write_text(yaml.safe_dump(spec))
    return DemoInputs(
        spec=out / "spec.yaml",
        contacts=out / "demo-contacts.csv",
        dnc=out / "demo-dnc.csv",
        sim_config=out / "demo-simulator.json",
    )


@pytest.fixture
def demo_database(servers: tuple[str, str]) -> Iterator[str]:
    """A database of this test's own on the machine's (or the session's) PostgreSQL."""
    admin = servers[0]
    try:
        url = services.create_database(admin)
    except Exception as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield url
    finally:
        services.drop_database(admin, url)


@pytest.fixture
def demo_redis(servers: tuple[str, str]) -> str:
    """A Redis db number from 8-15 (the demo's queue prefix is unique per run as well)."""
    return services.with_redis_db(servers[1], 8 + secrets.randbelow(8))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder outside pytest's basetemp: embedded PostgreSQL runs as its own system user,
    and pytest re-restricts /tmp/pytest-of-<user> to 0700 whenever a session starts."""
    path = Path(tempfile.mkdtemp(prefix="campaign-demo-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
