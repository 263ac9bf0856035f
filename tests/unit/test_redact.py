"""Credentials are masked in anything printed: URL passwords, notify tokens, access-log lines."""

from __future__ import annotations

import logging
import logging.config

import pytest

from campaign import log
from campaign.cli import _error
from campaign.redact import RedactingFilter, mask_notify_tokens, mask_url_passwords, redact


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://campaign:s3cret@db:5432/c", "postgresql://campaign:***@db:5432/c"),
        ("redis://:p@ss:w0rd@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://default:x@r:6380", "rediss://default:***@r:6380"),
        ("see postgresql://u@db/c and http://h/p", "see postgresql://u@db/c and http://h/p"),
    ],
)
def test_url_passwords_are_masked(text: str, masked: str) -> None:
    assert mask_url_passwords(text) == masked


def test_notify_tokens_are_masked_in_paths() -> None:
    line = 'POST /notify/12.1767225600.AbCdEfGhIjKlMnOpQrStUvWx?x=1 HTTP/1.1" 200'
    assert mask_notify_tokens(line) == 'POST /notify/***?x=1 HTTP/1.1" 200'
    bot = 'POST /disposition/12.1767225600.AbCdEfGhIjKlMnOpQrStUvWx HTTP/1.1" 200'
    assert mask_notify_tokens(bot) == 'POST /disposition/*** HTTP/1.1" 200'


def _access_log(message_args: tuple[object, ...], capsys: pytest.CaptureFixture[str]) -> str:
    log.configure("text")  # what `campaign api` sets up; uvicorn's loggers propagate to it
    for name in ("uvicorn", "uvicorn.access"):  # as `uvicorn.run(log_config=None)` leaves them
        logger = logging.getLogger(name)  # (another test's in-process server may have set them)
        logger.handlers, logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
    try:
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *message_args)
    finally:
        root = logging.getLogger()
        root.handlers = [h for h in root.handlers if not getattr(h, "_campaign", False)]
    return capsys.readouterr().err


def test_uvicorn_access_log_never_writes_a_notify_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "41.1767225600.AbCdEfGhIjKlMnOpQrStUvWx"
    line = _access_log(("127.0.0.1:5000", "POST", f"/notify/{token}", "1.1", 200), capsys)
    assert token not in line
    assert '"POST /notify/*** HTTP/1.1" 200' in line


def test_a_filtered_record_keeps_its_other_arguments() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "%s to %s (%d)", None, None)
    record.args = ("redis://:pw@r:6379/0", "/notify/1.2.abc", 3)
    RedactingFilter().filter(record)
    assert record.getMessage() == "redis://:***@r:6379/0 to /notify/*** (3)"


def test_cli_errors_mask_what_they_quote(capsys: pytest.CaptureFixture[str]) -> None:
    _error("could not reach postgresql://campaign:hunter2@db:5432/c")
    assert capsys.readouterr().err == "error: could not reach postgresql://campaign:***@db:5432/c\n"
    assert redact("x") == "x"
