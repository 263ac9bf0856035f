"""When a recurring campaign runs next: cron read in the schedule's own time zone, exact across DST.

Pure (croniter and zoneinfo only), so the lifecycle verbs and the dispatcher's recurrence step share
it. "0 10 * * MON" in America/Chicago is 10:00 there every Monday whatever the UTC offset. Across
DST: a wall time that does not exist (spring forward) runs at the same distance past the jump
(02:30 on a 02:00→03:00 day runs at 03:30); a wall time that happens twice (fall back) runs once,
at its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall time: fold=0, so a repeated time is its first
    occurrence and a skipped one lands past the jump by as much as it was before it."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_run(cron: str, zone: str, after: datetime) -> datetime:
    """The first occurrence of `cron` in `zone` strictly after `after` (aware), in UTC."""
    tz = ZoneInfo(zone)
    wall = after.astimezone(tz).replace(tzinfo=None)
    # Start a little early: a fall-back hour can put a not-yet-past instant at an earlier wall time.
    times = croniter(cron, wall - timedelta(hours=3), ret_type=datetime)
    while True:
        at = _instant(times.get_next(datetime), tz)
        if at > after:
            return at
