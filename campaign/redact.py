"""Masking credentials before text is printed: URL passwords, and the tokens in request paths.

A `DATABASE_URL` or `REDIS_URL` carries its password, and a `/notify/<token>` path is the only
credential of a notification when no webhook secret is set (a `/disposition/<token>` path is
always the bot's only credential). Anything that prints such text (a
`repr` in a traceback, a log line, a one-line CLI error, an access log) goes through here, so a
log shipper or an error tracker never receives them.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

# `scheme://user:password@host`: the password runs to the last `@` before the host (a password
# may itself contain `@` or `:` when it was not percent-encoded).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)(?P<password>[^\s/]*)@")
_NOTIFY_TOKEN = re.compile(r"(/(?:notify|disposition)/)[^\s/?\"']+")


def mask_url_passwords(text: str) -> str:
    """`text` with every `scheme://user:password@` spelled `scheme://user:***@`."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)


def mask_notify_tokens(text: str) -> str:
    """`text` with every `/notify/<token>` spelled `/notify/***` (and `/disposition/<token>`,
    the bot's credential, alike)."""
    return _NOTIFY_TOKEN.sub(rf"\1{MASK}", text)


def redact(text: str) -> str:
    """Both masks: what any printed line goes through."""
    return mask_notify_tokens(mask_url_passwords(text))


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in a record before any handler formats it.

    The record's message is rendered once (`getMessage`), masked, and stored without arguments,
    so uvicorn's access-log formatter (which reads the path from `args`) sees the masked path too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = redact(record.msg)
        else:
            record.msg, record.args = redact(record.getMessage()), None
        return True
