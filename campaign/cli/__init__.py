"""The `campaign` command: one entry point for operators and for every process of the system.

Commands live in small modules by audience (operator verbs, process runners, advice, the demo);
this module only assembles them and turns every failure into one line on stderr and a non-zero
exit, the contract scripts rely on: engine errors exit 1, usage errors 2, unreachable or
unmigrated servers 3.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import Annotated

import redis
import typer
from sqlalchemy.exc import DBAPIError, ProgrammingError

# Typer vendors click; its usage errors are not the `click` package's classes.
from typer._click.exceptions import ClickException

from campaign import DISTRIBUTION
from campaign.cli import account, advice, contacts, demo, events, forecast, operator, processes
from campaign.errors import CampaignError
from campaign.redact import redact

app = typer.Typer(
    name="campaign",
    help="Outbound call campaigns over the SAVG dial-out API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(version(DISTRIBUTION))
        raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="print the installed version and exit",
        ),
    ] = False,
) -> None:
    """Outbound call campaigns over the SAVG dial-out API."""


processes.register(app)
operator.register(app)
account.register(app)
contacts.register(app)
forecast.register(app)
events.register(app)
advice.register(app)
demo.register(app)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _error(message: str) -> None:
    """One line on stderr, URL passwords and notify tokens masked (a driver may quote a URL)."""
    sys.stderr.write(f"error: {redact(message)}\n")


def main() -> None:
    """Console-script entry: run the CLI with one-line errors."""
    try:
        code = app(standalone_mode=False, prog_name="campaign")
    except ClickException as exc:
        message = exc.format_message()
        if message:  # empty for `campaign` alone: the help it printed says it all
            ctx = getattr(exc, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            _error(f"{where}{message}")
        sys.exit(2)
    except CampaignError as exc:
        _error(str(exc))
        sys.exit(1)
    except ProgrammingError as exc:
        _error(f"database: {_first_line(exc)} (run `campaign db upgrade`?)")
        sys.exit(3)
    except DBAPIError as exc:
        _error(f"database unreachable or failing: {_first_line(exc)}")
        sys.exit(3)
    except redis.RedisError as exc:
        _error(f"redis unreachable or failing: {_first_line(exc)}")
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)
