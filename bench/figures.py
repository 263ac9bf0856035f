"""Benchmark figures: what a suite measured, its target, and how the whole run is reported.

A figure's value is the median of its runs (the spread is printed, never averaged away); ratios are
computed inside one run and then the median is taken, so a slow run never pairs with a fast one.
Figures are printed and written, never asserted: a missed target is a finding, not a failure.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Figure:
    """One measured number; `runs` are the per-run values whose median is `value`."""

    name: str
    value: float
    unit: str
    target_min: float | None = None
    target_max: float | None = None
    runs: tuple[float, ...] = ()
    note: str = ""

    @property
    def met(self) -> bool | None:
        """True/False against the target; None when there is none."""
        if self.target_min is None and self.target_max is None:
            return None
        low = self.target_min is None or self.value >= self.target_min
        high = self.target_max is None or self.value <= self.target_max
        return low and high

    def target(self) -> dict[str, float]:
        """The `{"min": x, "max": y}` object of results.json (empty: no target)."""
        out: dict[str, float] = {}
        if self.target_min is not None:
            out["min"] = self.target_min
        if self.target_max is not None:
            out["max"] = self.target_max
        return out

    def to_json(self) -> dict[str, Any]:
        """The results.json entry: name, value, unit, and target only where there is one."""
        out: dict[str, Any] = {"name": self.name, "value": self.value, "unit": self.unit}
        if target := self.target():
            out["target"] = target
        return out


def figure(
    name: str,
    runs: Sequence[float],
    unit: str,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    note: str = "",
    digits: int = 3,
) -> Figure:
    """A figure whose value is the median of `runs`, rounded to `digits` decimals."""
    if not runs:
        raise ValueError(f"{name}: no runs to report")
    value = round(float(statistics.median(runs)), digits)
    return Figure(name, value, unit, at_least, at_most, tuple(round(r, digits) for r in runs), note)


@dataclass
class Report:
    """Every figure of a run, plus free-text sections (query plans, profiles) for the report."""

    figures: list[Figure] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)

    def add(self, figures: Iterable[Figure]) -> None:
        self.figures.extend(figures)

    def write_json(self, path: Path) -> None:
        """results.json: a list of figures in the issue's shape."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([f.to_json() for f in self.figures], indent=2) + "\n")

    def table(self, title: str) -> Table:
        """The printed table: value, target, verdict and every run's value."""
        table = Table(title=title, title_justify="left")
        for col in ("figure", "value", "unit", "target", "ok", "runs"):
            table.add_column(col, justify="right" if col in ("value", "runs") else "left")
        for f in self.figures:
            verdict = {None: "", True: "yes", False: "NO"}[f.met]
            target = " ".join(f"{k} {_num(v)}" for k, v in f.target().items())
            runs = ", ".join(_num(r) for r in f.runs) if len(f.runs) > 1 else ""
            table.add_row(f.name, _num(f.value), f.unit, target, verdict, runs)
        return table

    def markdown(self, header: str) -> str:
        """The same table and sections as Markdown, for BENCHMARKS.md."""
        lines = [header, "", "| figure | value | unit | target | met | runs |", "|---" * 6 + "|"]
        for f in self.figures:
            verdict = {None: "", True: "yes", False: "**no**"}[f.met]
            target = ", ".join(f"{k} {_num(v)}" for k, v in f.target().items())
            runs = ", ".join(_num(r) for r in f.runs) if len(f.runs) > 1 else ""
            cells = (f"`{f.name}`", _num(f.value), f.unit, target, verdict, runs)
            lines.append("| " + " | ".join(cells) + " |")
        for title, text in self.sections.items():
            lines += ["", f"### {title}", "", "```", text.rstrip(), "```"]
        return "\n".join(lines) + "\n"

    def print(self, console: Console, title: str) -> None:
        console.print(self.table(title))
        for name, text in self.sections.items():
            console.rule(name)
            console.print(text, markup=False, highlight=False)


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"


_REFERENCE_BODY = {"callSid": "CA0123456789", "status": "completed", "duration": 42, "amd": "human"}


def host_reference_ms(rounds: int = 7) -> list[float]:
    """Milliseconds this host takes for one fixed piece of pure-Python work, once per round.

    Two machines of the same kind ran the same commit's throughput suite at 11.8 and 28 CPU-ms
    per attempt on consecutive days, so a figure compares only with one taken on a host of the
    same speed, and this is how a reader tells (lower is faster; the bench reports the median).
    The work is the kind the engine's Python does most: small dicts and strings, JSON round
    trips, attribute access and calls; it runs before any suite, with nothing else of ours up.
    """
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(5_000):
            body = dict(_REFERENCE_BODY, attempt=i)
            text = json.dumps(body)
            parsed = json.loads(text)
            label = f"{parsed['status']}:{parsed['attempt']}:{len(text)}"
            _ = {key: str(value) for key, value in parsed.items() if key != label}
        timings.append(1000 * (time.perf_counter() - started))
    return timings


def machine() -> str:
    """One line describing the host: CPU, cores, memory, OS, Python, and the load right now."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in psutil.getloadavg())
    return (
        f"{cpu}, {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"load average {load} at start"
    )
