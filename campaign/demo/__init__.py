"""`campaign demo`: the whole system on one machine, a synthetic campaign, a final report.

`run` orchestrates; `stack` starts the processes under `supervisor`; `progress` draws the live
bars; `report` measures the result from PostgreSQL; `memory` sums the stack's RSS. `run`, `stack`,
`supervisor`, `servers` and `memory` need the `embedded` extra (psutil), so the `campaign` CLI
imports them only when `campaign demo` runs.
"""

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
"""The example spec and contacts the demo runs by default."""
