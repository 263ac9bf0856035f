"""The report's rate and concurrency maths on hand-made timelines, and the contacts cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaign.demo.inputs import contacts_stream
from campaign.demo.report import _most_in_window, _peak_overlap

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_a_one_second_window_is_half_open() -> None:
    # 0.0 and 1.0 are a second apart: never in one window; 0.5, 1.0, 1.4 are.
    assert _most_in_window(_at(0.0, 1.0), timedelta(seconds=1)) == 1
    assert _most_in_window(_at(0.0, 0.5, 1.0, 1.4, 2.6), timedelta(seconds=1)) == 3


def test_a_call_that_ends_as_another_starts_does_not_overlap_it() -> None:
    a, b, c, d = _at(0, 1, 2, 3)
    assert _peak_overlap([(a, b), (b, c)], now=d) == 1
    assert _peak_overlap([(a, c), (b, d), (b, None)], now=d) == 3  # None: still live at `now`


def test_the_contacts_cut_keeps_the_header_and_the_first_records(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('phone,note\n+12125550101,"a, b"\n+12125550102,x\n+12125550103,y\n')
    assert contacts_stream(path, 2).read().decode().splitlines() == [
        "phone,note",
        '+12125550101,"a, b"',
        "+12125550102,x",
    ]
    assert contacts_stream(path, None).read() == path.read_bytes()
