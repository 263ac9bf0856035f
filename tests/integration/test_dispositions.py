"""`POST /disposition/{token}` over real HTTP against real PostgreSQL, with the final notification
applied by the consumer before or after it: the disposition wins either way."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select

from campaign.api.app import create_app
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import CampaignRow, ContactRow, DncRow, EventRow
from campaign.domain import tokens
from campaign.services import export, reporting
from campaign.settings import Settings
from tests import factories
from tests.integration.test_consumer_and_sweeper import BUSY, HUMAN, _notify, _rows, _sent_attempt
from tests.support.asgi import serve
from tests.support.runtime import RecordingRuntime

NEW_YORK = ZoneInfo("America/New_York")  # the factories' contact zone


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    # A global events destination (never delivered to here): the outbox shows what the CRM hears.
    events = {"events_url": "http://127.0.0.1:9/crm", "events_secret": SecretStr("s" * 32)}
    rt = RecordingRuntime(
        settings.model_copy(update={"queue_prefix": f"d{secrets.token_hex(4)}", **events})
    )
    rt.limiter.restore([], [], 0)
    yield rt
    with transaction(rt.sessions) as session:
        session.execute(delete(EventRow).where(EventRow.campaign_id.in_(select(CampaignRow.id))))
        session.execute(delete(CampaignRow))
        session.execute(delete(DncRow).where(DncRow.note.startswith("disposition")))
    rt.close()


@pytest.fixture
def bot(runtime: RecordingRuntime) -> Iterator[httpx.Client]:
    with serve(create_app(runtime.settings, runtime)) as url, httpx.Client(base_url=url) as client:
        yield client


def disposition_path(settings: Settings, attempt_id: int, *, valid_for_s: float = 3600) -> str:
    """The attempt's disposition URL path, signed as the dialer signs it."""
    secret = settings.notify_secret.get_secret_value()
    expires_at = utcnow() + timedelta(seconds=valid_for_s)
    purpose = tokens.Purpose.DISPOSITION
    return f"/disposition/{tokens.sign(attempt_id, secret, expires_at=expires_at, purpose=purpose)}"


def _post(bot: httpx.Client, rt: RecordingRuntime, attempt_id: int, **body: Any) -> dict[str, Any]:
    response = bot.post(disposition_path(rt.settings, attempt_id), json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _in_an_hour() -> str:
    """A local New York time an hour from now, to the minute, as a bot writes it."""
    local = (datetime.now(UTC) + timedelta(hours=1)).astimezone(NEW_YORK)
    return local.replace(second=0, microsecond=0, tzinfo=None).isoformat(timespec="minutes")


def test_done_before_the_final_closes_the_contact_when_the_call_ends(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    answer = _post(bot, runtime, attempt_id, disposition="done", label="paid")
    assert (answer["applied"], answer["contact_state"]) == (False, "in_flight")

    assert _notify(runtime, attempt_id, BUSY) == "applied"  # busy would have redialed

    attempt, contact = _rows(runtime, attempt_id)
    assert (contact.state, contact.disposition) == ("done", "done")
    assert contact.closed_reason == "disposition done: paid (call busy)"
    assert (attempt.disposition, attempt.disposition_label) == ("done", "paid")
    assert attempt.decision == contact.closed_reason


def test_done_after_the_final_settles_the_contact_again(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    assert _notify(runtime, attempt_id, BUSY) == "applied"
    assert _rows(runtime, attempt_id)[1].state == "pending"  # a redial was planned

    answer = _post(bot, runtime, attempt_id, disposition="done", label="paid")

    assert (answer["applied"], answer["contact_state"]) == (True, "done")
    contact = _rows(runtime, attempt_id)[1]
    assert (contact.state, contact.next_due_at) == ("done", None)


@pytest.mark.parametrize("final_first", [False, True], ids=["callback-first", "final-first"])
def test_a_callback_is_due_at_the_local_time_asked_in_either_order(
    runtime: RecordingRuntime, bot: httpx.Client, final_first: bool
) -> None:
    attempt_id = _sent_attempt(runtime)
    at = _in_an_hour()
    if final_first:
        assert _notify(runtime, attempt_id, HUMAN) == "applied"  # human: the contact is done
    answer = _post(bot, runtime, attempt_id, disposition="callback", at=at)
    if not final_first:
        assert _notify(runtime, attempt_id, HUMAN) == "applied"

    due = datetime.fromisoformat(at).replace(tzinfo=NEW_YORK)
    assert answer["callback"]["due_at"] == due.astimezone(UTC).isoformat()
    assert answer["callback"]["moved"] is False
    contact = _rows(runtime, attempt_id)[1]
    assert (contact.state, contact.next_due_at, contact.waiting_reason) == (
        "pending",
        due,
        "callback",
    )


def test_wrong_number_closes_the_contact_invalid(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    _post(bot, runtime, attempt_id, disposition="wrong_number")
    assert _notify(runtime, attempt_id, HUMAN) == "applied"
    assert _rows(runtime, attempt_id)[1].state == "invalid"


def test_retry_leaves_the_contact_to_the_retry_policy(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    _post(bot, runtime, attempt_id, disposition="retry")
    assert _notify(runtime, attempt_id, BUSY) == "applied"
    attempt, contact = _rows(runtime, attempt_id)
    assert (contact.state, contact.waiting_reason) == ("pending", "retry")
    assert (attempt.decision or "").startswith("busy: retry")


def test_do_not_call_lists_the_number_and_closes_it_in_every_campaign(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    phone = _rows(runtime, attempt_id)[0].phone
    with transaction(runtime.sessions) as session:
        other = factories.make_campaign(session, factories.spec())
        [twin] = factories.add_contacts(session, other, [phone])

    answer = _post(bot, runtime, attempt_id, disposition="do_not_call")

    assert answer["contact_state"] == "suppressed"
    assert "1 other open contacts closed in 1 campaigns" in answer["note"]
    with runtime.sessions() as session:
        assert session.get_one(ContactRow, twin).state == "suppressed"
        assert session.scalar(select(DncRow.note).where(DncRow.phone == phone))
    assert _notify(runtime, attempt_id, BUSY) == "applied"
    assert _rows(runtime, attempt_id)[1].state == "suppressed"
    closed = [
        (cid, data["state"]) for cid, kind, data in _events(runtime) if kind == "contact.closed"
    ]
    assert sorted(closed) == sorted(
        [(other, "suppressed"), (_rows(runtime, attempt_id)[1].campaign_id, "suppressed")]
    )


def _events(rt: RecordingRuntime) -> list[tuple[int, str, dict[str, Any]]]:
    """The outbox's events (campaign, type, data), in the order they were written."""
    with rt.sessions() as session:
        rows = session.execute(
            select(EventRow.campaign_id, EventRow.type, EventRow.data).order_by(EventRow.id)
        )
        return [(cid, kind, data) for cid, kind, data in rows]


def test_the_crm_hears_a_disposition_that_came_after_the_final(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    assert _notify(runtime, attempt_id, BUSY) == "applied"  # attempt.ended, no disposition yet

    _post(bot, runtime, attempt_id, disposition="done", label="paid")

    heard = [
        (kind, data.get("disposition"), data.get("state")) for _, kind, data in _events(runtime)
    ]
    assert heard == [
        ("attempt.ended", None, "failed"),
        ("attempt.ended", "done", "failed"),  # again, with what the bot said
        ("contact.closed", None, "done"),
    ]


def test_a_duplicate_gets_the_same_answer_and_a_different_one_is_refused(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    body = {"disposition": "callback", "at": _in_an_hour()}
    first = _post(bot, runtime, attempt_id, **body)
    again = _post(bot, runtime, attempt_id, **body)
    assert again == {**first, "duplicate": True}
    other = bot.post(disposition_path(runtime.settings, attempt_id), json={"disposition": "done"})
    assert other.status_code == 409
    assert "already has disposition 'callback'" in other.json()["detail"]
    assert _rows(runtime, attempt_id)[0].disposition == "callback"


def test_an_unknown_word_is_a_422_listing_the_allowed_ones(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    path = disposition_path(runtime.settings, attempt_id)
    for body in ({"disposition": "hangup"}, {"disposition": "callback", "at": "soon"}):
        response = bot.post(path, json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["allowed"] == [
            "done",
            "callback",
            "do_not_call",
            "wrong_number",
            "retry",
        ]
    assert bot.post(path, content=b"not json").status_code == 422
    assert _rows(runtime, attempt_id)[0].disposition is None


def test_forged_spent_and_notify_tokens_are_404_and_change_nothing(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    spent = disposition_path(runtime.settings, attempt_id, valid_for_s=-1)
    notify = factories.notify_path(runtime.settings, attempt_id).replace(
        "/notify/", "/disposition/"
    )
    forged = disposition_path(runtime.settings, attempt_id)[:-3] + "AAA"
    for path in (spent, notify, forged, "/disposition/nonsense"):
        response = bot.post(path, json={"disposition": "done"})
        assert response.status_code == 404, path
        assert response.json()["detail"] == "unknown disposition token"
    assert _rows(runtime, attempt_id)[0].disposition is None


def test_status_and_export_show_the_disposition(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    _post(bot, runtime, attempt_id, disposition="done", label="paid")
    assert _notify(runtime, attempt_id, HUMAN) == "applied"
    campaign_id = _rows(runtime, attempt_id)[0].campaign_id
    out = io.StringIO()
    with transaction(runtime.sessions) as session:
        status = reporting.campaign_status(session, campaign_id, utcnow(), forecast=False)
        export.write_export(session, campaign_id, out)
    assert status.to_dict()["dispositions"] == {"done": 1}
    header, row = out.getvalue().splitlines()
    assert header.endswith(",decision,disposition,disposition_label,caller")
    assert row.endswith(",done,paid,")  # this attempt was marked sent without a caller


def test_a_callback_after_the_last_call_reopens_a_completed_campaign(
    runtime: RecordingRuntime, bot: httpx.Client
) -> None:
    attempt_id = _sent_attempt(runtime)
    assert _notify(runtime, attempt_id, HUMAN) == "applied"
    campaign_id = _rows(runtime, attempt_id)[0].campaign_id
    with transaction(runtime.sessions) as session:  # what the sweeper does once nothing is left
        session.get_one(CampaignRow, campaign_id).state = "completed"

    answer = _post(bot, runtime, attempt_id, disposition="callback", at=_in_an_hour())

    assert answer["contact_state"] == "pending"
    assert f"campaign {campaign_id} had completed: run 2 opened" in answer["note"]
    with runtime.sessions() as session:
        assert session.get_one(CampaignRow, campaign_id).state == "running"
