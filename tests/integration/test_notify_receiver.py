"""`POST /notify/{token}` over real HTTP: authenticate, store, answer; bad input changes nothing."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from campaign.api.app import create_app
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, NotificationRow
from campaign.domain.signature import sign_body
from campaign.runtime import INTAKE_APPLICATION_NAME
from campaign.settings import Settings
from tests import factories
from tests.support.asgi import serve
from tests.support.runtime import RecordingRuntime

COMPLETED = {
    "conversationId": "29e2d933-527e-429c-95b9-ba4f7c7b0000",
    "reasonCode": "caller-disconnected",
    "status": "completed",
    "reason": "200 OK",
    "duration": 14,
    "machinedetection": "amd_human_detected",
    "callconnecttime": "5/8/2023,11:32:49AM",
    "callDisconnectTime": "5/8/2023,11:33:03AM",
}


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    rt = RecordingRuntime(settings, pool_size=4)
    yield rt
    rt.close()


@pytest.fixture
def api(runtime: RecordingRuntime) -> Iterator[httpx.Client]:
    with serve(create_app(runtime.settings, runtime)) as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.fixture
def attempt_id(runtime: RecordingRuntime) -> int:
    with transaction(runtime.sessions) as session:
        campaign_id = factories.make_campaign(session, factories.spec())
        [contact_id] = factories.add_contacts(session, campaign_id, factories.us_numbers(1, 9000))
        attempt = AttemptRow(
            campaign_id=campaign_id,
            contact_id=contact_id,
            number=1,
            phone="+12012009000",
            state="sending",
            queued_at=datetime.now(UTC),
        )
        session.add(attempt)
        session.flush()
        return attempt.id


def _stored(runtime: RecordingRuntime, attempt_id: int) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).where(NotificationRow.attempt_id == attempt_id))
            or 0
        )


def _url(runtime: RecordingRuntime, attempt_id: int) -> str:
    return factories.notify_path(runtime.settings, attempt_id)


def test_notification_is_stored_before_the_answer_and_handed_to_the_consumer(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    response = api.post(_url(runtime, attempt_id), json=COMPLETED)

    assert response.status_code == 200
    assert response.json()["duplicate"] is False
    assert _stored(runtime, attempt_id) == 1  # committed by the time SAVG got its 200
    assert runtime.wakes == 1  # a consumer is woken to drain it


def test_duplicate_notification_is_stored_once(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    body = json.dumps(COMPLETED).encode()
    first = api.post(_url(runtime, attempt_id), content=body)
    second = api.post(_url(runtime, attempt_id), content=body)

    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "duplicate": True}
    assert _stored(runtime, attempt_id) == 1
    assert runtime.wakes == 1


@pytest.mark.parametrize(
    "token",
    [
        "nope",
        "1.AAAAAAAAAAAAAAAAAAAAAAAA",
        "1.4102444800.AAAAAAAAAAAAAAAAAAAAAAAA",
        "999999999.4102444800.AAAAAAAAAAAAAAAAAAAAAAAA",
        "1.4102444800." + "A" * 500,
    ],
)
def test_forged_or_unknown_tokens_get_404_and_store_nothing(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int, token: str
) -> None:
    response = api.post(f"/notify/{token}", json=COMPLETED)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert _stored(runtime, attempt_id) == 0


def test_token_of_a_missing_attempt_gets_404(api: httpx.Client, runtime: RecordingRuntime) -> None:
    assert api.post(_url(runtime, 987654321), json=COMPLETED).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json at all", 400),
        (b"", 400),
        (b"[1, 2, 3]", 422),
        (b'{"conversationId": "x"}', 422),
        (b'{"status": 7}', 422),
    ],
)
def test_garbled_bodies_are_refused_and_change_nothing(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int, body: bytes, status: int
) -> None:
    response = api.post(_url(runtime, attempt_id), content=body)

    assert response.status_code == status
    assert _stored(runtime, attempt_id) == 0


def test_oversized_body_gets_413(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    huge = json.dumps({**COMPLETED, "pad": "x" * (runtime.settings.notify_max_body_bytes + 1)})

    assert api.post(_url(runtime, attempt_id), content=huge).status_code == 413
    assert _stored(runtime, attempt_id) == 0


def test_signature_is_required_when_a_webhook_secret_is_configured(
    runtime: RecordingRuntime, attempt_id: int
) -> None:
    signed = RecordingRuntime(
        runtime.settings.model_copy(update={"savg_webhook_secret": SecretStr("whsec")})
    )
    body = json.dumps(COMPLETED).encode()
    url = _url(runtime, attempt_id)
    with serve(create_app(signed.settings, signed)) as base, httpx.Client(base_url=base) as client:
        unsigned = client.post(url, content=body)
        stale = client.post(
            url, content=body, headers={"SAVG-Signature": sign_body(body, "whsec", 1_000_000)}
        )
        good = client.post(
            url,
            content=body,
            headers={"SAVG-Signature": sign_body(body, "whsec", int(time.time()))},
        )
    signed.close()
    assert (unsigned.status_code, stale.status_code, good.status_code) == (401, 401, 200)
    assert _stored(runtime, attempt_id) == 1


def test_an_expired_token_gets_404_and_stores_nothing(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    expired = factories.notify_path(runtime.settings, attempt_id, valid_for_s=-1)

    assert api.post(expired, json=COMPLETED).status_code == 404
    assert _stored(runtime, attempt_id) == 0


def test_tokens_of_the_previous_secret_keep_working_during_a_rotation(
    runtime: RecordingRuntime, attempt_id: int
) -> None:
    before = _url(runtime, attempt_id)  # minted under the secret being rotated out
    old = runtime.settings.notify_secret
    rotated = RecordingRuntime(
        runtime.settings.model_copy(
            update={"notify_secret": SecretStr("the-next-secret"), "notify_secret_previous": old}
        )
    )
    dropped = RecordingRuntime(
        runtime.settings.model_copy(update={"notify_secret": SecretStr("the-next-secret")})
    )
    try:
        with serve(create_app(rotated.settings, rotated)) as base:
            assert httpx.post(base + before, json=COMPLETED).status_code == 200
        with serve(create_app(dropped.settings, dropped)) as base:
            assert httpx.post(base + before, json=COMPLETED).status_code == 404
    finally:
        rotated.close()
        dropped.close()


def test_credentials_in_request_headers_are_not_stored(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    credentials = {
        "Authorization": "Bearer a",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "Cookie": "session=b",
        "X-API-Key": "c",
    }
    response = api.post(
        _url(runtime, attempt_id), json=COMPLETED, headers={**credentials, "X-Trace": "kept"}
    )

    assert response.status_code == 200
    with runtime.sessions() as session:
        stored = session.get_one(NotificationRow, response.json()["id"]).headers
    assert stored["x-trace"] == "kept"
    assert not {name.lower() for name in credentials} & set(stored)


def test_an_answer_is_applied_by_the_receiver_itself(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    # `answered` decides nothing: no broker hop, no consumer, one UPDATE in the receiver.
    response = api.post(_url(runtime, attempt_id), json={**COMPLETED, "status": "Answered"})

    assert response.status_code == 200
    assert runtime.wakes == 0
    with runtime.sessions() as session:
        attempt = session.get_one(AttemptRow, attempt_id)
        stored = session.get_one(NotificationRow, response.json()["id"])
    assert (attempt.state, stored.result) == ("answered", "applied")
    assert attempt.answered_at is not None


def _set_state(runtime: RecordingRuntime, attempt_id: int, state: str) -> None:
    with transaction(runtime.sessions) as session:
        session.get_one(AttemptRow, attempt_id).state = state


def test_an_answer_after_the_final_is_stored_as_a_regression_and_changes_nothing(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    _set_state(runtime, attempt_id, "completed")

    response = api.post(_url(runtime, attempt_id), json={**COMPLETED, "status": "answered"})

    assert response.status_code == 200
    assert runtime.wakes == 0
    with runtime.sessions() as session:
        attempt = session.get_one(AttemptRow, attempt_id)
        stored = session.get_one(NotificationRow, response.json()["id"])
    assert (attempt.state, attempt.answered_at) == ("completed", None)
    assert stored.result == "regression"
    assert stored.processed_at is not None


def test_a_repeated_answer_is_stored_and_applied_once(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    body = json.dumps({**COMPLETED, "status": "answered"}).encode()
    first = api.post(_url(runtime, attempt_id), content=body)
    _set_state(runtime, attempt_id, "accepted")  # were it applied again, it would move again
    second = api.post(_url(runtime, attempt_id), content=body)

    assert second.json() == {"id": first.json()["id"], "duplicate": True}
    assert _stored(runtime, attempt_id) == 1
    with runtime.sessions() as session:
        assert session.get_one(AttemptRow, attempt_id).state == "accepted"


def test_a_copy_committed_while_storing_answers_the_copy_as_a_duplicate(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    # The copy commits after the receiver's statement began: its snapshot cannot see the copy,
    # so the duplicate's id comes from a second statement.
    body = json.dumps(COMPLETED).encode()
    url = runtime.settings.database_url or ""
    with psycopg.connect(url) as copy:
        [(copy_id,)] = copy.execute(
            "INSERT INTO notifications (attempt_id, received_at, body, headers, dedupe_key)"
            " VALUES (%s, now(), %s, '{}', %s) RETURNING id",
            (attempt_id, body, hashlib.sha256(body).hexdigest()),
        ).fetchall()
        with ThreadPoolExecutor(1) as pool:
            posted = pool.submit(api.post, _url(runtime, attempt_id), content=body)
            time.sleep(0.5)  # the receiver's insert now waits on the copy's unique key
            copy.commit()
            response = posted.result(timeout=10)

    assert response.json() == {"id": copy_id, "duplicate": True}
    assert runtime.wakes == 0


def test_the_receiver_replaces_connections_a_database_restart_broke(
    api: httpx.Client, runtime: RecordingRuntime, attempt_id: int
) -> None:
    assert api.post(_url(runtime, attempt_id), json=COMPLETED).status_code == 200
    with psycopg.connect(runtime.settings.database_url or "", autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (INTAKE_APPLICATION_NAME,),
        ).fetchall()
    assert killed

    response = api.post(_url(runtime, attempt_id), json={**COMPLETED, "duration": 15})

    assert (response.status_code, response.json()["duplicate"]) == (200, False)
    assert _stored(runtime, attempt_id) == 2
