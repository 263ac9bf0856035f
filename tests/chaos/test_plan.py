"""The chaos plan holds what issue 11 asks of `make chaos`, without starting anything."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chaos.__main__ import invalid, main
from chaos.faults import Injected
from chaos.judge import Limits, Verdict
from chaos.plan import FULL, QUICK, Fault, Kind, Size, phones
from chaos.run import RunResult


def _kinds(size: Size) -> Counter[Kind]:
    return Counter(f.kind for f in size.schedule)


def test_the_full_run_is_one_big_campaign_on_four_workers_and_two_dispatchers() -> None:
    assert FULL.contacts >= 500
    assert (FULL.cps, FULL.workers, FULL.concurrency, FULL.dispatchers) == (20, 4, 8, 2)
    assert len(set(phones(FULL.contacts))) == FULL.contacts


def test_the_full_schedule_holds_every_fault_with_the_issues_durations() -> None:
    kinds = _kinds(FULL)
    assert set(kinds) == set(Kind)
    assert kinds[Kind.KILL_WORKER] >= 4
    seconds = {f.kind: f.seconds for f in FULL.schedule if f.kind is not Kind.KILL_WORKER}
    assert seconds[Kind.GATEWAY_500] == 20
    assert seconds[Kind.API_DOWN] == 10
    assert {f.target for f in FULL.schedule if f.target} == set(FULL.worker_names)


@pytest.mark.parametrize("size", [FULL, QUICK], ids=["full", "quick"])
def test_every_fault_comes_before_a_fault_free_campaign_could_end(size: Size) -> None:
    # One call per contact at the cps limit, and nothing placed while the gateway answers 500:
    # the campaign cannot possibly finish sooner.
    burst_s = sum(f.seconds for f in size.schedule if f.kind is Kind.GATEWAY_500)
    fastest_s = size.contacts / size.cps + burst_s
    assert max(f.at_s for f in size.schedule) < fastest_s


def test_the_quick_run_has_one_of_each_fault() -> None:
    assert set(_kinds(QUICK)) == set(Kind)


def test_a_dry_run_prints_the_plan_and_starts_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "--quick"]) == 0

    out = capsys.readouterr().out
    assert f"{QUICK.contacts} contacts" in out
    assert out.count("SIGKILL worker") == _kinds(QUICK)[Kind.KILL_WORKER]


def test_a_fault_after_the_last_call_makes_the_run_invalid() -> None:
    verdict = Verdict(
        contacts=1,
        calls_made=1,
        calls_implied=1,
        replays=(),
        never_called=(),
        strangers=(),
        overlaps=0,
        reposted=0,
        limits=Limits(1, 1),
        over_limit_windows=0,
        max_in_1s=1,
        peak_live=1,
        open=None,
        residual_risk=0,
        not_judgeable=(),
        over_limit_at=(),
        late_free_windows=0,
    )
    early = Injected(Fault(1, Kind.API_DOWN, 1), 1.0, 2.0)
    late = Injected(Fault(9, Kind.REDIS_RESTART, 1), 9.0, 10.0)
    result = RunResult(verdict, [early, late], 0.0, 8.0, 5.0, Path("."), {})

    assert invalid(result) == ["redis_restart at t=9.0 s came after the last call"]
