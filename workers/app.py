"""The Celery app of the worker process (`campaign worker` / `celery -A workers.app worker`)."""

from __future__ import annotations

from workers.runtime import runtime

app = runtime().celery
app.conf.include = ["workers.dial", "workers.notifications", "workers.events", "workers.signals"]
