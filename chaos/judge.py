"""The verdict on a chaos run, read from the gateway's records alone (pure: no I/O, no clock).

The simulator saw every call that was really placed and every notification it managed to deliver.
From that, each call's *engine-visible* outcome is replayed:

- a final notification delivered → the class of the call's true outcome;
- notifications delivered but no final → `lost` (the attempt waits out its full deadline);
- nothing delivered, the dial-out answered with a sid → `lost` (the silent deadline settles it);
- nothing delivered and the connection reset after placing (no sid) → `gateway_error`, not a call:
  the engine cannot tell this from a dial-out that never arrived, the documented residual risk.

A notification the receiver answered with a 5xx, or did not answer in time, may have been stored
all the same (a receiver that fails after its commit): such a call has more than one possible
engine-visible outcome, and a number agrees with the policy if any reading of its calls does.

The campaign's own retry policy (`RetryPolicy.decide`, the engine's pure decision) then says how
many calls each number should have had given those outcomes; any difference with the calls made
is a broken promise, as are numbers never called, two calls live to one number at once, more
calls in a 1-second window than `cps` (unless one of them reached the gateway later than the
pacing slack after the engine's `sending` mark, read from its tables: see
`bench.witness.late_free_windows`), more calls live at once than `max_live_calls`, one attempt
POSTed twice, and decisions still open once the campaign is over.

Refused dial-outs (a 500 burst, say) are not calls: they can only end an attempt as an uncounted
`gateway_error`, which changes no call count unless a number collects `gateway_error` endings up
to that class's `max`. The judge cannot attribute refusals to attempts exactly, so a number whose
refusals plus resets could reach that `max` is reported as not judgeable rather than guessed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.witness import crowded_windows, delays, duplicates, late_free_windows
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import RetryPolicy
from chaos.replay import Call, Replay, replay


def live_peaks(calls: Iterable[Call]) -> tuple[int, int]:
    """(most calls live at once, pairs of calls to one number live at the same time).

    A call is live from `placed_at` until `ended_at` (forever if it never ended); a call ending
    at the very instant another starts has freed its slot.
    """
    events: list[tuple[float, int, str]] = []
    for c in calls:
        events.append((c.placed_at, 1, c.number))
        events.append((float("inf") if c.ended_at is None else c.ended_at, -1, c.number))
    live: Counter[str] = Counter()
    total = peak = pairs = 0
    for _, step, number in sorted(events):
        if step > 0:
            pairs += live[number]
        live[number] += step
        total += step
        peak = max(peak, total)
    return peak, pairs


@dataclass(frozen=True)
class OpenDecisions:
    """From the engine's tables once the run is over: all must be zero."""

    contacts: int  # pending or in flight
    attempts: int  # queued, dialing, sending, accepted or answered


@dataclass(frozen=True)
class Limits:
    """The campaign's promises that the gateway can witness."""

    cps: float
    max_live: int


@dataclass(frozen=True)
class Verdict:
    """Everything the table and results.json show; `broken()` lists the promises not kept."""

    contacts: int
    calls_made: int
    calls_implied: int
    replays: tuple[Replay, ...]
    never_called: tuple[str, ...]
    strangers: tuple[str, ...]
    overlaps: int
    reposted: int
    limits: Limits
    over_limit_windows: int
    max_in_1s: int
    over_limit_at: tuple[tuple[float, int], ...]  # (epoch start, calls) of each crowded window
    late_free_windows: int  # crowded windows none of whose calls was delayed past the slack
    peak_live: int
    open: OpenDecisions | None
    residual_risk: int
    not_judgeable: tuple[str, ...]
    uncertain_calls: int = 0  # calls with a notification answered 5xx or not at all
    visible: Mapping[str, int] = field(default_factory=dict)
    refusals: Mapping[str, int] = field(default_factory=dict)

    @property
    def differing(self) -> tuple[Replay, ...]:
        """Numbers whose calls made differ from what the policy implies (never-called included)."""
        return tuple(r for r in self.replays if r.differs)

    def broken(self) -> list[str]:
        """The promises this run broke, each as one line; empty when every one held."""
        checks = [
            (self.never_called, f"{len(self.never_called)} contacts never called"),
            (self.differing, f"{len(self.differing)} numbers called other than the policy says"),
            (self.strangers, f"{len(self.strangers)} numbers called that are not contacts"),
            (self.overlaps, f"{self.overlaps} pairs of calls live to one number at once"),
            (self.reposted, f"{self.reposted} attempts POSTed more than once"),
            (self.late_free_windows, f"{self.late_free_windows} 1-s windows over the cps limit"),
            (self.peak_live > self.limits.max_live, f"peak live calls {self.peak_live} over cap"),
            (self.not_judgeable, f"{len(self.not_judgeable)} numbers the judge cannot replay"),
        ]
        out = [text for failed, text in checks if failed]
        if self.open is None:
            out.append("the engine's tables could not be read: decisions unknown")
        elif self.open.contacts or self.open.attempts:
            out.append(
                f"decisions still open: {self.open.contacts} contacts, "
                f"{self.open.attempts} attempts"
            )
        return out


def judge(
    records: Sequence[Mapping[str, Any]],
    refused: Sequence[Mapping[str, Any]],
    contacts: Sequence[str],
    policy: RetryPolicy,
    limits: Limits,
    open_decisions: OpenDecisions | None,
    marks: Mapping[str, float] | None = None,
) -> Verdict:
    """The verdict on a run from `GET /_sim/calls` and `/_sim/refused` rows, the campaign's
    contacts (E.164), its policy and limits, the engine's open decisions at the end, and each
    attempt's `sending` mark (epoch) by its notifyurl: a call without one excuses no window."""
    calls = sorted((Call.from_record(r) for r in records), key=lambda c: c.placed_at)
    by_number: defaultdict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_number[call.number].append(call)
    known = set(contacts)
    replays = tuple(replay(n, by_number.get(n, []), policy) for n in sorted(known))
    over, most = crowded_windows([c.placed_at for c in calls], limits.cps)
    peak, overlaps = live_peaks(calls)
    return Verdict(
        contacts=len(known),
        calls_made=len(calls),
        calls_implied=sum(r.implied for r in replays),
        replays=replays,
        never_called=tuple(sorted(known - set(by_number))),
        strangers=tuple(sorted(set(by_number) - known)),
        overlaps=overlaps,
        reposted=duplicates([{"url": c.notifyurl} for c in calls], "url"),
        limits=limits,
        over_limit_windows=len(over),
        max_in_1s=most,
        over_limit_at=tuple(over),
        late_free_windows=len(late_free_windows(delays(records, marks or {}), limits.cps)),
        peak_live=peak,
        open=open_decisions,
        residual_risk=sum(1 for c in calls if c.residual),
        uncertain_calls=sum(1 for c in calls if len(c.possible) > 1),
        not_judgeable=_not_judgeable(by_number, refused, policy),
        visible=dict(Counter(c.visible.value for c in calls)),
        refusals=dict(Counter(str(r["reason"]) for r in refused)),
    )


def _not_judgeable(
    by_number: Mapping[str, Sequence[Call]],
    refused: Sequence[Mapping[str, Any]],
    policy: RetryPolicy,
) -> tuple[str, ...]:
    """Numbers whose possible `gateway_error` endings (refusals + resets) could reach that
    class's `max`, where the replay would depend on which refusals the engine charged."""
    rule = policy.outcomes.get(OutcomeClass.GATEWAY_ERROR)
    if rule is not None and rule.max is None:
        return ()
    # Final (no rule): the first charged ending closes the contact, so one is already too many.
    limit = 1 if rule is None else rule.max or 1
    endings: Counter[str] = Counter("+" + _digits(r["target"]) for r in refused if r.get("target"))
    for number, calls in by_number.items():
        endings[number] += sum(1 for c in calls if c.residual)
    return tuple(sorted(n for n, count in endings.items() if count >= limit))


def _digits(target: object) -> str:
    return "".join(ch for ch in str(target) if ch.isdigit())
