"""The receiver's write: store one notification durably, and apply an `answered` in place, in ONE
statement (one round trip, its own transaction).

Storing is an INSERT ... ON CONFLICT DO NOTHING on the inbox's unique key (attempt, body hash),
so a duplicate body stores nothing and answers the first row's id. An `answered` decides nothing
(no policy, no contact), so it needs no consumer: the same statement moves the attempt (only from
the states the machine's table lets `answered` move) with its call facts, and stores the row
already processed with what applying it did. Every other status is stored unprocessed for a
consumer (`notifications.drain_inbox`).

Why one statement: the receiver's cost per notification was mostly in getting there (Session,
a pre-ping, BEGIN, INSERT, COMMIT, a thread hop each way); in autocommit this is one prepared
statement on the event loop (`db.async_pool`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from campaign.db.async_pool import AsyncConnections
from campaign.domain.outcomes import STATUS_EVENT, Notification
from campaign.domain.states import ATTEMPT_FINAL, ATTEMPT_TABLE, AttemptEvent, AttemptState
from campaign.errors import NotFound
from campaign.services.notifications import Applied


@dataclass(frozen=True)
class Received:
    """The inbox row holding a notification. `created` is False for a duplicate body; `for_consumer`
    is True when a new row awaits a consumer (it was not applied in place)."""

    notification_id: int
    created: bool
    for_consumer: bool


# `answered` moves an attempt only from these (the machine's table says which); later states
# keep theirs, and a final that came first stays final.
_ANSWERABLE = tuple(
    s.value
    for s in AttemptState
    if (s, AttemptEvent.ANSWER) in ATTEMPT_TABLE
    and ATTEMPT_TABLE[(s, AttemptEvent.ANSWER)] is AttemptState.ANSWERED
    and s is not AttemptState.ANSWERED
)

# `moved` runs only for an `answered` whose body is not stored yet (a duplicate applies nothing;
# a copy committing concurrently is caught by the row lock: once it moved the attempt, this
# UPDATE's re-check finds the state no longer answerable). All parts read one snapshot, so the
# duplicate's id is looked up in a second statement when the conflicting row committed after it
# began (`_EXISTING`). `regression` is read from the attempt's state before this statement.
_STORE = (
    sql.SQL(
        """
WITH moved AS (
    UPDATE attempts SET state = {answered}, answered_at = %(now)s,
        conversation_id = coalesce(conversation_id, %(conversation_id)s),
        reason = coalesce(%(reason)s, reason),
        sip_code = coalesce(%(sip_code)s, sip_code),
        amd = coalesce(%(amd)s, amd)
    WHERE %(answer)s AND id = %(attempt_id)s AND state IN ({answerable})
      AND NOT EXISTS (SELECT FROM notifications
                      WHERE attempt_id = %(attempt_id)s AND dedupe_key = %(dedupe_key)s)
    RETURNING id
), stored AS (
    INSERT INTO notifications
        (attempt_id, received_at, body, headers, dedupe_key, status, processed_at, result)
    VALUES (
        %(attempt_id)s, %(now)s, %(body)s, %(headers)s, %(dedupe_key)s, %(status)s,
        CASE WHEN %(answer)s THEN %(now)s END,
        CASE
            WHEN NOT %(answer)s THEN NULL
            WHEN EXISTS (SELECT FROM moved) THEN {applied}
            WHEN (SELECT state FROM attempts WHERE id = %(attempt_id)s) IN ({final})
                THEN {regression}
            ELSE {duplicate}
        END
    )
    ON CONFLICT ON CONSTRAINT uq_notifications_dedupe DO NOTHING
    RETURNING id
)
SELECT id, true FROM stored
UNION ALL
SELECT id, false FROM notifications
WHERE attempt_id = %(attempt_id)s AND dedupe_key = %(dedupe_key)s
    AND NOT EXISTS (SELECT FROM stored)
"""
    )
    .format(
        answered=AttemptState.ANSWERED.value,
        answerable=sql.SQL(", ").join(map(sql.Literal, _ANSWERABLE)),
        final=sql.SQL(", ").join(sql.Literal(s.value) for s in sorted(ATTEMPT_FINAL)),
        applied=Applied.APPLIED.value,
        regression=Applied.REGRESSION.value,
        duplicate=Applied.DUPLICATE.value,
    )
    .as_bytes(None)
)

_EXISTING = (
    b"SELECT id, false FROM notifications WHERE attempt_id = %(attempt_id)s"
    b" AND dedupe_key = %(dedupe_key)s"
)


async def receive(
    connections: AsyncConnections,
    *,
    attempt_id: int,
    body: bytes,
    headers: Mapping[str, str],
    notification: Notification,
    now: datetime,
) -> Received:
    """Store the raw body (once per attempt and body) and apply it when it is an `answered`.

    The attempt's foreign key refuses an attempt that does not exist (a campaign deleted
    meanwhile): NotFound, and nothing is stored.
    """
    answer = STATUS_EVENT[notification.status] is AttemptEvent.ANSWER
    params = {
        "attempt_id": attempt_id,
        "now": now,
        "body": body,
        "headers": Jsonb(dict(headers)),
        "dedupe_key": hashlib.sha256(body).hexdigest(),
        "status": notification.status.value,
        "answer": answer,
        "conversation_id": notification.conversation_id,
        "reason": notification.reason,
        "sip_code": notification.sip_code,
        "amd": notification.amd,
    }
    try:
        rows = await connections.fetchall(_STORE, params)
        if not rows:  # a duplicate of a copy committed after the statement's snapshot was taken
            rows = await connections.fetchall(_EXISTING, params)
    except psycopg.errors.ForeignKeyViolation as exc:
        raise NotFound("unknown notification token") from exc
    if not rows:  # pragma: no cover - the conflicting row cannot vanish in between
        raise NotFound("notification disappeared")
    [(notification_id, created)] = rows
    return Received(notification_id, created, for_consumer=created and not answer)
