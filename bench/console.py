"""What an open console page costs the engine: requests per second, and CPU of the API process
and of PostgreSQL per minute, with one page left open on a campaign with a long history.

Only the API runs (no dialing), so every CPU second measured is the page's: first a quiet window
with no page (the baseline), then the same window with Debian's chromium showing the campaign's
overview tab (status every 2 s, pace and waiting reasons every 5 s), then the campaigns list
(overview every 3 s). The campaign holds `contacts` contacts with one completed attempt each,
spread over the last hour, so status, pace and overview read a realistic amount of rows. The
median latency of each read route, asked directly, says which query the CPU goes to.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from sqlalchemy import text

from bench.env import Stack, database_name, running_stack
from bench.figures import Report, figure
from bench.procstats import cpu_seconds, postgres_backends
from bench.runs import start_campaign
from campaign.db.engine import transaction
from campaign.settings import Settings
from tests.factories import us_numbers
from tests.support.browser import ARGS, CHROMIUM

KEY = "bench-key"
ROUTES = ("status", "pace?window=600&step=5", "waiting", "attempts?limit=25")

_HISTORY = text(
    """
    WITH c AS (
        UPDATE contacts SET state = CASE WHEN id % 4 = 0 THEN 'pending' ELSE 'done' END,
                            attempts = 1, next_due_at = now() + interval '1 day',
                            waiting_reason = CASE WHEN id % 4 = 0 THEN 'window' END
        WHERE campaign_id = :campaign_id RETURNING id, phone
    )
    INSERT INTO attempts (campaign_id, run_id, contact_id, number, phone, state, queued_at,
                          claimed_at, sending_at, accepted_at, ended_at, outcome, counted,
                          dial_tries)
    SELECT :campaign_id, cm.current_run_id, c.id, 1, c.phone, 'completed', t, t, t, t,
           t + interval '20 seconds',
           (ARRAY['human', 'machine', 'busy', 'no_answer'])[1 + c.id % 4], true, 1
    FROM c JOIN campaigns cm ON cm.id = :campaign_id,
         LATERAL (SELECT now() - (c.id % 3600) * interval '1 second' AS t) AS spread
    """
)


@dataclass(frozen=True)
class ConsoleSizes:
    """Contacts (one attempt each) in the watched campaign, and seconds per measured window."""

    contacts: int = 100_000
    window_s: float = 60.0
    latency_requests: int = 20


FULL = ConsoleSizes()
# 20-s windows still hold about ten of a page's polls; 10-s ones held three or four, and the
# page's first load then read as half again the campaign page's CPU per minute.
QUICK = ConsoleSizes(contacts=20_000, window_s=20.0)
TINY = ConsoleSizes(contacts=2_000, window_s=5.0, latency_requests=5)


@dataclass(frozen=True)
class _Window:
    requests_per_s: float
    api_cpu_ms_per_min: float
    db_cpu_ms_per_min: float


def _measure(
    stack: Stack, seconds: float, count: Callable[[], int], wait: Callable[[float], None]
) -> _Window:
    """CPU of the API process and of the bench database's backends over `seconds` of `wait`
    (the page's own wait while it is open: Playwright delivers its events only then)."""
    api = [psutil.Process(stack.procs["api"].pid)]
    database = database_name(stack.settings)
    before_db = {p.pid: cpu_seconds([p]) for p in postgres_backends(database)}
    api0, requests0 = cpu_seconds(api), count()
    wait(seconds)
    db_used = sum(
        max(0.0, cpu_seconds([p]) - before_db.get(p.pid, 0.0)) for p in postgres_backends(database)
    )
    per_min = 60_000 / seconds
    return _Window(
        requests_per_s=(count() - requests0) / seconds,
        api_cpu_ms_per_min=(cpu_seconds(api) - api0) * per_min,
        db_cpu_ms_per_min=db_used * per_min,
    )


def _latencies(stack: Stack, campaign_id: int, requests: int) -> dict[str, float]:
    """Median milliseconds of each polled route, asked one at a time."""
    found: dict[str, float] = {}
    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=f"{stack.api_url}/api/v1", headers=auth, timeout=30) as client:
        paths = {route.split("?")[0]: f"/campaigns/{campaign_id}/{route}" for route in ROUTES}
        paths["overview"] = "/overview"
        for name, path in paths.items():
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            found[name] = statistics.median(times)
    return found


def _watch(stack: Stack, sizes: ConsoleSizes, campaign_id: int) -> dict[str, _Window]:
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    sent: list[str] = []
    windows = {"idle": _measure(stack, sizes.window_s, lambda: len(sent), time.sleep)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(ARGS))
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on(
            "request", lambda request: sent.append(request.url) if "/api/" in request.url else None
        )
        wait = lambda seconds: page.wait_for_timeout(seconds * 1000)  # noqa: E731
        page.goto(f"{stack.api_url}/")
        page.get_by_label("API key").fill(KEY)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("operator key").wait_for()
        page.goto(f"{stack.api_url}/#/campaigns/{campaign_id}")
        page.locator("[data-sent]").wait_for()
        windows["campaign"] = _measure(stack, sizes.window_s, lambda: len(sent), wait)
        page.goto(f"{stack.api_url}/#/")
        page.get_by_role("progressbar").first.wait_for()
        windows["list"] = _measure(stack, sizes.window_s, lambda: len(sent), wait)
        browser.close()
    return windows


def run(settings: Settings, sizes: ConsoleSizes, report: Report) -> None:
    """Measure an idle API, then one page open on a campaign and on the list."""
    with running_stack(settings, {}) as stack:
        stack.start_api()
        campaign_id = start_campaign(stack, us_numbers(sizes.contacts), cps=10, max_live=20)
        with transaction(stack.runtime.sessions) as session:
            session.execute(_HISTORY, {"campaign_id": campaign_id})
            session.execute(text("ANALYZE contacts; ANALYZE attempts"))
        windows = _watch(stack, sizes, campaign_id)
        latencies = _latencies(stack, campaign_id, sizes.latency_requests)
    rows = f"{sizes.contacts:,} contacts and attempts"
    figures: list[Any] = []
    for name, window in windows.items():
        figures += [
            figure(f"console_{name}_requests_per_s", [window.requests_per_s], "req/s",
                   note=f"one page open ({name}), {rows}", digits=2),
            figure(f"console_{name}_api_cpu_ms_per_min", [window.api_cpu_ms_per_min], "ms/min",
                   note="API process CPU", digits=0),
            figure(f"console_{name}_db_cpu_ms_per_min", [window.db_cpu_ms_per_min], "ms/min",
                   note="PostgreSQL backends of the bench database", digits=0),
        ]  # fmt: skip
    figures += [
        figure(f"console_{name}_ms", [ms], "ms", note=f"median of {sizes.latency_requests}, {rows}")
        for name, ms in latencies.items()
    ]
    report.add(figures)
