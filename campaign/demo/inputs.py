"""The demo's inputs as the operator services take them: a spec document and a contacts stream.

The spec gets a timestamped name (every run is a new campaign, and runs sharing a database stay
apart in `campaign status`) and the command line's pacing overrides; the contacts file may be cut
to its first N records.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from campaign.errors import SpecInvalid


def spec_document(
    path: Path, *, now: datetime, cps: float | None = None, max_live_calls: int | None = None
) -> dict[str, Any]:
    """The spec at `path`, named `<name>-<UTC timestamp>`, with the pacing overrides applied."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise SpecInvalid([f"{path}: must be a mapping, not {type(document).__name__}"])
    document["name"] = f"{document.get('name', 'demo')}-{now:%Y%m%d-%H%M%S}"
    pacing = dict(document.get("pacing") or {})
    if cps is not None:
        pacing["cps"] = cps
    if max_live_calls is not None:
        pacing["max_live_calls"] = max_live_calls
    document["pacing"] = pacing
    return document


def contacts_stream(path: Path, limit: int | None) -> io.BytesIO:
    """The contacts file, or its header and first `limit` records."""
    data = path.read_bytes()
    if limit is None:
        return io.BytesIO(data)
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, record in enumerate(reader):
        if index > limit:
            break
        writer.writerow(record)
    return io.BytesIO(out.getvalue().encode())
