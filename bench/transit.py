"""Where a pacing run's crowded seconds come from: `python -m bench.transit [--cps 50] [--runs 2]`.

The witness (`bench.witness`) counts calls where the simulator recorded them. This runs the
pacing suite's own campaign (`bench.pacing.dial_ours`) and puts each call's `placed_at` beside its
attempt's times in PostgreSQL: the `sending` mark, and the POST's start (`accepted_at` minus the
POST's latency, good to a few ms). Over-limit windows counted by the POST's start are what the
engine sent; counted at the simulator they add the transit from there (the client, the network,
the simulator's event loop on the same cores).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sqlalchemy import text

from bench.env import bench_settings, running_stack
from bench.pacing import FULL, NO_FAULTS, Numbers, dial_ours
from bench.runs import PACING_SIM, start_loop
from bench.witness import attempt_of, windows_over

_TIMES = text("""
    SELECT id, extract(epoch FROM sending_at),
           extract(epoch FROM accepted_at) - dial_latency_ms / 1000.0
    FROM attempts WHERE accepted_at IS NOT NULL
""")


def _quantiles(values: Sequence[float]) -> str:
    ordered = sorted(values)
    at = [ordered[min(len(ordered) - 1, int(len(ordered) * q))] for q in (0.5, 0.9, 0.99)]
    return "p50 {:.1f}, p90 {:.1f}, p99 {:.1f}, max {:.1f} ms".format(*at, ordered[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cps", type=int, default=50)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with bench_settings() as settings, running_stack(settings, PACING_SIM) as stack:
        start_loop(stack, FULL.workers, FULL.concurrency, FULL.dispatchers)
        numbers = Numbers()
        for run in range(args.runs):
            seen = dial_ours(stack, numbers, args.cps, 20, max(20, args.cps), NO_FAULTS)
            with stack.runtime.sessions() as session:
                rows = session.execute(_TIMES).all()
            times = {row[0]: (float(row[1]), float(row[2])) for row in rows}
            placed, mark_to_post, post_to_sim = [], [], []
            for call in stack.sim.calls():
                attempt_id = attempt_of(call, settings.notify_secrets)
                if attempt_id in times:
                    sending, post = times[attempt_id]
                    placed.append(float(call["placed_at"]))
                    mark_to_post.append((post - sending) * 1000)
                    post_to_sim.append((placed[-1] - post) * 1000)
            posts = sorted(post for _, post in times.values())
            print(f"run {run}: ratio {seen.ratio:.3f}, {len(placed)} calls")
            for where, starts in (("at the simulator", sorted(placed)), ("by POST start", posts)):
                over, most = windows_over(starts, args.cps)
                print(f"  windows over {args.cps} {where}: {over} (most calls in 1 s: {most})")
            print(f"  sending mark -> POST start: {_quantiles(mark_to_post)}")
            print(f"  POST start -> simulator: {_quantiles(post_to_sim)}")


if __name__ == "__main__":
    main()
