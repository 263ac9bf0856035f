"""`python -m chaos [--quick] [--dry-run]`: one campaign under every fault, judged from the
gateway's records; prints the table, writes `chaos/results.json`.

Exit status: 0 when every promise held, 1 when one broke, 2 when the run itself is not valid
(a fault met no running campaign, a fault could not be injected, or the stack failed to start).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from rich.console import Console

from bench.figures import machine
from chaos import report
from chaos.plan import FULL, QUICK, dry_run
from chaos.run import RunResult, run

RESULTS = Path("chaos/results.json")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a few dozen contacts, one of each fault"
    )
    parser.add_argument("--contacts", type=int, help="override the number of contacts")
    parser.add_argument("--seed", type=int, default=11, help="the simulator's dice")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, start nothing")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--run-dir", type=Path, help="logs and servers (default: a temp folder)")
    return parser.parse_args(argv)


def invalid(result: RunResult) -> list[str]:
    """Why this run proves less than it claims: faults that met an idle system or failed."""
    problems = [
        f"{i.fault.kind} at t={i.began_s:.1f} s came after the last call"
        for i in result.injected
        if result.last_call_s is None or i.began_s > result.last_call_s
    ]
    problems += [f"{i.fault.kind}: {i.note}" for i in result.injected if "FAILED" in i.note]
    problems += [
        f"the simulator exited at t={e.at_s:.1f} s: the witness lost its records"
        for e in result.exits
        if e.name == "simulator"
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    size = QUICK if args.quick else FULL
    if args.contacts:
        size = replace(size, contacts=args.contacts)
    console = Console(width=max(Console().width, 140))
    console.print(f"[bold]chaos[/] {'quick' if args.quick else 'full'}\n{dry_run(size)}")
    if args.dry_run:
        return 0
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="chaos-"))
    host, started = machine(), datetime.now(UTC)
    cpu0, t0 = psutil.cpu_times(), time.monotonic()
    result = run(size, args.seed, run_dir, lambda line: console.print(line, highlight=False))
    cpu1 = psutil.cpu_times()
    busy = 100 * (1 - (cpu1.idle - cpu0.idle) / max(sum(cpu1) - sum(cpu0), 1e-9))
    load = (
        f"host CPU busy {busy:.0f} % over the run, "
        f"load average {psutil.getloadavg()[0]:.1f} at the end"
    )
    title = f"chaos ({'quick' if args.quick else 'full'}) {started:%Y-%m-%d %H:%M} UTC"
    report.print_table(result, title, console)
    problems = invalid(result)
    for problem in problems:
        console.print(f"[bold yellow]run not valid:[/] {problem}")
    meta = {
        "title": title,
        "command": "make chaos" if not args.quick else "python -m chaos --quick",
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "machine": host,
        "load": load,
        "seed": args.seed,
        "size": {k: v for k, v in vars(size).items() if k != "schedule"},
        "invalid": problems,
    }
    report.write_json(result, args.results, meta)
    (result.log_dir / "report.md").write_text(
        f"## {title}\n\n{host}; {load}\n\n{report.markdown(result)}"
    )
    console.print(
        f"{host}; {load}\nwrote {args.results} and {result.log_dir / 'report.md'}; "
        f"process logs in {result.log_dir}"
    )
    if problems:
        return 2
    return 1 if result.verdict.broken() else 0


if __name__ == "__main__":
    sys.exit(main())
