"""Every Prometheus metric of the engine, declared once by name (dashboards depend on them), and
the /metrics endpoint every process serves on METRICS_PORT (never on the API's public port)."""

from __future__ import annotations

import logging

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

from campaign.settings import Settings

logger = logging.getLogger(__name__)

DIALOUTS = Counter("campaign_dialouts", "Dial-out task results", ["result"])
NOTIFICATIONS = Counter("campaign_notifications", "Notifications received", ["status"])
OUTCOMES = Counter("campaign_outcomes", "Attempt outcome classes", ["outcome"])
QUEUE_DEPTH = Gauge(
    "campaign_queue_depth",
    "Messages waiting in a Celery queue, or shares in the inbox's drains list",
    ["queue"],
)
LIVE_CALLS = Gauge("campaign_live_calls", "Calls dialed and not yet ended", ["campaign"])
GATEWAY_BREAKER = Gauge(
    "campaign_gateway_breaker_open", "1 while a gateway's breaker holds every dial", ["gateway"]
)
LIMITER_WAITS = Counter("campaign_limiter_waits", "Dials that had to wait for pacing", ["reason"])
DIALOUT_LATENCY = Histogram(
    "campaign_dialout_latency_seconds",
    "Dial-out POST latency",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TICK_SECONDS = Histogram(
    "campaign_dispatch_tick_seconds",
    "Dispatcher tick duration",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

EVENTS = Counter(
    "campaign_events", "Event sends to CRMs by result (delivered, failed, dead)", ["result"]
)
EVENTS_PENDING = Gauge("campaign_events_pending", "Events in the outbox not yet delivered")


def serve_metrics(settings: Settings, *, multiprocess: bool = False) -> None:
    """Serve /metrics on METRICS_PORT (0 or unset: off); a port in use is logged, not fatal.

    `multiprocess`: the counts live in worker processes of this one (`campaign api --workers`),
    which write them to PROMETHEUS_MULTIPROC_DIR; this endpoint sums them.
    """
    if not settings.metrics_port:
        return
    registry = REGISTRY
    if multiprocess:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        logger.warning("metrics endpoint not started on port %s: %s", settings.metrics_port, exc)
