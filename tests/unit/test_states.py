"""The three transition tables, checked pair by pair against grids written out by hand.

In a grid, a cell names the target state, `=` is an explicit no-op and `!` is illegal.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

import pytest

from campaign.domain.machine import Table, Transition, apply
from campaign.domain.states import (
    ATTEMPT_FINAL,
    ATTEMPT_LIVE,
    ATTEMPT_TABLE,
    CAMPAIGN_TABLE,
    CONTACT_FINAL,
    CONTACT_TABLE,
    AttemptEvent,
    AttemptState,
    CampaignEvent,
    CampaignState,
    ContactEvent,
    ContactState,
    RunEvent,
    RunState,
    attempt_transition,
    campaign_transition,
    contact_transition,
    run_transition,
)
from campaign.errors import IllegalTransition

ATTEMPT_GRID = """
          claim   requeue send    accept   answer   complete  fail   expire error release
queued    dialing =       !       !        !        !         !      !      !     released
dialing   =       queued  sending !        !        !         !      !      error released
sending   =       =       =       accepted answered completed failed lost   error =
accepted  =       =       =       =        answered completed failed lost   !     =
answered  =       =       =       =        =        completed failed lost   =     =
completed =       =       =       =        =        =         =      =      =     =
failed    =       =       =       =        =        =         =      =      =     =
lost      =       =       =       =        =        =         =      =      =     =
error     =       =       =       =        =        =         =      =      =     =
released  =       =       =       =        =        =         =      =      =     =
"""

CONTACT_GRID_LIFE = """
            dispatch  redial   finish   exhaust   suppress   cancel    rearm    release
pending     in_flight =        !        exhausted suppressed cancelled =        =
in_flight   =         pending  done     exhausted suppressed cancelled =        pending
done        =         =        =        =         =          =         pending  =
exhausted   =         =        =        =         =          =         pending  =
suppressed  =         =        =        =         =          =         =        =
cancelled   =         =        =        =         =          =         pending  =
invalid     =         =        =        =         =          =         =        =
"""

# The dispositions' events (same rows, in the same order).
CONTACT_GRID_DISPOSED = """
resolve  call_back  invalidate  block
done     =          invalid     suppressed
done     pending    invalid     suppressed
=        pending    invalid     suppressed
done     pending    invalid     suppressed
=        =          =           =
=        =          =           =
=        =          =           =
"""


def _side_by_side(left: str, right: str) -> str:
    rows = zip(left.strip().splitlines(), right.strip().splitlines(), strict=True)
    return "\n".join(f"{a} {b}" for a, b in rows)


CONTACT_GRID = _side_by_side(CONTACT_GRID_LIFE, CONTACT_GRID_DISPOSED)

CAMPAIGN_GRID = """
            schedule  start    pause    resume   complete  cancel    rerun
draft       scheduled running  !        !        !         cancelled !
scheduled   =         running  !        !        !         cancelled !
running     !         =        paused   =        completed cancelled !
paused      !         !        =        running  !         cancelled !
completed   !         running  !        !        =         cancelled running
cancelled   !         !        !        !        =         =         running
"""


S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


def _expected(grid: str, states: type[S], events: type[E]) -> dict[tuple[S, E], S | None]:
    """Every (state, event) pair of the grid; None marks an illegal pair."""
    header, *rows = grid.strip().splitlines()
    columns = [events(name) for name in header.split()]
    expected: dict[tuple[S, E], S | None] = {}
    for row in rows:
        name, *cells = row.split()
        state = states(name)
        for event, cell in zip(columns, cells, strict=True):
            expected[(state, event)] = (
                None if cell == "!" else state if cell == "=" else states(cell)
            )
    assert len(expected) == len(states) * len(events), "the grid must cover every pair"
    return expected


MACHINES = [
    pytest.param(ATTEMPT_TABLE, ATTEMPT_GRID, AttemptState, AttemptEvent, id="attempt"),
    pytest.param(CONTACT_TABLE, CONTACT_GRID, ContactState, ContactEvent, id="contact"),
    pytest.param(CAMPAIGN_TABLE, CAMPAIGN_GRID, CampaignState, CampaignEvent, id="campaign"),
]


@pytest.mark.parametrize(("table", "grid", "states", "events"), MACHINES)
def test_every_state_event_pair_moves_stays_or_raises_as_declared(
    table: Table[StrEnum, StrEnum], grid: str, states: type[StrEnum], events: type[StrEnum]
) -> None:
    for (state, event), target in _expected(grid, states, events).items():
        if target is None:
            with pytest.raises(IllegalTransition):
                apply(table, state, event)
        else:
            assert apply(table, state, event) == Transition(target, changed=target != state)


@pytest.mark.parametrize(("table", "grid", "states", "events"), MACHINES)
def test_tables_list_no_pair_outside_their_own_enums(
    table: Table[StrEnum, StrEnum], grid: str, states: type[StrEnum], events: type[StrEnum]
) -> None:
    legal = {pair for pair, target in _expected(grid, states, events).items() if target}
    assert set(table) == legal


def test_illegal_transition_message_names_machine_state_and_event() -> None:
    with pytest.raises(
        IllegalTransition, match=r"attempt in state 'queued' cannot take event 'send'"
    ):
        attempt_transition(AttemptState.QUEUED, AttemptEvent.SEND)


def test_duplicate_completed_notification_changes_nothing() -> None:
    first = attempt_transition(AttemptState.ANSWERED, AttemptEvent.COMPLETE)
    again = attempt_transition(first.state, AttemptEvent.COMPLETE)
    assert first == Transition(AttemptState.COMPLETED, changed=True)
    assert again == Transition(AttemptState.COMPLETED, changed=False)


def test_answered_after_completed_is_a_no_op() -> None:
    result = attempt_transition(AttemptState.COMPLETED, AttemptEvent.ANSWER)
    assert result == Transition(AttemptState.COMPLETED, changed=False)


def test_final_notification_may_beat_the_post_response() -> None:
    early = attempt_transition(AttemptState.SENDING, AttemptEvent.FAIL)
    late_accept = attempt_transition(early.state, AttemptEvent.ACCEPT)
    assert late_accept == Transition(AttemptState.FAILED, changed=False)


def test_late_final_after_lost_changes_nothing() -> None:
    result = attempt_transition(AttemptState.LOST, AttemptEvent.COMPLETE)
    assert result == Transition(AttemptState.LOST, changed=False)


def test_redelivered_task_never_resends_an_attempt_already_sent() -> None:
    for state in ATTEMPT_LIVE:
        assert not attempt_transition(state, AttemptEvent.CLAIM).changed
        assert not attempt_transition(state, AttemptEvent.SEND).changed


def test_worker_that_died_while_pacing_can_be_requeued_and_reclaimed() -> None:
    requeued = attempt_transition(AttemptState.DIALING, AttemptEvent.REQUEUE)
    assert attempt_transition(requeued.state, AttemptEvent.CLAIM).state is AttemptState.DIALING


@pytest.mark.parametrize("event", list(AttemptEvent))
def test_final_attempts_absorb_every_event(event: AttemptEvent) -> None:
    for state in ATTEMPT_FINAL:
        assert attempt_transition(state, event) == Transition(state, changed=False)


def test_live_and_final_attempt_states_are_disjoint_and_named() -> None:
    assert {AttemptState.SENDING, AttemptState.ACCEPTED, AttemptState.ANSWERED} == ATTEMPT_LIVE
    assert not ATTEMPT_LIVE & ATTEMPT_FINAL
    assert {
        ContactState.DONE,
        ContactState.EXHAUSTED,
        ContactState.SUPPRESSED,
        ContactState.CANCELLED,
        ContactState.INVALID,
    } == CONTACT_FINAL


def test_new_run_rearms_finished_contacts_but_not_suppressed_ones() -> None:
    assert contact_transition(ContactState.DONE, ContactEvent.REARM).changed
    assert contact_transition(ContactState.EXHAUSTED, ContactEvent.REARM).changed
    kept = contact_transition(ContactState.SUPPRESSED, ContactEvent.REARM)
    assert kept == Transition(ContactState.SUPPRESSED, changed=False)


def test_rerun_rearms_cancelled_contacts_too_but_never_suppressed_ones() -> None:
    reopened = contact_transition(ContactState.CANCELLED, ContactEvent.REARM)
    assert reopened == Transition(ContactState.PENDING, changed=True)
    # Rearming stays the only way out: a cancelled contact takes no other event.
    for event in set(ContactEvent) - {ContactEvent.REARM}:
        assert not contact_transition(ContactState.CANCELLED, event).changed
    assert not contact_transition(ContactState.SUPPRESSED, ContactEvent.REARM).changed


def test_rerun_runs_a_completed_or_cancelled_campaign_again() -> None:
    for state in (CampaignState.COMPLETED, CampaignState.CANCELLED):
        result = campaign_transition(state, CampaignEvent.RERUN)
        assert result == Transition(CampaignState.RUNNING, changed=True)


@pytest.mark.parametrize(
    "state",
    [CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED],
)
def test_rerun_of_a_campaign_not_over_is_refused_so_a_repeat_opens_no_second_run(
    state: CampaignState,
) -> None:
    with pytest.raises(IllegalTransition, match=f"state '{state.value}' cannot take event 'rerun'"):
        campaign_transition(state, CampaignEvent.RERUN)


def test_lifecycle_verbs_are_idempotent() -> None:
    for state, event in [
        (CampaignState.RUNNING, CampaignEvent.START),
        (CampaignState.PAUSED, CampaignEvent.PAUSE),
        (CampaignState.RUNNING, CampaignEvent.RESUME),
        (CampaignState.CANCELLED, CampaignEvent.CANCEL),
    ]:
        assert campaign_transition(state, event) == Transition(state, changed=False)


def test_cancelled_campaign_cannot_be_restarted() -> None:
    with pytest.raises(IllegalTransition, match="campaign in state 'cancelled'"):
        campaign_transition(CampaignState.CANCELLED, CampaignEvent.START)


def test_states_round_trip_through_their_stored_value() -> None:
    for enum in (AttemptState, ContactState, CampaignState):
        for member in enum:
            assert enum(str(member)) is member


def test_a_run_ends_once_and_keeps_its_ending() -> None:
    assert run_transition(RunState.RUNNING, RunEvent.CANCEL) == Transition(RunState.CANCELLED, True)
    assert run_transition(RunState.CANCELLED, RunEvent.COMPLETE) == Transition(
        RunState.CANCELLED, False
    )
    assert run_transition(RunState.SKIPPED, RunEvent.COMPLETE).changed is False
