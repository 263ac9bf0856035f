"""Operator verbs: db upgrade, create, edit, upload, start/pause/resume/cancel, rerun, status,
export, dnc add/import/remove/list, policy check.

Each command parses its arguments, opens one transaction, calls one service, and renders the
result for a person or, with `--json`, for a script. Errors are engine errors (CampaignError):
the root `main()` prints them as one line on stderr and exits 1, so every message here names the
file, line or field at fault.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from campaign.cli.status_view import render_status, watch_status
from campaign.clock import utcnow
from campaign.db.engine import make_engine, make_session_factory, transaction
from campaign.domain.calling_window import CallingWindow
from campaign.domain.pacing import PacingLimits
from campaign.domain.retry_policy import RetryPolicy
from campaign.errors import CampaignError, InvalidInput, SpecInvalid
from campaign.runtime import Runtime
from campaign.services import (
    audit,
    campaigns,
    dnc_admin,
    event_outbox,
    lifecycle,
    reporting,
    reruns,
    uploads,
)
from campaign.services.csv_files import REPORT_ROWS
from campaign.services.export import write_export
from campaign.services.spec_text import read_spec_text
from campaign.settings import Settings, get_settings

T = TypeVar("T")
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]
CampaignId = Annotated[int, typer.Argument(help="campaign id", metavar="ID", show_default=False)]
SpecFile = Annotated[Path, typer.Option("-f", "--file", help="spec file (YAML or JSON)")]
Region = Annotated[
    str | None, typer.Option("--region", help="region for numbers without +, e.g. US")
]
# Validation workers run niced, so PostgreSQL and the writer (the serial part) keep priority.
_DEFAULT_WORKERS = os.cpu_count() or 1
_BLOCKS: dict[str, Callable[[Any, str], Any]] = {
    "retry": RetryPolicy.from_dict,
    "window": CallingWindow.from_dict,
    "pacing": PacingLimits.from_dict,
}


def _settings() -> Settings:
    settings = get_settings()
    if settings.database_url is None:
        raise InvalidInput("DATABASE_URL is not set: point it at the campaign PostgreSQL")
    return settings


@contextmanager
def _open_input(file: Path) -> Iterator[IO[bytes]]:
    """The file opened for reading; an unreadable one is an error naming it, not a traceback."""
    try:
        stream = file.open("rb")
    except OSError as exc:
        raise InvalidInput(f"{file}: {exc.strerror or exc}") from exc
    with stream:
        yield stream


def cli_actor() -> str:
    """Who acts from the command line, for the audit trail: `cli:<os user>`."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container user with no passwd entry and no USER
        user = f"uid {os.getuid()}"
    return f"cli:{user}"


@contextmanager
def _session() -> Iterator[Session]:
    settings = _settings()
    engine = make_engine(settings, pool_size=1)
    try:
        sessions = make_session_factory(engine, info=event_outbox.session_info(settings))
        with transaction(sessions) as session:
            yield audit.act_as(session, cli_actor())
    finally:
        engine.dispose()


def _run(work: Callable[[Session], T]) -> T:
    try:
        with _session() as session:
            return work(session)
    except OperationalError as exc:  # server down, refused, or gone mid-command
        first_line = str(exc.orig or exc).strip().splitlines()[0]
        raise CampaignError(f"PostgreSQL (DATABASE_URL): {first_line}") from exc


def _emit(as_json: bool, data: Any, text: str) -> None:
    typer.echo(json.dumps(data, default=str) if as_json else text)


def _read_doc(path: Path) -> object:
    """A YAML or JSON document; problems name the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text") from exc
    return read_spec_text(text, str(path))


def _spec_errors_in(path: Path, work: Callable[[], T]) -> T:
    try:
        return work()
    except SpecInvalid as exc:
        raise SpecInvalid([f"{path}: {exc.errors[0]}", *exc.errors[1:]]) from exc


def db_upgrade() -> None:
    """Apply database migrations (safe to repeat)."""
    from campaign.db.migrate import upgrade

    upgrade(_settings().sqlalchemy_url)
    typer.echo("database is at the latest schema")


def create(file: SpecFile, as_json: JsonFlag = False) -> None:
    """Create a campaign from a spec; prints its id."""
    doc = _read_doc(file)
    view = _spec_errors_in(file, lambda: _run(lambda s: campaigns.create_campaign(s, doc)))
    _emit(as_json, {"id": view.id, "spec": view.spec}, str(view.id))


def edit(campaign_id: CampaignId, file: SpecFile, as_json: JsonFlag = False) -> None:
    """Replace the pacing, retry and window blocks of a campaign (takes effect on the next call)."""
    doc = _read_doc(file)
    view = _spec_errors_in(
        file, lambda: _run(lambda s: campaigns.edit_campaign(s, campaign_id, doc))
    )
    _emit(as_json, {"id": view.id, "spec": view.spec}, f"campaign {view.id} updated")


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
    with _open_input(file) as stream:
        report = _run(
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
    _emit(as_json, report.to_dict(), "\n".join(lines))


def _verb(name: str, action: Callable[[Session, int], lifecycle.LifecycleResult]) -> Any:
    def command(campaign_id: CampaignId, as_json: JsonFlag = False) -> None:
        result = _run(lambda s: action(s, campaign_id))
        verb = "now" if result.changed else "already"
        text = f"campaign {result.id} {verb} {result.state}"
        if name == "start" and result.state == "completed":  # a one-shot run that is over
            text += f" (`campaign rerun {result.id}` opens a new run)"
        _emit(as_json, result.to_dict(), text)

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
    result = _run(lambda s: reruns.rerun(s, campaign_id, now=utcnow(), outcomes=classes))
    text = f"campaign {result.id}: run {result.run} opened, {result.reopened} contacts reopened"
    _emit(as_json, result.to_dict(), text)


def status(
    campaign_id: CampaignId,
    watch: Annotated[bool, typer.Option("--watch", help="refresh with progress bars")] = False,
    interval: Annotated[float, typer.Option(help="seconds between refreshes")] = 2.0,
    as_json: JsonFlag = False,
) -> None:
    """Counts by contact state and outcome, live calls, calls/s, ETA, waiting reasons, runs."""

    runtime = Runtime(_settings())
    breakers = runtime.read_breaker if runtime.settings.redis_url else None

    def read() -> reporting.CampaignStatus:
        return _run(lambda s: reporting.campaign_status(s, campaign_id, utcnow(), breakers))

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
        _run(lambda s: write_export(s, campaign_id, sys.stdout))
        return
    with output.open("w", newline="", encoding="utf-8") as out:
        count = _run(lambda s: write_export(s, campaign_id, out))
    typer.echo(f"wrote {count} attempts to {output}")


def dnc_add(
    numbers: Annotated[list[str], typer.Argument(help="phone numbers", show_default=False)],
    expires: Annotated[
        str | None, typer.Option(help="duration (90d), date, or ISO time with offset")
    ] = None,
    note: Annotated[str | None, typer.Option(help="why the number is listed")] = None,
    region: Region = None,
    as_json: JsonFlag = False,
) -> None:
    """Put numbers on the do-not-call list (an existing entry gets the new expiry)."""
    now = utcnow()
    until = dnc_admin.parse_expiry(expires, now) if expires else None
    phones = _run(
        lambda s: dnc_admin.add_numbers(
            s, numbers, now=now, expires_at=until, note=note, default_region=region
        )
    )
    _emit(as_json, {"added": phones}, f"listed {len(phones)}: {', '.join(phones)}")


def dnc_import(
    file: Annotated[Path, typer.Argument(help="CSV: phone[,expires_at][,note]")],
    region: Region = None,
    as_json: JsonFlag = False,
) -> None:
    """Import do-not-call numbers from a CSV; bad rows are reported, the rest listed."""
    with _open_input(file) as stream:
        report = _run(
            lambda s: dnc_admin.import_numbers(
                s, stream, now=utcnow(), default_region=region, name=str(file)
            )
        )
    lines = [f"listed {report.added}, rejected {len(report.rejected)}"]
    lines += [f"  line {p.line}: {p.value!r}: {p.reason}" for p in report.rejected]
    _emit(as_json, report.to_dict(), "\n".join(lines))


def dnc_remove(
    numbers: Annotated[list[str], typer.Argument(help="phone numbers", show_default=False)],
    region: Region = None,
    as_json: JsonFlag = False,
) -> None:
    """Take numbers off the do-not-call list."""
    removed = _run(lambda s: dnc_admin.remove_numbers(s, numbers, default_region=region))
    _emit(as_json, {"removed": removed}, f"removed {removed}")


def dnc_list(
    show_all: Annotated[bool, typer.Option("--all", help="include expired entries")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List do-not-call numbers (active ones unless --all)."""
    entries, total = _run(
        lambda s: dnc_admin.list_numbers(
            s, now=utcnow(), limit=limit, offset=offset, include_expired=show_all
        )
    )
    text = "\n".join(
        f"{e.phone}  until {e.expires_at.isoformat() if e.expires_at else 'forever'}"
        f"{'  ' + e.note if e.note else ''}"
        for e in entries
    )
    _emit(as_json, {"items": [e.to_dict() for e in entries], "total": total}, text or "(empty)")


def policy_check(file: SpecFile, as_json: JsonFlag = False) -> None:
    """Validate a whole spec, or a file of just retry/window/pacing blocks; stores nothing."""
    doc = _read_doc(file)
    if isinstance(doc, dict) and doc and set(doc) <= set(_BLOCKS):
        problems: list[str] = []
        echo: dict[str, Any] = {}
        for key, value in doc.items():
            try:
                echo[key] = _BLOCKS[key](value, key).to_dict()
            except SpecInvalid as exc:
                problems.extend(exc.errors)
        _spec_errors_in(file, lambda: _raise_if(problems))
    else:
        echo = _spec_errors_in(file, lambda: campaigns.validate_spec(doc))
    _emit(as_json, {"valid": True, "spec": echo}, f"{file}: valid")


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
    dnc = typer.Typer(help="The do-not-call list.", no_args_is_help=True)
    dnc.command("add")(dnc_add)
    dnc.command("import")(dnc_import)
    dnc.command("remove")(dnc_remove)
    dnc.command("list")(dnc_list)
    app.add_typer(dnc, name="dnc")
    policy = typer.Typer(help="Spec and policy checks.", no_args_is_help=True)
    policy.command("check")(policy_check)
    app.add_typer(policy, name="policy")
