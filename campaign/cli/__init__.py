"""The `campaign` command: one entry point for operators and for every process of the system.

Commands live in small modules by audience (operator verbs, process runners, the demo); this
module only assembles them. Errors from the engine become one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys

import typer

from campaign.cli import advice, demo, operator, processes
from campaign.errors import CampaignError

app = typer.Typer(
    name="campaign",
    help="Outbound call campaigns over the SAVG dial-out API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
processes.register(app)
operator.register(app)
advice.register(app)
demo.register(app)


def main() -> None:
    """Console-script entry: run the CLI; engine errors print one line and exit 1."""
    try:
        app()
    except CampaignError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
