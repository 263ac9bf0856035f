"""The rows of the engine: PostgreSQL is the source of truth for every decision.

State columns hold the domain enums by value (`campaign.domain.states`); nothing but the services
that ask the state machines writes them. Timestamps are `timestamptz`, always UTC-aware in Python.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base; `Base.metadata` is what Alembic migrates."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB, datetime: Timestamp}


class CampaignRow(Base):
    """A campaign: its validated spec (defaults filled in) and lifecycle state."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Why the campaign stopped by itself (gateway kept failing), shown by `status`.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    current_run_id: Mapped[int | None] = mapped_column(BigInteger)
    next_run_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, server_default=func.now(), onupdate=func.now()
    )


class RunRow(Base):
    """One pass over a campaign's contacts; recurring campaigns get one per cron occurrence."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("campaign_id", "number"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # running | completed | cancelled | skipped
    scheduled_for: Mapped[datetime | None] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    note: Mapped[str | None] = mapped_column(Text)


class ContactRow(Base):
    """A person to call within one campaign; `next_due_at` drives the dispatcher."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone", name="uq_contacts_campaign_phone"),
        Index(
            "uq_contacts_campaign_external_id",
            "campaign_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        # The dispatcher's scan: due contacts of one campaign, higher priority first, then oldest
        # (one range per priority level, see `services.dispatching.due_contacts`). Partial on
        # `pending` so finished contacts (the bulk of a big list late in a run) never enter it.
        Index(
            "ix_contacts_due",
            "campaign_id",
            text("priority DESC"),
            "next_due_at",
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_contacts_campaign_state", "campaign_id", "state"),
        # Operators filter contacts by disposition; a disposition do_not_call closes every open
        # contact with that number, in every campaign.
        Index(
            "ix_contacts_campaign_disposition",
            "campaign_id",
            "disposition",
            postgresql_where=text("disposition IS NOT NULL"),
        ),
        Index(
            "ix_contacts_phone_open",
            "phone",
            postgresql_where=text("state IN ('pending','in_flight')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(Text)
    zones: Mapped[list[str]] = mapped_column(ARRAY(Text))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_due_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Why a pending contact is not being called right now (window, min_gap, per_day, ...).
    waiting_reason: Mapped[str | None] = mapped_column(Text)
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    closed_reason: Mapped[str | None] = mapped_column(Text)
    line_no: Mapped[int | None] = mapped_column(Integer)
    # Among contacts due now, higher priority is claimed first (CSV `priority`, default 0).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The account rules' facts: `US` or `US-FL` (the CSV's, else the number's country), and the
    # consent the CSV gave (None: not given; `consent_on` when it gave a date).
    region: Mapped[str | None] = mapped_column(String(8))
    consent: Mapped[bool | None] = mapped_column(Boolean)
    consent_on: Mapped[date | None] = mapped_column(Date)
    # The latest disposition the bot or an operator gave (`domain.dispositions`).
    disposition: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, server_default=func.now(), onupdate=func.now()
    )


class AttemptRow(Base):
    """One dial-out to one contact: from claim to its final outcome and redial decision."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_contact", "contact_id"),
        Index("ix_attempts_campaign_state", "campaign_id", "state"),
        Index("ix_attempts_sid", "sid"),
        Index("ix_attempts_call_id", "call_id"),
        # The sweeper's scans: stuck in queued, and live past their deadline.
        Index(
            "ix_attempts_open",
            "state",
            "deadline_at",
            postgresql_where=text("state IN ('queued','dialing','sending','accepted','answered')"),
        ),
        # The sweeper's scan for sent attempts that heard nothing by their silent deadline.
        Index(
            "ix_attempts_silent",
            "silent_deadline_at",
            postgresql_where=text("state IN ('sending','accepted')"),
        ),
        # The account's per-number caps: a number's placed calls by time, and its open attempts,
        # across every campaign; each lookup reads a number's few entries, never a scan.
        Index(
            "ix_attempts_phone_calls",
            "phone",
            "sending_at",
            postgresql_where=text("sending_at IS NOT NULL AND state <> 'error'"),
        ),
        Index(
            "ix_attempts_phone_open",
            "phone",
            postgresql_where=text("state IN ('queued','dialing','sending','accepted','answered')"),
        ),
        # A caller's calls of one day in a campaign: what rebuilds `max_calls_per_day`'s counts.
        Index(
            "ix_attempts_caller_calls",
            "campaign_id",
            "caller",
            "sending_at",
            postgresql_where=text("caller IS NOT NULL AND sending_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1-based attempt number for this contact
    phone: Mapped[str] = mapped_column(String(20))
    trunk: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    # Set by each claim: only the holder of the current claim may mark the attempt `sending`.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    counted: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    sid: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[str | None] = mapped_column(Text)
    conversation_id: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(Timestamp)
    claimed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    sending_at: Mapped[datetime | None] = mapped_column(Timestamp)
    accepted_at: Mapped[datetime | None] = mapped_column(Timestamp)
    answered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)
    deadline_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # A sent attempt that has heard nothing by then was not placed (no sid) or is `lost` (sid):
    # see `domain.pacing.silent_deadline`.
    silent_deadline_at: Mapped[datetime | None] = mapped_column(Timestamp)
    outcome: Mapped[str | None] = mapped_column(String(16))
    sip_code: Mapped[int | None] = mapped_column(Integer)
    amd: Mapped[str | None] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(Text)  # what the retry policy said, for export
    dial_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dial_latency_ms: Mapped[float | None] = mapped_column()
    # What the bot (or an operator) said the call came to; it wins over the outcome class.
    disposition: Mapped[str | None] = mapped_column(String(16))
    disposition_label: Mapped[str | None] = mapped_column(Text)
    disposition_at: Mapped[datetime | None] = mapped_column(Timestamp)  # a callback's due time
    disposed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The request as read and the answer given, so a duplicate gets the same answer.
    disposition_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The caller ID this attempt was dialed with (one of the spec's `gateway.caller` pool).
    caller: Mapped[str | None] = mapped_column(String(20))


class NotificationRow(Base):
    """The inbox: every status POST stored raw before we answer it, deduplicated by body hash."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("attempt_id", "dedupe_key", name="uq_notifications_dedupe"),
        Index(
            "ix_notifications_unprocessed",
            "received_at",
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(Timestamp)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dedupe_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))
    processed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    result: Mapped[str | None] = mapped_column(Text)  # applied | duplicate | ignored: <why>


class DncRow(Base):
    """A number never to call, optionally until `expires_at`."""

    __tablename__ = "dnc_numbers"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    note: Mapped[str | None] = mapped_column(Text)


class AccountPolicyRow(Base):
    """One version of the account policy; the highest version is in force."""

    __tablename__ = "account_policies"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    applied_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    applied_by: Mapped[str] = mapped_column(Text)


class AuditRow(Base):
    """One operator action: who, when, what, and the before/after of what it changed."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_campaign", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    # No foreign key: the trail outlives what it describes.
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class EventRow(Base):
    """One event for one destination (the campaign's `events.url`, or EVENTS_URL): the outbox.

    Written in the transaction of the change it reports, delivered later by the events task;
    both destinations of one event share its `event_id`.
    """

    __tablename__ = "event_outbox"
    __table_args__ = (
        # The delivery claim: due events still to send.
        Index("ix_event_outbox_due", "next_at", postgresql_where=text("state = 'pending'")),
        # The ordering rule: is an earlier event of this contact (or campaign) for this
        # destination waiting?
        Index(
            "ix_event_outbox_line",
            "campaign_id",
            "destination",
            "contact_id",
            "id",
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_event_outbox_campaign", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(BigInteger)
    destination: Mapped[str] = mapped_column(String(16))  # campaign | global
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | dead
    next_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failing_since: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
