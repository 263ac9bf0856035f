"""`campaign demo` end to end: servers, processes, a campaign from `examples/`, progress, report.

The order matters for a clean exit: the data folder's lock is taken first (two demos never share
a folder), then the servers, then the processes; teardown runs the other way round, in `finally`
blocks, and ignores a second Ctrl-C while it runs, so an interrupted demo still leaves no process
behind (embedded servers stay up only when asked to with `keep_servers`).

The campaign is created, uploaded and started through the operator services (the same code as
`campaign create/upload/start`). The demo ends when the campaign completes, or when it has
*settled*: nothing in flight and nothing due within `settle_horizon_s` (what is left waits for
its calling window). On every way out (Ctrl-C and a dead process included) a campaign that did
not complete is paused, so it never dials once the demo has gone.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from campaign.clock import utcnow
from campaign.db.migrate import upgrade
from campaign.demo import EXAMPLES
from campaign.demo import campaign_steps as steps
from campaign.demo.inputs import contacts_stream, spec_document
from campaign.demo.memory import MemoryPeak
from campaign.demo.progress import ProgressView
from campaign.demo.report import DemoReport, collect, upload_summary
from campaign.demo.servers import Servers, start_servers
from campaign.demo.stack import (
    StackConfig,
    StackUrls,
    demo_settings,
    operator_key,
    start_stack,
)
from campaign.demo.supervisor import Supervisor
from campaign.domain.states import CampaignState
from campaign.errors import ServiceUnavailable
from campaign.runtime import Runtime
from campaign.services.reporting import CampaignStatus
from campaign.services.upload_report import UploadReport
from campaign.settings import Settings
from campaign.simulator.control import SimControl


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
    worker_concurrency: int = 16  # threads per worker (each may hold a database connection)


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


@dataclass(frozen=True)
class _Prepared:
    campaign_id: int
    spec: dict[str, Any]
    upload: UploadReport
    dnc_listed: int


@dataclass(frozen=True)
class _Run:
    """How the run went, besides what the database knows."""

    ended: str
    waiting: dict[str, int]  # why contacts waited when the demo ended (before the pause)
    duration_s: float
    servers: str
    export_path: Path
    export_rows: int
    memory: MemoryPeak


class _Demo:
    """One run's handles: the supervisor, the servers, this process's database/Redis runtime."""

    def __init__(self, options: DemoOptions, sup: Supervisor, servers: Servers) -> None:
        self.options = options
        self.sup = sup
        self.servers = servers
        self.settings = demo_settings(servers.settings)
        self.runtime = Runtime(self.settings, pool_size=2)
        self.memory = MemoryPeak()
        self.campaign_id: int | None = None
        self.ended = "stopped early"

    def measure(self, force_pss: bool = False) -> None:
        """Sample the stack's memory; the demo's own root goes last (its descendants are
        counted under their own names first)."""
        roots = {name: child.pid for name, child in self.sup.children.items()}
        roots |= {name: server.pid for name, server in self.servers.started.items()}
        self.memory.sample(roots | {"demo": os.getpid()}, force_pss=force_pss)

    def prepare(self) -> _Prepared:
        """Create the campaign, list the do-not-call numbers, upload the contacts, start it."""
        options, runtime = self.options, self.runtime
        document = spec_document(
            options.spec, now=utcnow(), cps=options.cps, max_live_calls=options.max_live_calls
        )
        view = steps.create(runtime, document)
        self.campaign_id = view.id  # from here on, every way out pauses it
        listed = 0 if options.dnc_file is None else steps.list_dnc(runtime, options.dnc_file)
        upload = steps.upload_and_start(
            runtime,
            view.id,
            contacts_stream(options.contacts_file, options.contacts),
            name=options.contacts_file.name,
        )
        return _Prepared(view.id, view.spec, upload, listed)

    def watch(self, prepared: _Prepared, console: Console) -> CampaignStatus:
        """Show progress until the campaign completes or settles (sets `ended`); the last status
        seen while it ran. Raises ServiceUnavailable if a process dies."""
        pacing = prepared.spec["pacing"]
        total = prepared.upload.accepted + prepared.upload.suppressed
        horizon = timedelta(seconds=self.options.settle_horizon_s)
        deadline = time.monotonic() + self.options.timeout_s
        with ProgressView(console, total, pacing["cps"], pacing["max_live_calls"]) as view:
            while True:
                dead = self.sup.casualty()
                if dead is not None:
                    self.ended = f"{dead.name} died"
                    raise ServiceUnavailable(
                        f"{dead.name} (pid {dead.pid}) exited with code {dead.exit_code()}; "
                        f"the demo stopped. Its log ({dead.log_path}) ends:\n{dead.tail()}"
                    )
                status = steps.status(self.runtime, prepared.campaign_id)
                view.update(status)
                self.measure()
                if status.state == CampaignState.COMPLETED.value:
                    self.ended = "completed"
                elif steps.settled(self.runtime, prepared.campaign_id, horizon):
                    self.ended = "settled"
                elif time.monotonic() > deadline:
                    self.ended = "timed out"
                else:
                    time.sleep(0.5)
                    continue
                return status

    def pause(self) -> None:
        """Pause the campaign if it still runs, so it never dials once the demo is gone."""
        if self.campaign_id is not None:
            steps.pause_if_running(self.runtime, self.campaign_id, f"demo ended ({self.ended})")

    def report(self, urls: StackUrls, prepared: _Prepared, run: _Run) -> DemoReport:
        """Measure the finished campaign (from PostgreSQL) and the gateway's own view of it."""
        status = steps.status(self.runtime, prepared.campaign_id)
        with self.runtime.sessions() as session:
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

    def run(self, console: Console, began: float) -> DemoReport:
        """Migrate, start the processes, run the campaign, report; pause the campaign on any
        way out."""
        upgrade(self.settings.sqlalchemy_url)
        stack = StackConfig(
            time_scale=self.options.time_scale,
            sim_config_file=self.options.sim_config,
            workers=self.options.workers,
            worker_concurrency=self.options.worker_concurrency,
        )
        urls = start_stack(self.sup, self.settings, stack)
        console.print(
            f"[bold]console[/]       {urls.api}/\n"
            f"[bold]operator key[/]  {operator_key(self.settings)}"
            "  (sign in with it on the console; both last as long as the demo)",
            soft_wrap=True,
        )
        try:
            prepared = self.prepare()
            last = self.watch(prepared, console)
            self.measure(force_pss=True)
            self.pause()
            export_path, rows = steps.export(
                self.runtime, self.options.data_dir, prepared.campaign_id
            )
            run = _Run(
                ended=self.ended,
                waiting=last.waiting,
                duration_s=round(time.monotonic() - began, 1),
                servers=self.servers.label,
                export_path=export_path,
                export_rows=rows,
                memory=self.memory,
            )
            return self.report(urls, prepared, run)
        finally:
            with _shielded():
                self.pause()
                self.runtime.close()


def run_demo(options: DemoOptions, base: Settings, console: Console) -> tuple[DemoReport, Settings]:
    """Run the whole demo; returns the report and the settings the stack used (its URLs).

    Raises ServiceUnavailable when a server or process fails to start or dies mid-run. Whatever
    happens (Ctrl-C included), the demo's campaign is left paused unless it completed, and every
    process is stopped before this returns or raises.
    """
    began = time.monotonic()
    options.data_dir.mkdir(parents=True, exist_ok=True)
    with Supervisor(options.data_dir) as sup:
        servers = start_servers(base, options.data_dir)
        try:
            report = _Demo(options, sup, servers).run(console, began)
        finally:
            with _shielded():
                sup.stop()
                if not options.keep_servers:
                    servers.stop()
    return report, servers.settings
