"""Process entry of the simulator.

`python -m campaign.simulator --host H --port P [--config FILE.json] [--time-scale X] [--seed N]`
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from campaign.errors import InvalidInput
from campaign.settings import load_settings
from campaign.simulator.auth import Credentials
from campaign.simulator.config import load_config
from campaign.simulator.server import run


def main(argv: list[str] | None = None) -> None:
    """Parse the flags; the config is defaults < file or $SIM_CONFIG_FILE < $SIM_CONFIG < flags."""
    parser = argparse.ArgumentParser(prog="python -m campaign.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--config", type=Path, help="JSON file with a (partial) SimConfig")
    parser.add_argument("--time-scale", type=float, help="wall seconds per simulated second")
    parser.add_argument("--seed", type=int, help="seed for outcomes and faults")
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings.production:
        raise InvalidInput(
            "simulator: ENVIRONMENT=production refuses the SAVG simulator "
            "(it accepts any dial-out and fakes every outcome); run it only in development"
        )
    config = load_config(args.config, time_scale=args.time_scale, seed=args.seed)
    run(args.host, args.port, config, Credentials.from_settings(settings))


if __name__ == "__main__":
    try:
        main()
    except InvalidInput as exc:
        sys.exit(f"error: {exc}")
