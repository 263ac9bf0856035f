"""Every Prometheus metric of the engine, declared once by name (dashboards depend on them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DIALOUTS = Counter("campaign_dialouts", "Dial-out task results", ["result"])
NOTIFICATIONS = Counter("campaign_notifications", "Notifications received", ["status"])
OUTCOMES = Counter("campaign_outcomes", "Attempt outcome classes", ["outcome"])
QUEUE_DEPTH = Gauge("campaign_queue_depth", "Messages waiting in a Celery queue", ["queue"])
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
