"""Scale of the dispatcher's claim (issue #8 §5): 500 due contacts out of 10k, 100k and 1M.

Contacts are generated in PostgreSQL (`generate_series`), all pending, with due times spread over
the past hour so the index order differs from the physical order, and three priority levels
(0, 5, 10) so each claim walks its levels (`due_contacts`). A fourth campaign holds 1M
contacts of which 99 % are outside their calling window, with the due time the dispatcher itself
gives such contacts (their next opening), as after its first pass. Each timed claim is the real
`claim_due_contacts` (select, do-not-call lookup, window and frequency gates, attempt inserts),
rolled back so every repetition sees the same data. Repetitions interleave the campaigns, and the
1M/10k ratio is taken within each repetition. The plans of the statements it ran are kept.

With compliance on (`claim_ms_compliance_*`), the account policy caps calls per number across
campaigns, adds hours by region and national holidays; every number already has a placed call in
another campaign two days before (the 1M-contact attempts table the per-number lookups read), so
each claim locks and reads its 500 numbers' history through the partial indexes. The policy is
applied inside the timed claim's own rolled-back transaction (not timed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, text

from bench.figures import Report, figure
from campaign.db.engine import transaction
from campaign.domain.spec import CampaignSpec
from campaign.runtime import Runtime
from campaign.services import account
from campaign.services.dispatching import claim_due_contacts
from campaign.services.specs import load_spec
from campaign.settings import Settings
from tests import factories

BATCH = 500
# A Wednesday 16:00 UTC: 11:00 in New York (open), 01:00 in Tokyo (closed until 00:00 UTC).
NOW = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)
TOKYO_OPENS = datetime(2026, 3, 5, 0, 0, tzinfo=UTC)
WINDOW = {"timezone": "contact", "hours": {"mon-sun": "09:00-20:00"}}
RETRY = {**factories.BASE_SPEC["retry"], "per_day": 3, "min_gap": "10m"}
TARGET_RATIO = 1.5
COMPLIANCE = {
    "compliance": {
        "per_number": {"per_day": 3, "per_week": 7, "min_gap": "1h"},
        "hours": {"default": "08:00-21:00", "US-FL": "08:00-20:00"},
        "holidays": ["US"],
    }
}

_INSERT = text(
    """
    INSERT INTO contacts (campaign_id, phone, zones, metadata, state, attempts, next_due_at,
                          line_no, region, priority)
    SELECT :campaign_id,
           '+1201' || lpad(g::text, 7, '0'),
           CASE WHEN g % 100 < :open_pct THEN ARRAY['America/New_York']
                ELSE ARRAY['Asia/Tokyo'] END,
           jsonb_build_object('name', 'contact ' || g),
           'pending', 0,
           CASE WHEN g % 100 < :open_pct
                THEN CAST(:now AS timestamptz) - ((g::bigint * 7919) % 3600) * interval '1 second'
                ELSE CAST(:tokyo_opens AS timestamptz) END,
           g + 1, 'US', (g % 3) * 5
    FROM generate_series(1, :count) AS g
    """
)
# One placed call two days ago to every number of a campaign's contacts (another campaign's).
_HISTORY = text(
    """
    INSERT INTO attempts (campaign_id, contact_id, number, phone, state, queued_at, claimed_at,
                          sending_at, ended_at, outcome)
    SELECT c.campaign_id, c.id, 1, c.phone, 'completed', s.at, s.at, s.at, s.at, 'human'
    FROM contacts c, (SELECT CAST(:now AS timestamptz) - interval '2 days' AS at) s
    WHERE c.campaign_id = :campaign_id
    """
)


@dataclass(frozen=True)
class ClaimSizes:
    """Campaign sizes (label, contacts, % of contacts whose window is open) and repetitions."""

    campaigns: tuple[tuple[str, int, int], ...] = (
        ("10k", 10_000, 100),
        ("100k", 100_000, 100),
        ("1m", 1_000_000, 100),
        ("1m_99pct_closed", 1_000_000, 1),
    )
    repeats: int = 7


FULL = ClaimSizes()
QUICK = ClaimSizes(repeats=5)
TINY = ClaimSizes(
    campaigns=(
        ("10k", 2_000, 100),
        ("100k", 5_000, 100),
        ("1m", 20_000, 100),
        ("1m_99pct_closed", 60_000, 1),
    ),
    repeats=2,
)


def _populate(runtime: Runtime, label: str, count: int, open_pct: int) -> tuple[int, CampaignSpec]:
    doc = factories.spec(window=WINDOW, retry=RETRY)
    doc["name"] = f"claim-{label}"
    with transaction(runtime.sessions) as session:
        campaign_id = factories.make_campaign(session, doc, state="paused")
        session.execute(
            _INSERT,
            {
                "campaign_id": campaign_id,
                "count": count,
                "open_pct": open_pct,
                "now": NOW,
                "tokyo_opens": TOKYO_OPENS,
            },
        )
        stored = session.execute(
            text("SELECT spec FROM campaigns WHERE id = :id"), {"id": campaign_id}
        ).scalar_one()
    return campaign_id, load_spec(stored)


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Record the SQL (and parameters) the engine sends while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _claim_s(
    runtime: Runtime, campaign_id: int, spec: CampaignSpec, policy: dict[str, Any] | None = None
) -> float:
    with runtime.sessions() as session:
        if policy is not None:
            account.apply(session, policy)
        started = time.perf_counter()
        result = claim_due_contacts(
            session, campaign_id=campaign_id, run_id=None, spec=spec, now=NOW, limit=BATCH
        )
        elapsed = time.perf_counter() - started
        session.rollback()
    if len(result.attempt_ids) != BATCH:
        claimed = len(result.attempt_ids)
        raise RuntimeError(f"campaign {campaign_id}: claimed {claimed} contacts, not {BATCH}")
    return elapsed


def _clip(line: str, width: int = 140) -> str:
    return line if len(line) <= width else line[: width - 2] + " …"


def _plans(
    runtime: Runtime, campaign_id: int, spec: CampaignSpec, policy: dict[str, Any] | None = None
) -> str:
    """EXPLAIN ANALYZE of every SELECT one claim runs (inside a rolled-back transaction)."""
    with _statements(runtime.engine) as seen:
        _claim_s(runtime, campaign_id, spec, policy)
    out = []
    with runtime.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for statement, params in seen:
            if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, params)
                out.append(statement.strip().splitlines()[0][:90] + " …")
                out += [_clip(f"  {row[0]}") for row in cursor.fetchall()]
        conn.rollback()
    return "\n".join(out)


def run(settings: Settings, sizes: ClaimSizes, report: Report) -> None:
    """Claim timings per campaign size, the 1M/10k ratios, and the plans for the report."""
    runtime = Runtime(settings, pool_size=len(sizes.campaigns))
    try:
        # Populated side by side: one INSERT … SELECT runs on one core, and the two million-row
        # campaigns were most of this suite's time.
        with ThreadPoolExecutor(max_workers=len(sizes.campaigns)) as pool:
            futures = {
                label: pool.submit(_populate, runtime, label, count, open_pct)
                for label, count, open_pct in sizes.campaigns
            }
            campaigns = {label: future.result() for label, future in futures.items()}
        with transaction(runtime.sessions) as session:
            # The 99 %-closed campaign holds every number of the others: its contacts carry them.
            session.execute(_HISTORY, {"campaign_id": campaigns["1m_99pct_closed"][0], "now": NOW})
        with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE contacts"))
            conn.execute(text("VACUUM ANALYZE attempts"))
        runs: list[tuple[str, int, CampaignSpec, dict[str, Any] | None]] = [
            (label, *campaign, None) for label, campaign in campaigns.items()
        ]
        runs += [(f"compliance_{label}", *campaigns[label], COMPLIANCE) for label in ("10k", "1m")]
        for _, campaign_id, spec, policy in runs:
            _claim_s(runtime, campaign_id, spec, policy)  # warm-up: caches, spec parse, pool
        timings: dict[str, list[float]] = {label: [] for label, *_ in runs}
        for _ in range(sizes.repeats):
            for label, campaign_id, spec, policy in runs:
                timings[label].append(_claim_s(runtime, campaign_id, spec, policy))
        for label in ("1m", "1m_99pct_closed"):
            report.sections[f"claim: plans, {label}"] = _plans(runtime, *campaigns[label])
        report.sections["claim: plans, compliance_1m"] = _plans(
            runtime, *campaigns["1m"], COMPLIANCE
        )
    finally:
        runtime.close()
    small = timings["10k"]
    report.add(
        [
            figure(f"claim_ms_{label}", [t * 1000 for t in ts], "ms", digits=1)
            for label, ts in timings.items()
        ]
    )
    report.add(
        [
            figure(
                "claim_ratio_1m_10k",
                [b / a for a, b in zip(small, timings["1m"], strict=True)],
                "x",
                at_most=TARGET_RATIO,
            ),
            figure(
                "claim_ratio_1m_99pct_closed_10k",
                [b / a for a, b in zip(small, timings["1m_99pct_closed"], strict=True)],
                "x",
                at_most=TARGET_RATIO,
            ),
            figure(
                "claim_ratio_compliance_1m_10k",
                [
                    b / a
                    for a, b in zip(
                        timings["compliance_10k"], timings["compliance_1m"], strict=True
                    )
                ],
                "x",
                at_most=TARGET_RATIO,
            ),
        ]
    )
