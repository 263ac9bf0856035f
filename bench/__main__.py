"""`python -m bench [--quick | --size tiny] [--only SUITE,…]`: run the benchmark suites, print the
table, write `bench/results.json` (and the Markdown report to `out/bench-report.md`).

Each suite runs on a database and Redis prefix of its own and starts (and stops) the processes it
needs, so suites are independent and `--only` can re-run one. A suite that fails is reported and
the others still run; the exit status is then 1. Figures are never asserted here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from rich.console import Console

from bench.env import bench_settings
from bench.figures import Report, figure, host_reference_ms, machine

# Run order: the suites that need no stack first, ingest last (it depends on the upload path).
SUITES = ("claim", "pacing", "throughput", "notify", "forecast", "ingest", "console")
SIZES = {"full": "FULL", "quick": "QUICK", "tiny": "TINY"}
RESULTS = Path("bench/results.json")
MARKDOWN = Path("out/bench-report.md")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes (4-10 minutes, by host: BENCHMARKS.md)"
    )
    parser.add_argument("--size", choices=sorted(SIZES), help="full (default), quick or tiny")
    parser.add_argument("--only", help=f"comma-separated suites out of {', '.join(SUITES)}")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--markdown", type=Path, default=MARKDOWN)
    args = parser.parse_args(argv)
    args.size = args.size or ("quick" if args.quick else "full")
    args.suites = args.only.split(",") if args.only else list(SUITES)
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    return args


def run_suite(name: str, size: str, report: Report) -> None:
    """Run one suite at `size` on a fresh database and Redis prefix."""
    module: Any = importlib.import_module(f"bench.{name}")
    sizes = getattr(module, SIZES[size])
    with bench_settings() as settings:
        module.run(settings, sizes, report)


def _load_line(name: str, seconds: float, cpu0: Any, load0: float) -> str:
    cpu1 = psutil.cpu_times()
    total = sum(cpu1) - sum(cpu0)
    busy = 100 * (1 - (cpu1.idle - cpu0.idle) / total) if total > 0 else 0.0
    return (
        f"{name:<11} {seconds:5.0f} s   host CPU busy {busy:3.0f} %   "
        f"load average {load0:.1f} -> {psutil.getloadavg()[0]:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the selected suites; 0 when every suite produced its figures."""
    args = _parse(argv)
    console = Console()
    host = machine()
    started = datetime.now(UTC)
    console.print(f"[bold]bench[/] size={args.size} suites={','.join(args.suites)}\n{host}")
    report = Report()
    reference = figure("host_reference_ms", host_reference_ms(), "ms", digits=1)
    report.add([reference])
    console.print(f"host reference work: {reference.value} ms (lower is a faster host)")
    failed: list[str] = []
    load: list[str] = []
    for name in args.suites:
        t0, cpu0, load0 = time.monotonic(), psutil.cpu_times(), psutil.getloadavg()[0]
        console.rule(name)
        try:
            run_suite(name, args.size, report)
        except Exception:
            console.print_exception(max_frames=8)
            failed.append(name)
        load.append(_load_line(name, time.monotonic() - t0, cpu0, load0))
        console.print(load[-1])
    report.sections["machine load per suite (all processes on the host, not only ours)"] = (
        "\n".join(load)
    )
    title = f"bench ({args.size}) {started:%Y-%m-%d %H:%M} UTC"
    report.print(console, title)
    report.write_json(args.results)
    command = "make bench" if args.size == "full" else f"python -m bench --size {args.size}"
    header = (
        f"## {title}\n\nCommand: `{command}`"
        + (f" (`--only {args.only}`)" if args.only else "")
        + f"\n\nMachine: {host}; host reference work {reference.value} ms"
        + (f"\n\n**Failed suites:** {', '.join(failed)}" if failed else "")
    )
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(report.markdown(header))
    console.print(f"wrote {args.results} and {args.markdown}")
    if failed:
        console.print(f"[red]failed suites: {', '.join(failed)}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
