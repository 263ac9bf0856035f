"""`campaign demo` end to end: servers, processes, a campaign from `examples/`, progress, report.

The order matters for a clean exit: the data folder's lock is taken first (two demos never share
a folder), then the servers, then the processes; teardown runs the other way round, in `finally`
blocks, and ignores a second Ctrl-C while it runs, so an interrupted demo still leaves no process
behind (embedded servers stay up only when asked to with `keep_servers`).

The campaign is created, uploaded and started through the operator services (the same code as
`campaign create/upload/start`). The demo ends when the campaign completes, or when it has
*settled*: nothing in flight and nothing due within `settle_horizon_s` (what is left waits for
its calling window). A settled campaign is paused, so it never dials after the demo has gone.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml
from rich.console import Console
from sqlalchemy import and_, func, or_, select

from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.migrate import upgrade
from campaign.db.tables import ContactRow
from campaign.demo.memory import MemoryPeak
from campaign.demo.progress import ProgressView
from campaign.demo.report import DemoReport, collect, upload_summary
from campaign.demo.stack import StackConfig, StackUrls, demo_settings, start_stack
from campaign.demo.supervisor import Supervisor
from campaign.domain.states import CampaignState, ContactState
from campaign.embedded import start_postgres, start_redis
from campaign.errors import ServiceUnavailable
from campaign.runtime import Runtime
from campaign.services import lifecycle
from campaign.services.campaigns import create_campaign
from campaign.services.dnc_admin import import_numbers
from campaign.services.reporting import CampaignStatus, campaign_status, write_export
from campaign.services.uploads import UploadReport, import_contacts
from campaign.settings import Settings
from campaign.simulator.control import SimControl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class DemoOptions:
    """The demo's knobs (see `campaign demo --help`)."""

    data_dir: Path
    contacts: int | None = None
    cps: float | None = None
    max_live_calls: int | None = None
    time_scale: float = 0.01
    keep_servers: bool = False
    timeout_s: float = 300.0
    settle_horizon_s: float = 30.0
    spec: Path = EXAMPLES / "demo-campaign.yaml"
    contacts_file: Path = EXAMPLES / "demo-contacts.csv"
    dnc_file: Path | None = EXAMPLES / "demo-dnc.csv"
    sim_config: Path = EXAMPLES / "demo-simulator.json"
    workers: int = 2


class _Server(Protocol):
    pid: int

    def stop(self) -> None: ...


@dataclass
class _Servers:
    """The embedded servers this run started or found (none when both URLs were given)."""

    settings: Settings
    started: dict[str, _Server] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.started:
            return "external (DATABASE_URL, REDIS_URL)"
        embedded = " + ".join(self.started)
        return f"embedded {embedded}" + ("" if len(self.started) == 2 else ", the rest external")

    def stop(self) -> None:
        for server in reversed(self.started.values()):
            server.stop()


def _start_servers(base: Settings, data_dir: Path) -> _Servers:
    """Embedded servers for whichever of DATABASE_URL/REDIS_URL is unset."""
    servers = _Servers(base)
    try:
        if base.database_url is None:
            postgres = start_postgres(data_dir / "postgres")
            servers.started["PostgreSQL"] = postgres
            servers.settings = servers.settings.model_copy(update={"database_url": postgres.url})
        if base.redis_url is None:
            redis_server = start_redis(data_dir / "redis")
            servers.started["Redis"] = redis_server
            servers.settings = servers.settings.model_copy(update={"redis_url": redis_server.url})
    except BaseException:
        servers.stop()
        raise
    return servers


@contextmanager
def _shielded() -> Iterator[None]:
    """Ignore Ctrl-C/SIGTERM while tearing down, so a second Ctrl-C cannot strand processes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _contacts_stream(path: Path, limit: int | None) -> io.BytesIO:
    """The contacts file, or its header and first `limit` records."""
    data = path.read_bytes()
    if limit is None:
        return io.BytesIO(data)
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, record in enumerate(reader):
        if index > limit:
            break
        writer.writerow(record)
    return io.BytesIO(out.getvalue().encode())


def _spec(options: DemoOptions) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(options.spec.read_text(encoding="utf-8"))
    document["name"] = f"{document.get('name', 'demo')}-{utcnow():%Y%m%d-%H%M%S}"
    pacing = dict(document.get("pacing") or {})
    if options.cps is not None:
        pacing["cps"] = options.cps
    if options.max_live_calls is not None:
        pacing["max_live_calls"] = options.max_live_calls
    document["pacing"] = pacing
    return document


@dataclass(frozen=True)
class _Prepared:
    campaign_id: int
    spec: dict[str, Any]
    upload: UploadReport
    dnc_listed: int


def _prepare(runtime: Runtime, options: DemoOptions) -> _Prepared:
    """Create the campaign, list the do-not-call numbers, upload the contacts, start it."""
    with transaction(runtime.sessions) as session:
        view = create_campaign(session, _spec(options))
    listed = 0
    if options.dnc_file is not None:
        with transaction(runtime.sessions) as session, options.dnc_file.open("rb") as fh:
            listed = import_numbers(session, fh, now=utcnow(), name=options.dnc_file.name).added
    with transaction(runtime.sessions) as session:
        upload = import_contacts(
            session,
            view.id,
            _contacts_stream(options.contacts_file, options.contacts),
            now=utcnow(),
            name=options.contacts_file.name,
        )
    with transaction(runtime.sessions) as session:
        lifecycle.start(session, view.id, now=utcnow())
    return _Prepared(view.id, view.spec, upload, listed)


def _settled(runtime: Runtime, campaign_id: int, horizon: timedelta) -> bool:
    """Nothing in flight and nothing due before `horizon` from now."""
    due_by = utcnow() + horizon
    with runtime.sessions() as session:
        busy = session.scalar(
            select(func.count())
            .select_from(ContactRow)
            .where(
                ContactRow.campaign_id == campaign_id,
                or_(
                    ContactRow.state == ContactState.IN_FLIGHT.value,
                    and_(
                        ContactRow.state == ContactState.PENDING.value,
                        ContactRow.next_due_at <= due_by,
                    ),
                ),
            )
        )
    return not busy


def _status(runtime: Runtime, campaign_id: int) -> CampaignStatus:
    with runtime.sessions() as session:
        return campaign_status(session, campaign_id, utcnow())


def _watch(
    runtime: Runtime,
    sup: Supervisor,
    prepared: _Prepared,
    options: DemoOptions,
    console: Console,
    measure: Callable[[], None],
) -> tuple[str, CampaignStatus]:
    """Show progress until the campaign completes or settles (how it ended and the last status
    seen while running); raise if a process dies."""
    pacing = prepared.spec["pacing"]
    total = prepared.upload.accepted + prepared.upload.suppressed
    horizon = timedelta(seconds=options.settle_horizon_s)
    deadline = time.monotonic() + options.timeout_s
    with ProgressView(console, total, pacing["cps"], pacing["max_live_calls"]) as view:
        while True:
            dead = sup.casualty()
            if dead is not None:
                raise ServiceUnavailable(
                    f"{dead.name} (pid {dead.pid}) exited with code {dead.exit_code()}; "
                    f"stopping the demo. Its log ({dead.log_path}) ends:\n{dead.tail()}"
                )
            status = _status(runtime, prepared.campaign_id)
            view.update(status)
            measure()
            if status.state == CampaignState.COMPLETED.value:
                return "completed", status
            if _settled(runtime, prepared.campaign_id, horizon):
                return "settled", status
            if time.monotonic() > deadline:
                return "timed out", status
            time.sleep(0.5)


def _finish(runtime: Runtime, prepared: _Prepared, ended: str, export_path: Path) -> int:
    """Pause a campaign that did not complete, then write the export; returns its row count."""
    campaign_id = prepared.campaign_id
    with transaction(runtime.sessions) as session:
        if campaign_status(session, campaign_id, utcnow()).state == CampaignState.RUNNING.value:
            lifecycle.pause(session, campaign_id, reason=f"demo ended ({ended})")
    export_path.parent.mkdir(parents=True, exist_ok=True)
    with transaction(runtime.sessions) as session, export_path.open("w", newline="") as fh:
        return write_export(session, campaign_id, fh)


@dataclass(frozen=True)
class _Run:
    """How the run went, besides what the database knows."""

    ended: str
    waiting: dict[str, int]  # why contacts waited when the demo ended (before any pause)
    duration_s: float
    servers: str
    export_path: Path
    export_rows: int
    memory: MemoryPeak


def _report(runtime: Runtime, urls: StackUrls, prepared: _Prepared, run: _Run) -> DemoReport:
    status = _status(runtime, prepared.campaign_id)
    with runtime.sessions() as session:
        per_contact, retries, dial = collect(session, status, utcnow())
    with SimControl(urls.simulator) as sim:
        gateway = sim.stats()
    pacing = prepared.spec["pacing"]
    return DemoReport(
        campaign_id=status.id,
        campaign_state=status.state,
        ended=run.ended,
        duration_s=run.duration_s,
        servers=run.servers,
        contacts=status.contacts,
        waiting=run.waiting,
        outcomes=status.outcomes,
        attempts=status.attempts,
        attempts_per_contact=per_contact,
        retries=retries,
        upload=upload_summary(prepared.upload),
        dnc_listed=prepared.dnc_listed,
        cps_limit=float(pacing["cps"]),
        max_live_calls=int(pacing["max_live_calls"]),
        dial=dial,
        gateway={k: gateway.get(k) for k in ("calls", "max_cps_1s_window", "peak_concurrent")},
        export_path=run.export_path,
        export_rows=run.export_rows,
        memory_bytes=run.memory.total_bytes,
        memory_processes=run.memory.processes,
        memory_by_role=run.memory.by_role,
        memory_pss_bytes=run.memory.pss_bytes,
    )


def run_demo(options: DemoOptions, base: Settings, console: Console) -> tuple[DemoReport, Settings]:
    """Run the whole demo; returns the report and the settings the stack used (its URLs).

    Raises ServiceUnavailable when a server or process fails to start or dies mid-run; in every
    case (Ctrl-C included) the processes are stopped before this returns or raises.
    """
    began = time.monotonic()
    memory = MemoryPeak()
    options.data_dir.mkdir(parents=True, exist_ok=True)
    with Supervisor(options.data_dir) as sup:
        servers = _start_servers(base, options.data_dir)
        try:
            settings = demo_settings(servers.settings)
            upgrade(settings.sqlalchemy_url)
            stack = StackConfig(
                time_scale=options.time_scale,
                sim_config_file=options.sim_config,
                workers=options.workers,
            )
            urls = start_stack(sup, settings, stack)
            runtime = Runtime(settings, pool_size=2)
            try:

                def measure(force_pss: bool = False) -> None:
                    # The demo's own root goes last: its descendants are counted by name above.
                    roots = {name: child.pid for name, child in sup.children.items()}
                    roots |= {name: server.pid for name, server in servers.started.items()}
                    memory.sample(roots | {"demo": os.getpid()}, force_pss=force_pss)

                prepared = _prepare(runtime, options)
                ended, last = _watch(runtime, sup, prepared, options, console, measure)
                measure(force_pss=True)
                export_path = options.data_dir / "exports" / f"campaign-{prepared.campaign_id}.csv"
                rows = _finish(runtime, prepared, ended, export_path)
                run = _Run(
                    ended=ended,
                    waiting=last.waiting,
                    duration_s=round(time.monotonic() - began, 1),
                    servers=servers.label,
                    export_path=export_path.resolve(),
                    export_rows=rows,
                    memory=memory,
                )
                report = _report(runtime, urls, prepared, run)
            finally:
                runtime.close()
        finally:
            with _shielded():
                sup.stop()
                if not options.keep_servers:
                    servers.stop()
    return report, servers.settings
