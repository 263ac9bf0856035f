"""`campaign contacts …`: a campaign's contacts for operators: list, show, disposition, priority.

A contact is named by REF: its `external_id`, else its number (E.164). The same services as
`/api/v1/campaigns/{id}/contacts`, so the `--json` output is the API's body; changes are in the
audit trail as `cli:<os user>`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import typer

# The operator verbs' own helpers, so these commands open sessions and print as they do.
from campaign.cli.common import CampaignId, JsonFlag, in_transaction
from campaign.clock import utcnow
from campaign.domain.dispositions import ALLOWED, parse_disposition
from campaign.services import contacts, dispositions

Ref = Annotated[
    str,
    typer.Argument(help="external_id, or the number in E.164", metavar="REF", show_default=False),
]
Word = Annotated[str | None, typer.Option(help="only contacts with this value")]


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def emit(as_json: bool, data: Any, text: str) -> None:
    typer.echo(json.dumps(data, default=_iso) if as_json else text)


def _line(view: contacts.ContactView) -> str:
    what = view.closed_reason or view.waiting_reason or ""
    due = f" due {view.next_due_at.isoformat()}" if view.next_due_at else ""
    return (
        f"{view.external_id or '-':<14} {view.phone:<16} {view.state:<10} "
        f"{view.last_outcome or '-':<13} {view.disposition or '-':<12} p{view.priority} "
        f"{what}{due}"
    )


def list_contacts(
    campaign_id: CampaignId,
    state: Word = None,
    outcome: Word = None,
    disposition: Word = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List contacts in upload order, optionally of one state, last outcome and disposition."""
    views, total = in_transaction(
        lambda s: contacts.list_contacts(
            s,
            campaign_id,
            state=state,
            outcome=outcome,
            disposition=disposition,
            limit=limit,
            offset=offset,
        )
    )
    text = "\n".join([_line(v) for v in views] + [f"{len(views)} of {total}"])
    emit(as_json, {"items": [asdict(v) for v in views], "total": total}, text)


def show(campaign_id: CampaignId, ref: Ref, as_json: JsonFlag = False) -> None:
    """One contact with its attempts (outcome, decision, disposition of each)."""
    detail = in_transaction(lambda s: contacts.contact_detail(s, campaign_id, ref))
    lines = [_line(detail)]
    for a in detail.attempt_list:
        told = f"  [{a.disposition}{': ' + a.disposition_label if a.disposition_label else ''}]"
        lines.append(
            f"  #{a.number} attempt {a.id} {a.state} {a.outcome or '-'} "
            f"{a.decision or ''}{told if a.disposition else ''}"
        )
    emit(as_json, asdict(detail), "\n".join(lines))


def disposition(
    campaign_id: CampaignId,
    ref: Ref,
    word: Annotated[
        str,
        typer.Argument(help=", ".join(ALLOWED), metavar="DISPOSITION", show_default=False),
    ],
    label: Annotated[str | None, typer.Option(help="business outcome (done)")] = None,
    at: Annotated[
        str | None, typer.Option(help="callback: local time, e.g. 2026-12-01T17:00")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="callback: IANA zone of --at (default: the contact's)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record a disposition for a contact, as the bot would (it wins over the outcome)."""
    body = {"disposition": word, "label": label, "at": at, "timezone": timezone}
    request = parse_disposition({k: v for k, v in body.items() if v is not None})
    answer = in_transaction(
        lambda s: dispositions.dispose_contact(s, campaign_id, ref, request, now=utcnow())
    )
    text = f"contact {answer.contact_id}: {answer.contact_state} ({answer.note})"
    emit(as_json, answer.to_dict(), text)


def priority(
    campaign_id: CampaignId,
    ref: Ref,
    value: Annotated[int, typer.Argument(help="higher is called first", metavar="N")],
    as_json: JsonFlag = False,
) -> None:
    """Change a contact's priority (higher first among contacts due at once)."""
    view = in_transaction(lambda s: contacts.set_priority(s, campaign_id, ref, value))
    emit(as_json, asdict(view), f"contact {view.id}: priority {view.priority}")


def register(app: typer.Typer) -> None:
    """Add `campaign contacts …` to the root app."""
    group = typer.Typer(help="A campaign's contacts.", no_args_is_help=True)
    group.command("list")(list_contacts)
    group.command("show")(show)
    group.command("disposition")(disposition)
    group.command("priority")(priority)
    app.add_typer(group, name="contacts")
