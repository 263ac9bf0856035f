"""Helpers for the operator surfaces: spec documents and CSV bytes built in memory."""

from __future__ import annotations

import copy
import io
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from campaign.api.app import create_app
from campaign.runtime import Runtime
from campaign.settings import Settings
from tests.support.asgi import serve

OPERATOR = {"Authorization": "Bearer op-key"}
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

SPEC: dict[str, Any] = {
    "name": "renewals",
    "gateway": {"bot": "st-bot", "caller": "+12706165788", "machineDetection": "detect"},
    "pacing": {"cps": 5, "max_live_calls": 10, "max_call_duration": "2m"},
    "retry": {"max_attempts": 3, "outcomes": {"busy": {"delays": ["2m", "10m"]}}},
    "default_region": "US",
}


def spec_doc(**overrides: Any) -> dict[str, Any]:
    """A valid spec with a unique name; top-level keys replaced by `overrides`."""
    doc = copy.deepcopy(SPEC)
    doc["name"] = f"renewals-{secrets.token_hex(3)}"
    doc.update(overrides)
    return doc


def csv_bytes(text: str, *, bom: bool = False, crlf: bool = False) -> io.BytesIO:
    """A CSV file in memory, as a binary stream the upload reads."""
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode()
    return io.BytesIO((b"\xef\xbb\xbf" if bom else b"") + data)


@pytest.fixture
def spec() -> dict[str, Any]:
    return spec_doc()


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[str]:
    """The whole HTTP app on uvicorn, 127.0.0.1, a free port; keys op-key and read-key."""
    runtime = Runtime(settings, pool_size=4)
    with serve(create_app(settings, runtime)) as url:
        yield url
    runtime.close()
