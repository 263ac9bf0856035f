"""`campaign demo`: the whole system on one machine, a synthetic campaign, a final report.

`run` orchestrates; `stack` starts the processes under `supervisor`; `progress` draws the live
bars; `report` measures the result from PostgreSQL; `memory` sums the stack's RSS.
"""
