"""The events outbox at the operator's surfaces, on real PostgreSQL: `status`, the paged list,
`campaign events replay` and `POST …/events/replay` (scopes, refusals, OpenAPI)."""

from __future__ import annotations

import os
import secrets

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from campaign.db.engine import transaction
from campaign.db.tables import EventRow
from tests.operator.test_api import PROBLEM, READER, _create, _upload, api
from tests.operator.test_cli import _campaign

__all__ = ["api"]  # the fixture shared with the API tests

EVENTS = {"url": "http://127.0.0.1:9/hook", "secret": secrets.token_urlsafe(32)}


def _deliver_all(sessions: sessionmaker[Session], campaign_id: int) -> None:
    """As a deliverer would record a 2xx for every event."""
    with transaction(sessions) as session:
        session.execute(
            update(EventRow).where(EventRow.campaign_id == campaign_id).values(state="delivered")
        )


def test_api_lists_events_with_state_and_replays_delivered_ones(
    api: httpx.Client, server: str, session_factory: sessionmaker[Session]
) -> None:
    cid = _create(api, events=EVENTS)
    _upload(api, cid, "phone\n+12015550123\n+12015550124\n")
    base = f"/api/v1/campaigns/{cid}"
    api.post(f"{base}/start")
    api.post(f"{base}/pause")

    listed = api.get(f"{base}/events", params={"state": "pending"}).json()
    assert listed["total"] == 2
    assert [(e["type"], e["data"]["change"]) for e in listed["items"]] == [
        ("campaign.state", "started"),
        ("campaign.state", "paused"),
    ]
    assert api.get(f"{base}/status").json()["events"] == {
        "pending": 2, "failing": 0, "failing_since": None, "dead": 0, "delivered": 0,
    }  # fmt: skip

    with httpx.Client(base_url=server, headers=READER) as reader:
        assert reader.post(f"{base}/events/replay").status_code == 403
        assert reader.get(f"{base}/events").status_code == 200
    assert api.post(f"{base}/events/replay").json() == {"id": cid, "replayed": 0}
    _deliver_all(session_factory, cid)
    later = api.post(f"{base}/events/replay", json={"since": "2999-01-01T00:00:00+00:00"})
    assert later.json() == {"id": cid, "replayed": 0}
    assert api.post(f"{base}/events/replay", json={}).json() == {"id": cid, "replayed": 2}
    assert api.get(f"{base}/events", params={"state": "pending"}).json()["total"] == 2

    missing = api.post("/api/v1/campaigns/999999999/events/replay")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    assert api.get(f"{base}/events", params={"state": "lost"}).status_code == 422
    paths = api.get("/openapi.json").json()["paths"]
    assert {f"/api/v1/campaigns/{{campaign_id}}/events{tail}" for tail in ("", "/replay")} <= set(
        paths
    )
    api.post(f"{base}/cancel")


def test_cli_replay_prints_the_count_and_refuses_a_bad_since_in_one_line(
    api: httpx.Client, database_url: str, session_factory: sessionmaker[Session]
) -> None:
    cid = _create(api, events=EVENTS)
    api.post(f"/api/v1/campaigns/{cid}/start")
    _deliver_all(session_factory, cid)
    env = {**os.environ, "DATABASE_URL": database_url}

    done = _campaign(env, "events", "replay", str(cid), "--since", "2020-01-01", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f'{{"id": {cid}, "replayed": 1}}'
    status = _campaign(env, "status", str(cid), "--json")
    assert '"events": {"pending": 1' in status.stdout

    bad = _campaign(env, "events", "replay", str(cid), "--since", "yesterday")
    assert bad.returncode == 1
    assert bad.stderr.startswith('error: since "yesterday": expected an ISO time with offset')
    assert bad.stderr.count("\n") == 1
    api.post(f"/api/v1/campaigns/{cid}/cancel")
