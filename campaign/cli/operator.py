"""Operator verbs: db upgrade, create, edit, upload, start/pause/resume/cancel, rerun, status,
export, policy check; `dnc …` is `campaign.cli.dnc`, registered in the same place.

Each command parses its arguments, opens one transaction, calls one service, and renders the
result for a person or, with `--json`, for a script. Errors are engine errors (CampaignError):
the root `main()` prints them as one line on stderr and exits 1, so every message here names the
file, line or field at fault.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from campaign.cli import dnc
from campaign.cli.common import (
    CampaignId,
    JsonFlag,
    Region,
    SpecFile,
    database_settings,
    emit,
    in_transaction,
    open_input,
    read_doc,
    spec_errors_in,
)
from campaign.cli.status_view import render_status, watch_status
from campaign.clock import utcnow
from campaign.domain.calling_window import CallingWindow
from campaign.domain.pacing import PacingLimits
from campaign.domain.retry_policy import RetryPolicy
from campaign.errors import SpecInvalid
from campaign.runtime import Runtime
from campaign.services import (
    campaigns,
    lifecycle,
    reporting,
    reruns,
    uploads,
)
from campaign.services.csv_files import REPORT_ROWS
from campaign.services.export import write_export

# Validation workers run niced, so PostgreSQL and the writer (the serial part) keep priority.
_DEFAULT_WORKERS = os.cpu_count() or 1
_BLOCKS: dict[str, Callable[[Any, str], Any]] = {
    "retry": RetryPolicy.from_dict,
    "window": CallingWindow.from_dict,
    "pacing": PacingLimits.from_dict,
}


def db_upgrade() -> None:
    """Apply database migrations (safe to repeat)."""
    from campaign.db.migrate import upgrade

    upgrade(database_settings().sqlalchemy_url)
    typer.echo("database is at the latest schema")


def create(file: SpecFile, as_json: JsonFlag = False) -> None:
    """Create a campaign from a spec; prints its id."""
    doc = read_doc(file)
    view = spec_errors_in(file, lambda: in_transaction(lambda s: campaigns.create_campaign(s, doc)))
    emit(as_json, {"id": view.id, "spec": view.spec}, str(view.id))


def edit(campaign_id: CampaignId, file: SpecFile, as_json: JsonFlag = False) -> None:
    """Replace the pacing, retry and window blocks of a campaign (takes effect on the next call)."""
    doc = read_doc(file)
    view = spec_errors_in(
        file, lambda: in_transaction(lambda s: campaigns.edit_campaign(s, campaign_id, doc))
    )
    emit(as_json, {"id": view.id, "spec": view.spec}, f"campaign {view.id} updated")


def upload(
    campaign_id: CampaignId,
    file: Annotated[Path, typer.Argument(help="contacts CSV", show_default=False)],
    region: Region = None,
    rejects_csv: Annotated[
        Path | None, typer.Option("--rejects-csv", help="write rejected rows to this CSV")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="validation processes for files over 5,000 rows (0: none)")
    ] = _DEFAULT_WORKERS,
    as_json: JsonFlag = False,
) -> None:
    """Import contacts; prints accepted, duplicates, suppressed and every rejected row."""
    with open_input(file) as stream:
        report = in_transaction(
            lambda s: reruns.after_upload(
                s,
                campaign_id,
                uploads.import_contacts(
                    s,
                    campaign_id,
                    stream,
                    now=utcnow(),
                    default_region=region,
                    name=str(file),
                    workers=workers,
                    keep=None if rejects_csv is not None else REPORT_ROWS,
                ),
                now=utcnow(),
            )
        )
    if rejects_csv is not None:
        with rejects_csv.open("w", newline="", encoding="utf-8") as out:
            report.write_rejects_csv(out)
    lines = [
        f"accepted {report.accepted}, duplicates {report.duplicates}, "
        f"suppressed {report.suppressed}, rejected {report.rejected_total}",
        *(f"  line {p.line}: {p.value!r}: {p.reason}" for p in report.rejected[:20]),
    ]
    if report.rejected_total > 20:
        lines.append(f"  … {report.rejected_total - 20} more (--rejects-csv for all)")
    if report.note:
        lines.append(report.note)
    emit(as_json, report.to_dict(), "\n".join(lines))


def _verb(name: str, action: Callable[[Session, int], lifecycle.LifecycleResult]) -> Any:
    def command(campaign_id: CampaignId, as_json: JsonFlag = False) -> None:
        result = in_transaction(lambda s: action(s, campaign_id))
        verb = "now" if result.changed else "already"
        text = f"campaign {result.id} {verb} {result.state}"
        if name == "start" and result.state == "completed":  # a one-shot run that is over
            text += f" (`campaign rerun {result.id}` opens a new run)"
        emit(as_json, result.to_dict(), text)

    command.__doc__ = f"{name.capitalize()} a campaign (repeating it changes nothing)."
    return command


def rerun(
    campaign_id: CampaignId,
    outcomes: Annotated[
        str | None,
        typer.Option(
            "--outcomes",
            metavar="CLASS,...",
            help="reopen contacts whose last outcome is one of these (done ones too); "
            "default: every contact not done or suppressed",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Open a new run of a completed or cancelled campaign; prints the run and how many
    contacts it reopened."""
    classes = None if outcomes is None else reruns.parse_outcomes(outcomes.split(","))
    result = in_transaction(lambda s: reruns.rerun(s, campaign_id, now=utcnow(), outcomes=classes))
    text = f"campaign {result.id}: run {result.run} opened, {result.reopened} contacts reopened"
    emit(as_json, result.to_dict(), text)


def status(
    campaign_id: CampaignId,
    watch: Annotated[bool, typer.Option("--watch", help="refresh with progress bars")] = False,
    interval: Annotated[float, typer.Option(help="seconds between refreshes")] = 2.0,
    as_json: JsonFlag = False,
) -> None:
    """Counts by contact state and outcome, live calls, calls/s, ETA, waiting reasons, runs."""

    runtime = Runtime(database_settings())
    breakers = runtime.read_breaker if runtime.settings.redis_url else None

    def read() -> reporting.CampaignStatus:
        return in_transaction(
            lambda s: reporting.campaign_status(s, campaign_id, utcnow(), breakers)
        )

    try:
        if watch:
            watch_status(read, interval=interval, as_json=as_json)
        elif as_json:
            typer.echo(json.dumps(read().to_dict()))
        else:
            render_status(read())
    finally:
        runtime.close()


def export(
    campaign_id: CampaignId,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV file to write; - = stdout")],
) -> None:
    """Write one CSV row per attempt (streamed from the database)."""
    if str(output) == "-":
        in_transaction(lambda s: write_export(s, campaign_id, sys.stdout))
        return
    with output.open("w", newline="", encoding="utf-8") as out:
        count = in_transaction(lambda s: write_export(s, campaign_id, out))
    typer.echo(f"wrote {count} attempts to {output}")


def policy_check(file: SpecFile, as_json: JsonFlag = False) -> None:
    """Validate a whole spec, or a file of just retry/window/pacing blocks; stores nothing."""
    doc = read_doc(file)
    if isinstance(doc, dict) and doc and set(doc) <= set(_BLOCKS):
        problems: list[str] = []
        echo: dict[str, Any] = {}
        for key, value in doc.items():
            try:
                echo[key] = _BLOCKS[key](value, key).to_dict()
            except SpecInvalid as exc:
                problems.extend(exc.errors)
        spec_errors_in(file, lambda: _raise_if(problems))
    else:
        echo = spec_errors_in(file, lambda: campaigns.validate_spec(doc))
    emit(as_json, {"valid": True, "spec": echo}, f"{file}: valid")


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise SpecInvalid(problems)


def register(app: typer.Typer) -> None:
    """Add the operator commands to the root `campaign` app."""
    db = typer.Typer(help="Database schema.", no_args_is_help=True)
    db.command("upgrade")(db_upgrade)
    app.add_typer(db, name="db")
    for command in (create, edit, upload, rerun, status, export):
        app.command()(command)
    for name, action in (
        ("start", lambda s, cid: lifecycle.start(s, cid, now=utcnow())),
        ("pause", lambda s, cid: lifecycle.pause(s, cid)),
        ("resume", lambda s, cid: lifecycle.resume(s, cid)),
        ("cancel", lambda s, cid: lifecycle.cancel(s, cid, now=utcnow())),
    ):
        app.command(name)(_verb(name, action))
    dnc.register(app)
    policy = typer.Typer(help="Spec and policy checks.", no_args_is_help=True)
    policy.command("check")(policy_check)
    app.add_typer(policy, name="policy")
