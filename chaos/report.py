"""The chaos run's table (terminal and Markdown) and `chaos/results.json`.

One list of rows feeds both renderings, so RELIABILITY.md can carry exactly what the terminal
showed.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from campaign.domain.pacing import JITTER_SLACK_MS
from chaos.judge import Verdict
from chaos.run import RunResult

Row = tuple[str, str, str]  # section, what, value
_SHOWN = 12  # numbers listed in a cell before "…"


def _numbers(items: list[str]) -> str:
    more = f" … (+{len(items) - _SHOWN})" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _open(v: Verdict) -> str:
    if v.open is None:
        return "unknown: the engine's tables could not be read"
    return f"{v.open.contacts} contacts pending/in flight, {v.open.attempts} attempts not final"


def rows(result: RunResult) -> list[Row]:
    """The table: faults injected with their times, then every promise with its number."""
    v = result.verdict
    out: list[Row] = [
        (
            "faults",
            f"t={i.began_s:5.1f}-{i.ended_s:5.1f} s",
            i.fault.describe() + (f" ({i.note})" if i.note else ""),
        )
        for i in result.injected
    ]
    out += [("faults", "throughout", f"{name}: {count}") for name, count in result.steady.items()]
    out += [
        ("exit", f"t={e.at_s:5.1f} s", f"{e.name} exited (code {e.code}), restarted: {e.cause}")
        for e in result.exits
    ]
    differing = [
        f"{r.number} made {r.made}, policy {'>=' if r.wants_more else ''}{r.implied} "
        f"[{' '.join(r.outcomes)}]"
        for r in v.differing
    ]
    never = list(v.never_called)
    completed = (
        f"completed at t={result.completed_s:.1f} s" if result.completed_s else "NOT completed"
    )
    last = "-" if result.last_call_s is None else f"{result.last_call_s:.1f}"
    out += [
        ("run", "campaign", f"{completed}; last call placed at t={last} s"),
        ("run", "contacts", str(v.contacts)),
        ("promise", "calls made vs policy implies", f"{v.calls_made} vs {v.calls_implied}"),
        ("promise", "numbers whose calls differ", f"{len(differing)} {_numbers(differing)}"),
        ("promise", "contacts never called", f"{len(never)} {_numbers(never)}"),
        ("promise", "numbers not in the campaign called", str(len(v.strangers))),
        ("promise", "numbers called twice at once (overlaps)", str(v.overlaps)),
        ("promise", "attempts POSTed more than once", str(v.reposted)),
        (
            "promise",
            f"calls over {v.limits.cps:g} cps in a 1-s window",
            f"{v.over_limit_windows} windows over, {v.late_free_windows} of them with no call "
            f"delayed on the way past the {JITTER_SLACK_MS:g} ms slack; "
            f"most in any 1 s: {v.max_in_1s}" + _crowded(result),
        ),
        ("promise", "peak live calls vs cap", f"{v.peak_live} / {v.limits.max_live}"),
        ("promise", "decisions still open at the end", _open(v)),
        ("promise", "numbers the judge cannot replay", str(len(v.not_judgeable))),
        (
            "residual",
            "placed calls the engine rightly took as not placed",
            f"{v.residual_risk} (reset after placing, every notification lost)",
        ),
        (
            "witness",
            "calls with a notification answered 5xx or not at all (either reading accepted)",
            f"{v.uncertain_calls}; numbers that agree only if it was stored: "
            f"{sum(r.uncertain for r in v.replays)}",
        ),
        ("witness", "engine-visible outcomes", _counts(v.visible)),
        ("witness", "refused dial-outs", _counts(v.refusals) or "none"),
    ]
    return out


def _crowded(result: RunResult) -> str:
    """When the crowded windows began, in seconds after the start, merged where they touch."""
    spans: list[list[float]] = []
    for at, _ in result.verdict.over_limit_at:
        t = at - result.started_epoch
        if spans and t <= spans[-1][1] + 1:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    return "".join(f"; t={a:.1f}-{b + 1:.1f} s" for a, b in spans)


def _counts(counts: Any) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def verdict_line(result: RunResult) -> str:
    broken = result.verdict.broken()
    return "every promise held" if not broken else "BROKEN: " + "; ".join(broken)


def print_table(result: RunResult, title: str, console: Console) -> None:
    table = Table(title=title, show_lines=False)
    for column in ("", "what", "value"):
        table.add_column(column, overflow="fold")
    for section, what, value in rows(result):
        table.add_row(section, what, escape(value))  # "[Errno 111]" is text, not markup
    console.print(table)
    style = "green" if not result.verdict.broken() else "bold red"
    console.print(f"[{style}]{verdict_line(result)}[/]")


def markdown(result: RunResult) -> str:
    """The same table in Markdown, for RELIABILITY.md."""
    lines = ["| | what | value |", "| --- | --- | --- |"]
    lines += [f"| {s} | {w} | {v.replace('|', '/')} |" for s, w, v in rows(result)]
    return "\n".join([*lines, "", f"**Verdict:** {verdict_line(result)}", ""])


def write_json(result: RunResult, path: Path, meta: dict[str, Any]) -> None:
    """`chaos/results.json`: the run's facts, every figure, the broken promises, and for each
    number that differs the simulator's outcomes beside the engine's attempt rows."""
    v = result.verdict
    data = {
        **meta,
        "broken": v.broken(),
        "completed_s": result.completed_s,
        "last_call_s": result.last_call_s,
        "faults": [
            {
                **asdict(i.fault),
                "began_s": round(i.began_s, 2),
                "ended_s": round(i.ended_s, 2),
                "note": i.note,
            }
            for i in result.injected
        ],
        "throughout": result.steady,
        "contacts": v.contacts,
        "calls_made": v.calls_made,
        "calls_implied": v.calls_implied,
        "differing": [asdict(r) for r in v.differing],
        "never_called": list(v.never_called),
        "strangers": list(v.strangers),
        "overlaps": v.overlaps,
        "reposted": v.reposted,
        "cps": v.limits.cps,
        "over_limit_windows": v.over_limit_windows,
        "over_limit_windows_late_free": v.late_free_windows,
        "max_in_1s": v.max_in_1s,
        "over_limit_windows_at_s": [
            [round(at - result.started_epoch, 3), n] for at, n in v.over_limit_at
        ],
        "max_live_calls": v.limits.max_live,
        "peak_live": v.peak_live,
        "open": None if v.open is None else asdict(v.open),
        "residual_risk": v.residual_risk,
        "uncertain_calls": v.uncertain_calls,
        "agree_only_if_stored": [r.number for r in v.replays if r.uncertain],
        "not_judgeable": list(v.not_judgeable),
        "visible_outcomes": dict(v.visible),
        "refusals": dict(v.refusals),
        "simulator_stats": {
            k: result.sim_stats.get(k)
            for k in (
                "placed",
                "accepted",
                "refused",
                "max_cps_1s_window",
                "peak_concurrent",
                "overlaps",
                "notifications",
            )
        },
        "engine_rows_of_flagged_numbers": result.engine_rows,
        "exits": [asdict(e) for e in result.exits],
        "log_dir": str(result.log_dir),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
