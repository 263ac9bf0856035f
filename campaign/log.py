"""Logging for every process: one line per record, with the campaign and attempt it concerns.

Every line goes through `redact` (URL passwords, `/notify/<token>` in uvicorn's access log).
`bound(campaign_id=…, attempt_id=…)` puts ids in a context variable for the block it wraps (a
task, a request); a filter copies them onto every record logged inside, so a log shipper can find
every line about one attempt across the API, the workers and the dispatcher. LOG_FORMAT=json
writes one JSON object per line for shippers; the default is plain text for people.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Literal

from campaign.redact import RedactingFilter

LogFormat = Literal["text", "json"]

_context: contextvars.ContextVar[dict[str, object]] = contextvars.ContextVar("log_context")
_TEXT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Add `ids` (None values are skipped) to every record logged inside the block."""
    token = _context.set({**_context.get({}), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**ids: object) -> None:
    """Add ids to the current block's context (learnt on the way, e.g. the campaign of an
    attempt); they end with the enclosing `bound` block."""
    _context.get({}).update({k: v for k, v in ids.items() if v is not None})


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ids = _context.get({})
        record.ids = ids
        record.context = "".join(f" {k}={v}" for k, v in ids.items())
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "ids", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(fmt: LogFormat = "text", level: int = logging.INFO) -> None:
    """Set up the root logger of a process (idempotent: a second call replaces the handler)."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())  # URL passwords and notify tokens never reach a line
    handler.addFilter(_ContextFilter())
    handler.setFormatter(_JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_campaign", False)]:
        root.removeHandler(old)
    handler._campaign = True  # type: ignore[attr-defined]  # marks our handler for replacement
    root.addHandler(handler)
    root.setLevel(level)
    # A line per dial-out or task costs CPU on the hot path and says nothing our own records do
    # not: httpx's per-request lines, Celery's "received"/"succeeded" per task. At DEBUG they show.
    for chatty in ("httpx", "celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
