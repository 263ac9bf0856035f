"""`campaign demo`: the whole system on one machine, a synthetic campaign, a final report.

`run` orchestrates; `stack` starts the processes under `supervisor`; `progress` draws the live
bars; `report` measures the result from PostgreSQL; `memory` sums the stack's RSS. The demo needs
the `embedded` extra (psutil, embedded servers), so nothing outside this package imports it at
module load: the production image installs no extras.
"""

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
"""The demo's inputs (spec, contacts, do-not-call list, simulator mix) live in the source tree
next to the packages; an installed wheel does not carry them."""
