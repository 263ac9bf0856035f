"""`campaign forecast`: when a campaign will be done, for a stored campaign or a what-if.

`campaign forecast ID` reads the campaign; `campaign forecast -f SPEC --contacts FILE.csv` judges
the file as an upload would and forecasts it without creating anything (no database needed).
`--cps` and `--max-live-calls` replace the spec's pacing, to compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

# The operator verbs' own helpers, so this command opens sessions and reads files as they do.
from campaign.cli.common import JsonFlag, Region, emit, in_transaction, open_input, read_doc
from campaign.cli.forecast_view import forecast_rows
from campaign.clock import utcnow
from campaign.domain.pacing import MAX_CPS
from campaign.errors import InvalidInput, SpecInvalid
from campaign.services.forecast import DEFAULT_SEED, forecast_campaign
from campaign.services.forecast_what_if import forecast_what_if


def _what_if(
    spec_file: Path,
    contacts: Path,
    region: str | None,
    cps: float | None,
    live: int | None,
    seed: int,
) -> tuple[dict[str, Any], str]:
    doc = read_doc(spec_file)
    with open_input(contacts) as stream:
        try:
            result, read = forecast_what_if(
                doc,
                stream,
                name=str(contacts),
                now=utcnow(),
                default_region=region,
                cps=cps,
                max_live_calls=live,
                seed=seed,
            )
        except SpecInvalid as exc:
            raise SpecInvalid([f"{spec_file}: {exc.errors[0]}", *exc.errors[1:]]) from exc
    data = {**result.to_dict(), "upload": read.to_dict()}
    title = (
        f"what-if: {read.accepted} contacts ({read.duplicates} duplicates, "
        f"{len(read.rejected)} rejected rows not counted)"
    )
    return data, title


def forecast(
    campaign_id: Annotated[
        int | None, typer.Argument(help="campaign id", metavar="[ID]", show_default=False)
    ] = None,
    spec_file: Annotated[
        Path | None, typer.Option("-f", "--file", help="what-if: spec file (YAML or JSON)")
    ] = None,
    contacts: Annotated[
        Path | None, typer.Option("--contacts", help="what-if: contacts CSV")
    ] = None,
    cps: Annotated[
        float | None, typer.Option("--cps", min=0, max=MAX_CPS, help="pace to assume")
    ] = None,
    max_live_calls: Annotated[
        int | None, typer.Option("--max-live-calls", min=1, help="live-call cap to assume")
    ] = None,
    region: Region = None,
    seed: Annotated[int, typer.Option(help="Monte-Carlo seed")] = DEFAULT_SEED,
    as_json: JsonFlag = False,
) -> None:
    """When the campaign will be done, the calls it takes and the people it reaches."""
    if campaign_id is None:
        if spec_file is None or contacts is None:
            raise InvalidInput(
                "forecast: give a campaign ID, or -f SPEC with --contacts FILE.csv (what-if)"
            )
        data, title = _what_if(spec_file, contacts, region, cps, max_live_calls, seed)
    else:
        if spec_file is not None or contacts is not None:
            raise InvalidInput("forecast: give a campaign ID or -f SPEC --contacts FILE, not both")
        cid = campaign_id
        result = in_transaction(
            lambda s: forecast_campaign(
                s, cid, now=utcnow(), seed=seed, cps=cps, max_live_calls=max_live_calls
            )
        )
        data = result.to_dict()
        title = f"campaign {campaign_id}" + (f" · run {result.run}" if result.run else "")
    if as_json:
        emit(True, data, "")
        return
    table = Table(title=f"forecast · {title}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, text in forecast_rows(data):
        table.add_row(label, text)
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add `campaign forecast` to the root app."""
    app.command()(forecast)
