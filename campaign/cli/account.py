"""Account-wide commands: the account policy (`account apply`, `account show`) and the audit
trail (`audit`). Same shape as the operator verbs: one transaction, one service call, `--json`
for scripts, and problems named with their path (`compliance.hours.US-FL: …`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
import yaml

from campaign.cli.common import JsonFlag, SpecFile, emit, in_transaction, read_doc, spec_errors_in
from campaign.clock import utcnow
from campaign.services import account, audit


def apply(file: SpecFile, as_json: JsonFlag = False) -> None:
    """Validate an account policy and put it in force (a new version; the same one: no-op)."""
    doc = read_doc(file)
    view = spec_errors_in(file, lambda: in_transaction(lambda s: account.apply(s, doc)))
    verb = "in force" if view.changed else "unchanged, already in force"
    emit(as_json, view.to_dict(), f"account policy version {view.version} {verb}")


def show(as_json: JsonFlag = False) -> None:
    """The account policy in force, every default filled in."""
    view = in_transaction(account.show)
    if view.version:
        head = f"# version {view.version}, applied {view.applied_at} by {view.applied_by}\n"
    else:
        head = "# no account policy applied: no account rules (trunk limits from the environment)\n"
    text = head + yaml.safe_dump(view.policy, sort_keys=False).rstrip()
    emit(as_json, view.to_dict(), text)


def audit_trail(
    campaign: Annotated[
        int | None, typer.Option("--campaign", metavar="ID", help="only this campaign's")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="a duration back from now (2h, 7d), a date, or an ISO time"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """Who did what, oldest first: every operator action with its before and after."""
    after = audit.parse_since(since, utcnow()) if since else None
    found = in_transaction(
        lambda s: audit.entries(s, campaign_id=campaign, since=after, limit=limit)
    )
    items = [entry.to_dict() for entry in found]
    lines = [_line(item) for item in items]
    emit(as_json, {"items": items}, "\n".join(lines) or "(no actions recorded)")


def _line(item: dict[str, Any]) -> str:
    where = f" campaign {item['campaign_id']}" if item["campaign_id"] is not None else ""
    change = ""
    if item["before"] is not None or item["after"] is not None:
        change = f"  {_short(item['before'])} -> {_short(item['after'])}"
    detail = f"  {_short(item['detail'])}" if item["detail"] else ""
    return f"{item['at']}  {item['actor']}  {item['action']}{where}{change}{detail}"


def _short(value: object, width: int = 120) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    """Add `account apply|show` and `audit` to the root `campaign` app."""
    group = typer.Typer(
        help="The account policy: limits and rules over every campaign.", no_args_is_help=True
    )
    group.command("apply")(apply)
    group.command("show")(show)
    app.add_typer(group, name="account")
    app.command("audit")(audit_trail)
