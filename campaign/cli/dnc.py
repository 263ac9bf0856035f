"""`campaign dnc add/import/remove/list`: the do-not-call list, shared by every campaign.

Numbers are normalised by the service (`--region` for numbers without `+`), so the CLI and the
API list the same entry for the same person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from campaign.cli.common import JsonFlag, Region, emit, in_transaction, open_input
from campaign.clock import utcnow
from campaign.services import dnc_admin


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
    phones = in_transaction(
        lambda s: dnc_admin.add_numbers(
            s, numbers, now=now, expires_at=until, note=note, default_region=region
        )
    )
    emit(as_json, {"added": phones}, f"listed {len(phones)}: {', '.join(phones)}")


def dnc_import(
    file: Annotated[Path, typer.Argument(help="CSV: phone[,expires_at][,note]")],
    region: Region = None,
    as_json: JsonFlag = False,
) -> None:
    """Import do-not-call numbers from a CSV; bad rows are reported, the rest listed."""
    with open_input(file) as stream:
        report = in_transaction(
            lambda s: dnc_admin.import_numbers(
                s, stream, now=utcnow(), default_region=region, name=str(file)
            )
        )
    lines = [f"listed {report.added}, rejected {len(report.rejected)}"]
    lines += [f"  line {p.line}: {p.value!r}: {p.reason}" for p in report.rejected]
    emit(as_json, report.to_dict(), "\n".join(lines))


def dnc_remove(
    numbers: Annotated[list[str], typer.Argument(help="phone numbers", show_default=False)],
    region: Region = None,
    as_json: JsonFlag = False,
) -> None:
    """Take numbers off the do-not-call list."""
    removed = in_transaction(lambda s: dnc_admin.remove_numbers(s, numbers, default_region=region))
    emit(as_json, {"removed": removed}, f"removed {removed}")


def dnc_list(
    show_all: Annotated[bool, typer.Option("--all", help="include expired entries")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List do-not-call numbers (active ones unless --all)."""
    entries, total = in_transaction(
        lambda s: dnc_admin.list_numbers(
            s, now=utcnow(), limit=limit, offset=offset, include_expired=show_all
        )
    )
    text = "\n".join(
        f"{e.phone}  until {e.expires_at.isoformat() if e.expires_at else 'forever'}"
        f"{'  ' + e.note if e.note else ''}"
        for e in entries
    )
    emit(as_json, {"items": [e.to_dict() for e in entries], "total": total}, text or "(empty)")


def register(app: typer.Typer) -> None:
    """Add the `dnc` group to the root `campaign` app."""
    dnc = typer.Typer(help="The do-not-call list.", no_args_is_help=True)
    dnc.command("add")(dnc_add)
    dnc.command("import")(dnc_import)
    dnc.command("remove")(dnc_remove)
    dnc.command("list")(dnc_list)
    app.add_typer(dnc, name="dnc")
