"""`campaign scale-advice`: how many workers the running campaigns' configured rates need.

Reads live figures (the Celery dial backlog in Redis; dial-out latency and the running campaigns'
cps in PostgreSQL), sizes threads with Little's law (campaign.domain.capacity) and prints what an
operator pastes: worker command lines, `docker-compose --scale`, `kubectl scale`, KEDA fields.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

import typer

from campaign.clock import utcnow
from campaign.domain.capacity import MIN_CONCURRENCY, Advice, Sizing, advise
from campaign.errors import InvalidInput
from campaign.runtime import Runtime
from campaign.services.capacity import LiveFigures, observe
from campaign.settings import get_settings

# With no dial-out accepted in the window there is nothing to measure: a typical SAVG answer time.
ASSUMED_LATENCY_S = 0.25


def _commands(advice: Advice, namespace: str) -> list[str]:
    workers, threads = advice.workers, advice.per_worker
    commands = [f"campaign worker --concurrency {threads}   # x{workers}, one per host or pod"]
    if threads > MIN_CONCURRENCY:
        commands.append(
            f"campaign worker --autoscale {threads},{MIN_CONCURRENCY}"
            f"   # x{workers}, or threads on demand"
        )
    return [
        *commands,
        f"docker-compose up -d --scale worker={workers}"
        f"   # worker command: --concurrency {threads}",
        f"kubectl -n {namespace} scale deployment/campaign-worker --replicas={workers}"
        "   # only without an autoscaler",
    ]


def _report(
    figures: LiveFigures, advice: Advice, latency_s: float, source: str, namespace: str
) -> dict[str, Any]:
    lat = figures.latency
    return {
        "queue": figures.queue,
        "queue_depth": figures.queue_depth,
        "backlog_s": advice.backlog_s(figures.queue_depth),
        "latency": {
            "p50_ms": None if lat.p50_s is None else round(lat.p50_s * 1000, 1),
            "p95_ms": None if lat.p95_s is None else round(lat.p95_s * 1000, 1),
            "samples": lat.samples,
            "window_s": figures.window.total_seconds(),
            "sized_on_ms": round(latency_s * 1000, 1),
            "source": source,
        },
        "campaigns": [{"id": r.campaign_id, "cps": r.cps, "trunk": r.trunk} for r in figures.rates],
        "configured_cps": sum(r.cps for r in figures.rates),
        "dial_rate": advice.dial_rate,
        "hold_s": advice.hold_s,
        "busy_threads": round(advice.busy_threads, 2),
        "concurrency": advice.concurrency,
        "workers": advice.workers,
        "per_worker": advice.per_worker,
        "keda": {"minReplicaCount": advice.workers, "listLength": advice.keda_list_length},
        "commands": _commands(advice, namespace),
    }


def _render(report: dict[str, Any], headroom: float) -> str:
    lat = report["latency"]
    window_min = lat["window_s"] / 60
    measured = (
        f"p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms ({lat['samples']} dial-outs)"
        if lat["samples"]
        else "no dial-out accepted"
    )
    backlog = report["backlog_s"]
    lines = [
        f"Running campaigns: {len(report['campaigns'])}, configured {report['configured_cps']:g}"
        f" dial-outs/s (after trunk caps: {report['dial_rate']:g}/s)",
        f"Dial queue {report['queue']}: {report['queue_depth']} waiting"
        + ("" if backlog is None else f" ({backlog:.1f} s of dialing)"),
        f"Dial-out latency, last {window_min:g} min: {measured};"
        f" sized on {lat['sized_on_ms']} ms ({lat['source']})",
        f"Threads: {report['dial_rate']:g}/s x {report['hold_s']:.3f} s held + pacing waits"
        f" = {report['busy_threads']} busy; x {headroom:g} headroom = {report['concurrency']}",
        "",
        f"Run {report['workers']} worker(s) of {report['per_worker']} threads:",
        *(f"  {command}" for command in report["commands"]),
        f"  KEDA (keda overlay): minReplicaCount: {report['keda']['minReplicaCount']};"
        f' dial-backlog listLength: "{report["keda"]["listLength"]}"',
    ]
    return "\n".join(lines)


def scale_advice(
    window: Annotated[float, typer.Option(help="minutes of dial-outs to measure latency over")] = 5,
    threads_per_worker: Annotated[
        int, typer.Option(help="most threads in one worker process (its --concurrency)")
    ] = 16,
    headroom: Annotated[float, typer.Option(help="threads provisioned per thread busy")] = 1.5,
    overhead_ms: Annotated[
        float, typer.Option(help="database time per dial besides the POST")
    ] = 20,
    latency_ms: Annotated[
        float | None, typer.Option(help="size on this p95 latency instead of the measured one")
    ] = None,
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace in the commands")] = (
        "campaign"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Print how many workers and threads the running campaigns' configured rates need."""
    from schedules.dispatcher import DEFAULT_HORIZON_S

    settings = get_settings()
    if settings.database_url is None or settings.redis_url is None:
        raise InvalidInput("scale-advice reads live figures: set DATABASE_URL and REDIS_URL")
    if window <= 0:
        raise InvalidInput(f"--window: must be more than 0 minutes, got {window:g}")
    runtime = Runtime(settings, pool_size=1)
    try:
        figures = observe(runtime, utcnow(), timedelta(minutes=window))
    finally:
        runtime.close()
    if latency_ms is not None:
        latency_s, source = latency_ms / 1000, "given"
    elif figures.latency.p95_s is not None:
        latency_s, source = figures.latency.p95_s, "measured p95"
    else:
        latency_s, source = ASSUMED_LATENCY_S, "assumed: nothing measured"
    try:
        sizing = Sizing(
            latency_s=latency_s,
            overhead_s=overhead_ms / 1000,
            max_wait_s=settings.pacing_max_wait_s,
            headroom=headroom,
            per_worker=threads_per_worker,
            trunk_cps=settings.trunk_cps,
            horizon_s=DEFAULT_HORIZON_S,
        )
    except ValueError as exc:
        raise InvalidInput(f"scale-advice: {exc}") from exc
    report = _report(figures, advise(figures.rates, sizing), latency_s, source, namespace)
    typer.echo(json.dumps(report) if as_json else _render(report, headroom))


def register(app: typer.Typer) -> None:
    """Add `scale-advice` to the root `campaign` app."""
    app.command("scale-advice", help=scale_advice.__doc__)(scale_advice)
