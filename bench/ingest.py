"""Contacts ingest (issue #8 §1): a generated CSV through `campaign upload`, rows/s and peak memory.

The file: numbers from 8 countries (E.164 on most rows, national format with a `country` column on
a quarter), a `timezone` column filled on half the rows, a `priority` on a third, 3 metadata
columns, and 1 % bad rows (too short, not a number, an unknown zone). It goes through the
operator's real path, the CLI process `campaign upload ID FILE --json` with its default validation
workers, timed from start to exit; peak memory is the resident set of that process and its workers
together, sampled. Each run uploads into an emptied contacts table so every run does the same work.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.figures import Report, figure
from bench.procstats import RssSampler
from campaign.db.engine import transaction
from campaign.runtime import Runtime
from campaign.settings import Settings
from tests import factories
from tests.support.procs import CAMPAIGN

TARGET_ROWS_PER_S = 25_000.0
TARGET_RSS_GROWTH = 1.1
# (region, country code, national number pattern, first number, zone): all valid ranges.
COUNTRIES = (
    ("US", "1", "201{:07d}", 2_000_000, "America/New_York"),
    ("GB", "44", "207{:07d}", 0, "Europe/London"),
    ("DE", "49", "30{:08d}", 10_000_000, "Europe/Berlin"),
    ("FR", "33", "1{:08d}", 40_000_000, "Europe/Paris"),
    ("IN", "91", "98{:08d}", 10_000_000, "Asia/Kolkata"),
    ("AU", "61", "2{:08d}", 90_000_000, "Australia/Sydney"),
    ("BR", "55", "119{:08d}", 60_000_000, "America/Sao_Paulo"),
    ("JP", "81", "3{:08d}", 10_000_000, "Asia/Tokyo"),
)
BAD_VALUES = (("12345", ""), ("not a number", ""), ("", "Mars/Olympus_Mons"))
HEADER = ("phone", "country", "timezone", "name", "account", "balance", "priority")


@dataclass(frozen=True)
class IngestSizes:
    """File sizes (label, rows): the rate is read from the largest, memory compared across them."""

    files: tuple[tuple[str, int], ...] = (("100k", 100_000), ("1m", 1_000_000))
    runs: int = 3


FULL = IngestSizes()
QUICK = IngestSizes(files=(("50k", 50_000), ("200k", 200_000)), runs=1)
TINY = IngestSizes(files=(("1k", 1_000), ("5k", 5_000)), runs=1)


def _row(i: int) -> tuple[str, ...]:
    if i % 100 == 99:
        phone, zone = BAD_VALUES[(i // 100) % len(BAD_VALUES)]
        return (phone, "", zone, f"bad {i}", f"A{i:08d}", "0.00", "")
    region, code, pattern, first, zone = COUNTRIES[i % len(COUNTRIES)]
    national = pattern.format(first + i // len(COUNTRIES))
    # A quarter of the rows give the national number and its `country`; the rest E.164.
    phone, country = (national, region) if i % 4 == 1 else (f"+{code}{national}", "")
    balance = f"{(i * 37) % 100_000 / 100:.2f}"
    priority = str(i % 7 - 3) if i % 3 == 0 else ""
    zone = zone if i % 2 == 0 else ""
    return (phone, country, zone, f"Contact {i}", f"A{i:08d}", balance, priority)


def write_csv(path: Path, rows: int) -> int:
    """Write the benchmark file; returns how many rows are meant to be rejected."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(_row(i) for i in range(rows))
    return sum(1 for i in range(rows) if i % 100 == 99)


def _upload(
    settings: Settings, campaign_id: int, path: Path
) -> tuple[float, float, dict[str, Any]]:
    """(seconds, peak MiB, the upload report) of one `campaign upload` process."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
    }
    argv = [*CAMPAIGN, "upload", str(campaign_id), str(path), "--json"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with RssSampler({"upload": proc.pid}, interval_s=0.1) as sampler:
        out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"campaign upload failed ({proc.returncode}): {err.decode()[-2000:]}")
    return elapsed, sampler.peak["upload"], json.loads(out)


def _campaign(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        session.execute(text("TRUNCATE contacts CASCADE"))
        return factories.make_campaign(session, factories.spec(), state="paused")


def run(settings: Settings, sizes: IngestSizes, report: Report) -> None:
    """Rows/s of the largest file, peak memory per file size and its growth between them."""
    workdir = Path(tempfile.gettempdir())
    runtime = Runtime(settings, pool_size=1)
    rates: list[float] = []
    peaks: dict[str, list[float]] = {label: [] for label, _ in sizes.files}
    try:
        for label, rows in sizes.files:
            path = workdir / f"bench-contacts-{label}-{os.getpid()}.csv"
            try:
                bad = write_csv(path, rows)
                for _ in range(sizes.runs):
                    seconds, peak, upload = _upload(settings, _campaign(runtime), path)
                    if upload["accepted"] != rows - bad or upload["rejected_total"] != bad:
                        raise RuntimeError(
                            f"{label}: accepted {upload['accepted']} and rejected "
                            f"{upload['rejected_total']}, expected {rows - bad} and {bad}"
                        )
                    peaks[label].append(peak)
                    if label == sizes.files[-1][0]:
                        rates.append(rows / seconds)
            finally:
                path.unlink(missing_ok=True)
    finally:
        runtime.close()
    small, large = sizes.files[0][0], sizes.files[-1][0]
    report.add(
        [
            figure("ingest_rows_per_s", rates, "rows/s", at_least=TARGET_ROWS_PER_S, digits=0),
            *(
                figure(f"ingest_peak_rss_{label}_mib", mib, "MiB", digits=1)
                for label, mib in peaks.items()
            ),
            figure(
                f"ingest_rss_growth_{large}_over_{small}",
                [b / a for a, b in zip(peaks[small], peaks[large], strict=True)],
                "x",
                at_most=TARGET_RSS_GROWTH,
            ),
        ]
    )
