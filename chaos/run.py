"""One chaos run: start the stack, create and start the campaign as an operator would, inject the
schedule, wait for the campaign to finish, then collect the witness and the engine's open rows.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bench.witness import sending_marks
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.domain.retry_policy import RetryPolicy
from campaign.domain.states import ATTEMPT_FINAL, ContactState
from chaos.faults import Injected, Injector
from chaos.judge import Limits, OpenDecisions, Verdict, judge
from chaos.plan import Kind, Size, phones, spec
from chaos.stack import ChaosStack
from chaos.supervisor import Exit, Supervisor

_OPEN_CONTACTS = (ContactState.PENDING.value, ContactState.IN_FLIGHT.value)
_FINAL_ATTEMPTS = tuple(s.value for s in ATTEMPT_FINAL)


@dataclass
class RunResult:
    """What the report needs: the verdict, the faults as injected, and the run's facts."""

    verdict: Verdict
    injected: list[Injected]
    started_epoch: float
    completed_s: float | None  # seconds after the start; None: not completed in time
    last_call_s: float | None
    log_dir: Path
    sim_stats: dict[str, Any]
    steady: dict[str, int] = field(default_factory=dict)
    engine_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    exits: list[Exit] = field(default_factory=list)


def steady_faults(records: list[dict[str, Any]]) -> dict[str, int]:
    """How often the faults that run throughout struck, and notifications the receiver missed."""
    notes = [n for r in records for n in r["notifications"]]
    return {
        "connection resets after placing": sum("connection_reset" in r["faults"] for r in records),
        "answered posted after the final": sum("reorder" in r["faults"] for r in records),
        "notifications posted twice": sum(bool(n["duplicate"]) for n in notes),
        "notifications not delivered": sum(not n["delivered"] for n in notes),
    }


def _with_burst(
    injected: list[Injected], refused: list[dict[str, Any]], started_epoch: float
) -> list[Injected]:
    """The 500 burst as the gateway saw it: how many dial-outs it refused, from when to when."""
    times = [float(r["at"]) - started_epoch for r in refused if r["reason"] == "burst_5xx"]
    note = (
        f"{len(times)} dial-outs refused with 500 from t={min(times):.1f} to t={max(times):.1f} s"
        if times
        else "no dial-out refused"
    )
    return [replace(i, note=note) if i.fault.kind is Kind.GATEWAY_500 else i for i in injected]


def _create(stack: ChaosStack, size: Size, numbers: list[str]) -> int:
    """`campaign create`, `campaign upload`, through the CLI as an operator would."""
    spec_file, contacts_file = stack.run_dir / "spec.json", stack.run_dir / "contacts.csv"
    spec_file.write_text(json.dumps(spec(size, f"chaos-{stack.seed}")))
    with contacts_file.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["phone", "external_id"])
        writer.writerows([number, f"c{i}"] for i, number in enumerate(numbers))
    campaign_id = int(json.loads(stack.cli("create", "-f", str(spec_file), "--json"))["id"])
    report = json.loads(stack.cli("upload", str(campaign_id), str(contacts_file), "--json"))
    if report["accepted"] != len(numbers):
        raise RuntimeError(f"upload accepted {report['accepted']} of {len(numbers)}: {report}")
    return campaign_id


def _read(stack: ChaosStack, query: Callable[[Any], Any]) -> Any:
    """A read on the run's database, or None while PostgreSQL is restarting."""
    try:
        with stack.runtime.sessions() as session:
            return query(session)
    except SQLAlchemyError:
        return None


def _wait_completed(
    stack: ChaosStack,
    campaign_id: int,
    t0: float,
    timeout_s: float,
    log: Callable[[str], None],
    supervisor: Supervisor,
) -> float | None:
    next_note = 0.0
    while (elapsed := time.monotonic() - t0) < timeout_s:
        state = _read(stack, lambda s: s.get_one(CampaignRow, campaign_id).state)
        if state == "completed":
            return elapsed
        if elapsed >= next_note:
            stats = stack.sim.stats()
            exits = [e.name for e in supervisor.exits]
            log(
                f"t={elapsed:6.1f} s  campaign {state}, {stats['placed']} calls placed, "
                f"{stats['live']} live; processes restarted after exiting: {exits or 'none'}"
            )
            next_note = elapsed + 10
        time.sleep(0.5)
    return None


def _open_decisions(stack: ChaosStack, campaign_id: int) -> OpenDecisions | None:
    def count(session: Any) -> OpenDecisions:
        contacts = session.scalar(
            select(func.count())
            .select_from(ContactRow)
            .where(ContactRow.campaign_id == campaign_id, ContactRow.state.in_(_OPEN_CONTACTS))
        )
        attempts = session.scalar(
            select(func.count())
            .select_from(AttemptRow)
            .where(AttemptRow.campaign_id == campaign_id, AttemptRow.state.not_in(_FINAL_ATTEMPTS))
        )
        return OpenDecisions(int(contacts or 0), int(attempts or 0))

    result: OpenDecisions | None = _read(stack, count)
    return result


def _sending_marks(stack: ChaosStack, records: list[dict[str, Any]]) -> dict[str, float]:
    """Each placed call's `sending` mark by its notifyurl: what lets the judge tell a second the
    engine crowded from one crowded on the way to the simulator. Empty when the database cannot
    be read, so that every crowded window counts."""
    secrets = stack.settings.notify_secrets
    marks: dict[str, float] | None = _read(stack, lambda s: sending_marks(s, records, secrets))
    return marks or {}


def _engine_rows(stack: ChaosStack, campaign_id: int, numbers: list[str]) -> dict[str, Any]:
    """The engine's attempts for numbers the judge flags: what it knew and decided, to compare
    with the simulator's records (diagnosis only; the verdict never reads them)."""
    if not numbers:
        return {}
    columns = (
        AttemptRow.phone,
        AttemptRow.id,
        AttemptRow.state,
        AttemptRow.outcome,
        AttemptRow.sid,
        AttemptRow.sending_at,
        AttemptRow.ended_at,
        AttemptRow.decision,
        AttemptRow.error,
    )

    def rows(session: Any) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {n: [] for n in numbers}
        query = (
            select(*columns)
            .where(AttemptRow.campaign_id == campaign_id, AttemptRow.phone.in_(numbers))
            .order_by(AttemptRow.id)
        )
        for row in session.execute(query):
            phone, *rest = row
            out[phone].append(
                {
                    c.key: (v.isoformat() if hasattr(v, "isoformat") else v)
                    for c, v in zip(columns[1:], rest, strict=True)
                }
            )
        return out

    return _read(stack, rows) or {}


def run(size: Size, seed: int, run_dir: Path, log: Callable[[str], None]) -> RunResult:
    """Run the campaign under the schedule and judge it; the stack is always torn down."""
    stack = ChaosStack(run_dir, size, seed)
    numbers = phones(size.contacts)
    log(f"logs of every process: {stack.log_dir}")
    try:
        stack.start()
        campaign_id = _create(stack, size, numbers)
        stack.cli("start", str(campaign_id))
        t0, started_epoch = time.monotonic(), time.time()
        log(f"campaign {campaign_id} started")
        supervisor = Supervisor(stack, t0)
        supervisor.start()
        injected = Injector(stack, t0, log).run(size.schedule)
        completed_s = _wait_completed(stack, campaign_id, t0, size.timeout_s, log, supervisor)
        exits = supervisor.stop()
        log(f"campaign completed at t={completed_s:.1f} s" if completed_s else "NOT completed")
        stack.sim.wait_quiet(timeout_s=60)
        records, refused, stats = stack.sim.calls(), stack.sim.refused(), stack.sim.stats()
        for name, data in (("calls", records), ("refused", refused), ("stats", stats)):
            (stack.log_dir / f"sim-{name}.json").write_text(json.dumps(data))
        verdict = judge(
            records,
            refused,
            numbers,
            RetryPolicy.from_dict(spec(size, "")["retry"]),
            Limits(size.cps, size.max_live),
            _open_decisions(stack, campaign_id),
            _sending_marks(stack, records),
        )
        flagged = [r.number for r in verdict.differing] + list(verdict.never_called)
        last = max((float(r["placed_at"]) for r in records), default=None)
        return RunResult(
            verdict=verdict,
            injected=_with_burst(injected, refused, started_epoch),
            started_epoch=started_epoch,
            completed_s=completed_s,
            last_call_s=None if last is None else last - started_epoch,
            log_dir=stack.log_dir,
            sim_stats=stats,
            steady=steady_faults(records),
            engine_rows=_engine_rows(stack, campaign_id, flagged[:50]),
            exits=exits,
        )
    finally:
        stack.close()
