"""The four state machines (attempt, contact, campaign, run), each one declared table.

Every `(state, event)` pair a machine can meet is listed: either it moves to a new state, or it
maps to the state it came from, an explicit no-op. Anything unlisted raises `IllegalTransition`.

How a pair was put in one of the three boxes:

- **Move**: the normal life of the row.
- **No-op**: the event repeats what already happened (a duplicate delivery or notification), or
  it arrives after the row has moved past the point where it mattered (a late `claim` from a
  re-delivered task after the POST, an `answered` after `completed`, an expiry racing a final).
  Final states absorb every event this way, so a race never reopens a closed row. Callers act
  only when `Transition.changed` is true; that is what makes redelivery and races harmless.
- **Illegal**: the event claims something that cannot have happened in that state, such as a
  notification for an attempt that was never sent, or a lifecycle verb an operator may not use
  there (resuming a draft). These point at a bug or a wrong request, never at a race.

Rows store the enums by value, so renaming a value is a data migration.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from campaign.domain.machine import Table, Transition, apply, declare, stay


class AttemptState(StrEnum):
    """Where one dial-out stands. `sending` is committed right before the POST, so a row found in
    `dialing` provably placed no call, and one found in `sending` may have."""

    QUEUED = "queued"
    DIALING = "dialing"
    SENDING = "sending"
    ACCEPTED = "accepted"
    ANSWERED = "answered"
    COMPLETED = "completed"
    FAILED = "failed"
    LOST = "lost"
    ERROR = "error"
    RELEASED = "released"


class AttemptEvent(StrEnum):
    """What can happen to an attempt: worker steps, gateway notifications, sweeper verdicts."""

    CLAIM = "claim"
    REQUEUE = "requeue"
    SEND = "send"
    ACCEPT = "accept"
    ANSWER = "answer"
    COMPLETE = "complete"
    FAIL = "fail"
    EXPIRE = "expire"
    ERROR = "error"
    RELEASE = "release"


class ContactState(StrEnum):
    """Where one contact stands within its campaign; `pending` waits for its `next_due_at`."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    EXHAUSTED = "exhausted"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    INVALID = "invalid"  # the number does not reach the person (disposition wrong_number)


class ContactEvent(StrEnum):
    """Dispatcher, consumer and operator decisions about one contact. The last four carry a
    disposition (`domain.dispositions`): it wins over the retry policy's decision, so they also
    move a contact the policy already settled (done or exhausted)."""

    DISPATCH = "dispatch"
    REDIAL = "redial"
    FINISH = "finish"
    EXHAUST = "exhaust"
    SUPPRESS = "suppress"
    CANCEL = "cancel"
    REARM = "rearm"
    RELEASE = "release"
    RESOLVE = "resolve"  # done: the goal was reached
    CALL_BACK = "call_back"  # callback: due again at the time asked for
    INVALIDATE = "invalidate"  # wrong_number
    BLOCK = "block"  # do_not_call


class CampaignState(StrEnum):
    """Campaign lifecycle. `start` on `completed` begins the next run of a recurring campaign;
    `rerun` opens a new run of a completed or cancelled one (the operator's choice, never the
    engine's)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class CampaignEvent(StrEnum):
    """Operator lifecycle verbs, plus `complete` raised by the engine when nothing is left to do."""

    SCHEDULE = "schedule"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    CANCEL = "cancel"
    RERUN = "rerun"


_AS, _AE = AttemptState, AttemptEvent

ATTEMPT_FINAL: Final = frozenset({_AS.COMPLETED, _AS.FAILED, _AS.LOST, _AS.ERROR, _AS.RELEASED})
"""Attempt states no event leaves."""

ATTEMPT_LIVE: Final = frozenset({_AS.SENDING, _AS.ACCEPTED, _AS.ANSWERED})
"""A call may exist: each holds a live-call slot until a notification or the deadline."""

# Steps of the worker/sweeper that come too late once the POST went out.
_LATE_DIAL_STEPS = (_AE.CLAIM, _AE.REQUEUE, _AE.SEND, _AE.RELEASE)
# What the gateway can tell about a call that was sent, in any order.
_FROM_GATEWAY = {
    _AE.ANSWER: _AS.ANSWERED,
    _AE.COMPLETE: _AS.COMPLETED,
    _AE.FAIL: _AS.FAILED,
    _AE.EXPIRE: _AS.LOST,
}

ATTEMPT_TABLE: Final[Table[AttemptState, AttemptEvent]] = declare(
    {
        _AS.QUEUED: {
            _AE.CLAIM: _AS.DIALING,
            _AE.REQUEUE: _AS.QUEUED,
            _AE.RELEASE: _AS.RELEASED,
        },
        _AS.DIALING: {
            _AE.CLAIM: _AS.DIALING,
            _AE.REQUEUE: _AS.QUEUED,
            _AE.SEND: _AS.SENDING,
            _AE.ERROR: _AS.ERROR,
            _AE.RELEASE: _AS.RELEASED,
        },
        # Notifications can beat the POST's own response, hence answer/complete/fail from here.
        _AS.SENDING: {
            **stay(_AS.SENDING, *_LATE_DIAL_STEPS),
            **_FROM_GATEWAY,
            _AE.ACCEPT: _AS.ACCEPTED,
            _AE.ERROR: _AS.ERROR,
        },
        # `error` here would contradict the POST's own success: left unlisted, so it raises.
        _AS.ACCEPTED: {
            **stay(_AS.ACCEPTED, *_LATE_DIAL_STEPS, _AE.ACCEPT),
            **_FROM_GATEWAY,
        },
        # An `error` from the POST path after the gateway reported an answer: the call exists,
        # the gateway's word wins.
        _AS.ANSWERED: {
            **stay(_AS.ANSWERED, *_LATE_DIAL_STEPS, _AE.ACCEPT, _AE.ANSWER, _AE.ERROR),
            **{e: s for e, s in _FROM_GATEWAY.items() if e is not _AE.ANSWER},
        },
        **{final: stay(final, *AttemptEvent) for final in ATTEMPT_FINAL},
    }
)

_CS, _CE = ContactState, ContactEvent

CONTACT_FINAL: Final = frozenset(
    {_CS.DONE, _CS.EXHAUSTED, _CS.SUPPRESSED, _CS.CANCELLED, _CS.INVALID}
)
"""Contact states the dispatcher never picks; only `rearm` reopens done, exhausted and cancelled
ones for a new run (a recurring run rearms done/exhausted, a rerun may take cancelled ones too),
and a disposition (`call_back`) done or exhausted ones. Suppressed and invalid stay closed for
good."""

# A disposition settles a contact whatever the retry policy made of the call: before the final
# (in flight), after it (pending again, done, exhausted), or before any call (an operator's).
_DISPOSED = {
    _CE.RESOLVE: _CS.DONE,
    _CE.CALL_BACK: _CS.PENDING,
    _CE.INVALIDATE: _CS.INVALID,
    _CE.BLOCK: _CS.SUPPRESSED,
}

CONTACT_TABLE: Final[Table[ContactState, ContactEvent]] = declare(
    {
        # finish on a pending contact would settle a call that is not out: unlisted. exhaust is
        # the dispatcher's: the calling window never opens again (campaign end passed).
        _CS.PENDING: {
            **stay(_CS.PENDING, _CE.REDIAL, _CE.REARM, _CE.RELEASE),
            _CE.DISPATCH: _CS.IN_FLIGHT,
            _CE.EXHAUST: _CS.EXHAUSTED,
            _CE.SUPPRESS: _CS.SUPPRESSED,
            _CE.CANCEL: _CS.CANCELLED,
            **_DISPOSED,
        },
        # A new run does not take a contact whose call is still out; its outcome decides.
        _CS.IN_FLIGHT: {
            **stay(_CS.IN_FLIGHT, _CE.DISPATCH, _CE.REARM),
            _CE.REDIAL: _CS.PENDING,
            _CE.RELEASE: _CS.PENDING,
            _CE.FINISH: _CS.DONE,
            _CE.EXHAUST: _CS.EXHAUSTED,
            _CE.SUPPRESS: _CS.SUPPRESSED,
            _CE.CANCEL: _CS.CANCELLED,
            **_DISPOSED,
        },
        **{
            ended: {**stay(ended, *ContactEvent), _CE.REARM: _CS.PENDING, **_DISPOSED}
            for ended in (_CS.DONE, _CS.EXHAUSTED)
        },
        # A cancelled contact's campaign is over: a late disposition changes nothing.
        _CS.CANCELLED: {**stay(_CS.CANCELLED, *ContactEvent), _CE.REARM: _CS.PENDING},
        _CS.SUPPRESSED: stay(_CS.SUPPRESSED, *ContactEvent),
        _CS.INVALID: stay(_CS.INVALID, *ContactEvent),
    }
)

_PS, _PE = CampaignState, CampaignEvent

# Verbs an operator may not use in a state stay unlisted, so the API can answer 409 with a reason.
CAMPAIGN_TABLE: Final[Table[CampaignState, CampaignEvent]] = declare(
    {
        _PS.DRAFT: {
            _PE.SCHEDULE: _PS.SCHEDULED,
            _PE.START: _PS.RUNNING,
            _PE.CANCEL: _PS.CANCELLED,
        },
        _PS.SCHEDULED: {
            _PE.SCHEDULE: _PS.SCHEDULED,
            _PE.START: _PS.RUNNING,
            _PE.CANCEL: _PS.CANCELLED,
        },
        _PS.RUNNING: {
            **stay(_PS.RUNNING, _PE.START, _PE.RESUME),
            _PE.PAUSE: _PS.PAUSED,
            _PE.COMPLETE: _PS.COMPLETED,
            _PE.CANCEL: _PS.CANCELLED,
        },
        _PS.PAUSED: {
            _PE.PAUSE: _PS.PAUSED,
            _PE.RESUME: _PS.RUNNING,
            _PE.CANCEL: _PS.CANCELLED,
        },
        _PS.COMPLETED: {
            _PE.START: _PS.RUNNING,
            _PE.COMPLETE: _PS.COMPLETED,
            _PE.CANCEL: _PS.CANCELLED,
            _PE.RERUN: _PS.RUNNING,
        },
        # `complete` is the engine's, not an operator's: losing a race to `cancel` is harmless.
        _PS.CANCELLED: {
            **stay(_PS.CANCELLED, _PE.CANCEL, _PE.COMPLETE),
            _PE.RERUN: _PS.RUNNING,
        },
    }
)


class RunState(StrEnum):
    """A run's state: a run is born `running` (or `skipped`, when its occurrence found the last
    run still going) and ends once."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class RunEvent(StrEnum):
    """What ends a run: its campaign completed (or the next occurrence began), or was cancelled."""

    COMPLETE = "complete"
    CANCEL = "cancel"


_RS, _RE = RunState, RunEvent

RUN_TABLE: Final[Table[RunState, RunEvent]] = declare(
    {
        _RS.RUNNING: {_RE.COMPLETE: _RS.COMPLETED, _RE.CANCEL: _RS.CANCELLED},
        # An ended run keeps its ending: a late complete after a cancel changes nothing.
        **{ended: stay(ended, *RunEvent) for ended in (_RS.COMPLETED, _RS.CANCELLED, _RS.SKIPPED)},
    }
)


def attempt_transition(state: AttemptState, event: AttemptEvent) -> Transition[AttemptState]:
    """The attempt machine; see the module docstring for what is a move, a no-op, or illegal."""
    return apply(ATTEMPT_TABLE, state, event)


def contact_transition(state: ContactState, event: ContactEvent) -> Transition[ContactState]:
    """The contact machine; suppressed contacts stay so even across new runs."""
    return apply(CONTACT_TABLE, state, event)


def campaign_transition(state: CampaignState, event: CampaignEvent) -> Transition[CampaignState]:
    """The campaign machine; lifecycle verbs are idempotent, so repeating one is a no-op."""
    return apply(CAMPAIGN_TABLE, state, event)


def run_transition(state: RunState, event: RunEvent) -> Transition[RunState]:
    """The run machine; a run ends once."""
    return apply(RUN_TABLE, state, event)
