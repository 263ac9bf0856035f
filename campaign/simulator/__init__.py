"""A stand-in for the SAVG gateway: the dial-out endpoint, notifications, limits and faults.

Tests, the demo and the benchmarks dial it instead of a real carrier and read its records
(`/_sim/calls`, `/_sim/stats`) as an independent witness. Production code never imports it.
Entry points: :func:`run` (what `campaign simulator` calls), :class:`SimConfig`, and the typed
client :class:`campaign.simulator.control.SimControl`.
"""

from campaign.simulator.config import SimConfig, load_config
from campaign.simulator.server import run

__all__ = ["SimConfig", "load_config", "run"]
