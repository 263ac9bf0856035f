"""The campaign forecast (issue #14): how long it takes, and how right it is.

Speed: campaigns of 10k and 1M contacts are generated in PostgreSQL (`generate_series`) with the
design notes' example spec (weekday 09:00-20:00 and Saturday 10:00-14:00 windows in each contact's
zone, 10 calls/s, 50 live calls, busy/rejected/unavailable/machine redials, per_day 3, min_gap
10m) over eight US zone sets, paused (forecast as if resumed now); each timing is the whole
`forecast_campaign` call (the grouped reads and 16 Monte-Carlo runs), median of several. The full
size adds a 1M campaign in mid-run: a fifth of its contacts called once (busy) and waiting for
a redial, 1 % of them on a live call.

Accuracy: `bench.forecast_accuracy` runs real campaigns on the simulator and compares the
forecasts taken on the way with what happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text

from bench.figures import Report, figure
from bench.forecast_accuracy import AccuracySizes, accuracy
from campaign.db.engine import transaction
from campaign.db.tables import CampaignRow
from campaign.runtime import Runtime
from campaign.services.forecast import forecast_campaign
from campaign.settings import Settings
from tests import factories
from tests.unit.test_retry_policy import DESIGN_EXAMPLE

NOW = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)  # a Wednesday: 11:00 in New York
SPEC = factories.spec(
    window={"timezone": "contact", "hours": {"mon-fri": "09:00-20:00", "sat": "10:00-14:00"}},
    pacing={"cps": 10, "max_live_calls": 50, "max_call_duration": "30m"},
    retry=DESIGN_EXAMPLE,
    gateway={**factories.BASE_SPEC["gateway"], "timeoutInMs": 30000},
)
ZONE_SETS = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/New_York,America/Chicago",
)
_CONTACTS = text(
    """
    INSERT INTO contacts (campaign_id, phone, zones, metadata, state, attempts, next_due_at,
                          line_no)
    SELECT :campaign_id, '+1201' || lpad(g::text, 7, '0'),
           string_to_array((CAST(:zones AS text[]))[1 + g % :zone_count], ','),
           '{}', CASE WHEN g % 100 < :in_flight_pct THEN 'in_flight' ELSE 'pending' END,
           CASE WHEN g % 100 < :called_pct THEN 1 ELSE 0 END,
           CAST(:now AS timestamptz) + CASE WHEN g % 100 < :called_pct
               THEN (g % 1800) * interval '1 second' ELSE interval '0' END,
           g + 1
    FROM generate_series(1, :count) AS g
    """
)
_ATTEMPTS = text(
    """
    INSERT INTO attempts (campaign_id, run_id, contact_id, number, phone, state, counted,
                          queued_at, sending_at, ended_at, outcome)
    SELECT c.campaign_id, :run_id, c.id, 1, c.phone,
           CASE WHEN c.state = 'in_flight' THEN 'sending' ELSE 'completed' END, true,
           CAST(:now AS timestamptz) - interval '10 minutes',
           CAST(:now AS timestamptz) - interval '10 minutes',
           CASE WHEN c.state = 'in_flight' THEN NULL
                ELSE CAST(:now AS timestamptz) - interval '9 minutes' END,
           CASE WHEN c.state = 'in_flight' THEN NULL ELSE 'busy' END
    FROM contacts c WHERE c.campaign_id = :campaign_id AND c.attempts = 1
    """
)


@dataclass(frozen=True)
class ForecastSizes:
    """Campaigns timed (label, contacts, % called once, % in flight), repeats, accuracy runs."""

    campaigns: tuple[tuple[str, int, int, int], ...] = (
        ("10k", 10_000, 0, 0),
        ("1m", 1_000_000, 0, 0),
        ("1m_midrun", 1_000_000, 20, 1),
    )
    repeats: int = 5
    accuracy: AccuracySizes = field(default_factory=AccuracySizes)


FULL = ForecastSizes()
QUICK = ForecastSizes(
    campaigns=(("10k", 10_000, 0, 0), ("1m", 1_000_000, 0, 0)),
    repeats=3,
    accuracy=AccuracySizes.quick(),
)
TINY = ForecastSizes(
    campaigns=(("10k", 10_000, 20, 1), ("1m", 20_000, 0, 0)),
    repeats=2,
    accuracy=AccuracySizes.tiny(),
)


def _populate(runtime: Runtime, label: str, count: int, called_pct: int, live_pct: int) -> int:
    """A campaign of `count` contacts as the run left them. Paused, so the accuracy runs'
    dispatchers (same database) never dial it; it is forecast as if resumed now."""
    doc = {**SPEC, "name": f"forecast-{label}"}
    with transaction(runtime.sessions) as session:
        campaign_id = factories.make_campaign(session, doc, state="paused")
        run_id = session.get_one(CampaignRow, campaign_id).current_run_id
        params = {"campaign_id": campaign_id, "now": NOW, "run_id": run_id}
        session.execute(
            _CONTACTS,
            {
                **params,
                "count": count,
                "zones": list(ZONE_SETS),
                "zone_count": len(ZONE_SETS),
                "called_pct": called_pct,
                "in_flight_pct": live_pct,
            },
        )
        if called_pct:
            session.execute(_ATTEMPTS, params)
    with runtime.engine.connect() as conn:  # as autovacuum would have by then
        conn.execute(text("ANALYZE contacts"))
        conn.execute(text("ANALYZE attempts"))
        conn.commit()
    return campaign_id


def _time_ms(runtime: Runtime, campaign_id: int) -> tuple[float, float]:
    """(wall ms, this process's CPU ms) of one whole forecast."""
    with runtime.sessions() as session:
        wall, cpu = time.perf_counter(), time.process_time()
        forecast_campaign(session, campaign_id, now=NOW)
        return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def run(settings: Settings, sizes: ForecastSizes, report: Report) -> None:
    """`forecast_ms_*` (targets: 10k under 200 ms, 1M under 2 s), then the accuracy figures."""
    runtime = Runtime(settings, pool_size=2)
    try:
        campaigns = {
            label: _populate(runtime, label, count, called, live)
            for label, count, called, live in sizes.campaigns
        }
        timings: dict[str, list[tuple[float, float]]] = {label: [] for label in campaigns}
        for _ in range(sizes.repeats):  # interleaved, so a busy moment hits every size alike
            for label, campaign_id in campaigns.items():
                timings[label].append(_time_ms(runtime, campaign_id))
    finally:
        runtime.close()
    targets = {"10k": 200.0, "1m": 2000.0}
    for label, runs in timings.items():
        report.add(
            [
                figure(
                    f"forecast_ms_{label}",
                    [w for w, _ in runs],
                    "ms",
                    at_most=targets.get(label),
                    digits=1,
                ),
                figure(f"forecast_cpu_ms_{label}", [c for _, c in runs], "CPU-ms", digits=1),
            ]
        )
    accuracy(settings, sizes.accuracy, report)
