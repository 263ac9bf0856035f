"""`campaign api|worker|dispatcher|simulator|health`: run one process of the system.

Each reads the same environment (campaign.settings) and fails with one line when a variable it
needs is missing; signals end them gracefully (the worker warm-shuts down, the dispatcher finishes
its tick, the API drains).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from typing import Annotated

import typer

from campaign import log
from campaign.errors import InvalidInput
from campaign.settings import Settings, get_settings


def _settings(*needed: str) -> Settings:
    settings = get_settings()
    for name in needed:
        if getattr(settings, name) is None:
            raise InvalidInput(
                f"{name.upper()} is not set (or run `campaign demo` for embedded servers)"
            )
    return settings


def _logging() -> None:
    log.configure(get_settings().log_format)


def _exit_0(*_: object) -> None:
    raise SystemExit(0)


def api(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[
        int, typer.Option(min=1, help="uvicorn worker processes (one per core takes more load)")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="a line per request (off: it costs CPU per notification)")
    ] = False,
) -> None:
    """Run the HTTP API and notification receiver (uvicorn)."""
    import uvicorn

    from campaign.metrics import serve_metrics

    _logging()
    settings = _settings("database_url", "redis_url")
    if workers > 1:
        # Each worker process counts on its own; the metrics port sums them (prometheus_client's
        # multiprocess mode, a folder the workers write to, named before they start).
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="campaign-prom-"))
    serve_metrics(settings, multiprocess=workers > 1)
    # uvicorn drains on SIGTERM, then re-raises it to the handler found at start: exiting 0 from
    # there makes a drained API a clean stop (not 143), like the worker and the dispatcher.
    signal.signal(signal.SIGTERM, _exit_0)
    uvicorn.run(
        "campaign.api.app:from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        # Named, not "auto": a missing one fails the start instead of costing a quarter more
        # CPU per notification unnoticed (both are dependencies; BENCHMARKS.md, hot path).
        http="httptools",
        loop="uvloop",
        timeout_graceful_shutdown=20,
        log_config=None,  # uvicorn's loggers go through ours (LOG_FORMAT, tokens masked)
    )


def _pool_option(args: list[str]) -> str | None:
    """The value of Celery's `--pool`/`-P` among `args`, None when absent."""
    for i, arg in enumerate(args):
        if arg in ("--pool", "-P"):
            return args[i + 1] if i + 1 < len(args) else ""
        if arg.startswith("--pool="):
            return arg.removeprefix("--pool=")
        if arg.startswith("-P"):
            return arg.removeprefix("-P").lstrip("=")
    return None


def worker(ctx: typer.Context) -> None:
    """Run a Celery worker; Celery options pass through (--concurrency, --autoscale, -Q).

    Threads by default (dial tasks wait on I/O); `--autoscale MAX,MIN` without `--pool` runs
    threads that grow and shrink (workers.pool). A worker of the notify queue (the default `-Q`
    names all three) also applies stored notifications on drain threads of its own
    (workers.drainers), so decisions never wait behind dial tasks.
    """
    settings = _settings("database_url", "redis_url")
    from workers.app import app as celery_app

    extra = list(ctx.args)
    pool = _pool_option(extra)
    autoscale = any(a.startswith("--autoscale") for a in extra)
    options = []
    if pool is None and autoscale:
        # Celery's threads pool cannot grow (its autoscaler crashes, celery#5333); ours can. Set
        # through the config because `--pool` accepts only Celery's own pool names.
        celery_app.conf.worker_pool = "workers.pool:ScalingThreadPool"
    elif pool is None:
        options = ["--pool", "threads"]
    elif autoscale and pool == "threads":
        raise InvalidInput(
            "--autoscale: Celery's threads pool cannot autoscale; drop --pool (threads that can)"
        )
    if not any(a.startswith(("--concurrency", "-c", "--autoscale")) for a in extra):
        options += ["--concurrency", "16"]
    if not any(a.startswith(("-Q", "--queues")) for a in extra):
        queues = (settings.queue(name) for name in ("dial", "notify", "events"))
        options += ["-Q", ",".join(queues)]
    argv = [
        "worker",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        *options,
        *extra,
    ]
    celery_app.worker_main(argv)


def dispatcher(
    tick: Annotated[
        float, typer.Option(help="seconds between claims (idle ticks back off to 1 s)")
    ] = 0.2,
    sweep: Annotated[float, typer.Option(help="seconds between sweeps")] = 2.0,
) -> None:
    """Run a dispatcher: claims due contacts, sweeps, starts recurring runs; any number may run."""
    from campaign.metrics import serve_metrics
    from campaign.runtime import Runtime
    from schedules.runner import run

    _logging()
    settings = _settings("database_url", "redis_url")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve_metrics(settings)
    runtime = Runtime(settings, pool_size=4)
    try:
        run(runtime, stop, tick_interval_s=tick, sweep_interval_s=sweep)
    finally:
        runtime.close()


def simulator(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port)")] = 8090,
    config: Annotated[str | None, typer.Option(help="JSON file with a (partial) SimConfig")] = None,
    time_scale: Annotated[
        float | None, typer.Option(help="wall seconds per simulated second")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed for outcomes and faults")] = None,
) -> None:
    """Run the SAVG gateway simulator (for tests, the demo and benchmarks; never for real calls)."""
    from campaign.simulator.__main__ import main as simulator_main

    argv = ["--host", host, "--port", str(port)]
    for flag, value in (("--config", config), ("--time-scale", time_scale), ("--seed", seed)):
        if value is not None:
            argv += [flag, str(value)]
    simulator_main(argv)


def health(kind: Annotated[str, typer.Argument(help="worker or dispatcher")]) -> None:
    """Exit 0 when a `kind` process on this host beat recently (for container exec probes)."""
    import redis

    from campaign.heartbeat import alive

    if kind not in ("worker", "dispatcher"):
        raise InvalidInput(f"health: {kind!r} is not worker or dispatcher")
    settings = _settings("redis_url")
    client = redis.Redis.from_url(settings.redis_url or "", socket_timeout=3)
    if not alive(client, settings.queue_prefix, kind):
        sys.stderr.write(f"{kind}: no heartbeat on this host\n")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the process commands to the root `campaign` app."""
    app.command(help=api.__doc__)(api)
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help=worker.__doc__,
    )(worker)
    app.command(help=dispatcher.__doc__)(dispatcher)
    app.command(help=simulator.__doc__)(simulator)
    app.command(help=health.__doc__)(health)
