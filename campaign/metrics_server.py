"""Prometheus endpoint for processes without an HTTP app of their own (worker, dispatcher)."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from campaign.settings import Settings

log = logging.getLogger(__name__)


def serve_metrics(settings: Settings) -> None:
    """Serve /metrics on METRICS_PORT (0 or unset: off); a port in use is logged, not fatal."""
    if not settings.metrics_port:
        return
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    except OSError as exc:
        log.warning("metrics endpoint not started on port %s: %s", settings.metrics_port, exc)
