"""The engine's exception tree: each class tells the caller what to do next.

    CampaignError
    ├── InvalidInput            bad row, spec, policy, notification: fix the input
    │   ├── SpecInvalid         carries every "path: message" found, not just the first
    │   ├── NotificationInvalid a notification body that cannot be read
    │   └── UploadRefused       a whole CSV refused (header, encoding, no phone column)
    ├── IllegalTransition       a state change the state machine does not allow
    ├── NotFound                unknown id or token (404; forged tokens land here too)
    ├── Conflict                the request clashes with the current state (409)
    ├── PacingExhausted         no rate token or live-call slot yet: retry after `retry_after_s`
    ├── ServiceUnavailable      a server or process we start ourselves did not come up (demo)
    └── GatewayError            the SAVG dial-out did not give a clean answer
        ├── DialNotPlaced       provably no call was placed: safe to retry in place
        ├── DialOutcomeUnknown  the request may have reached SAVG: never re-send
        └── DialRejected        SAVG refused the request (4xx): retrying the same body won't help

Foreign exceptions (httpx, psycopg, redis) are translated at the boundary with `raise ... from exc`.
"""

from __future__ import annotations

from collections.abc import Sequence


class CampaignError(Exception):
    """Base of every error the engine raises on purpose."""


class InvalidInput(CampaignError):
    """The input is wrong; the message names the field or value and what is expected."""


class SpecInvalid(InvalidInput):
    """A campaign spec (or one of its blocks) failed validation.

    Every problem is collected, so an operator fixes the whole file in one go.
    """

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


class NotificationInvalid(InvalidInput):
    """A notification body that is not a JSON object we can read."""


class UploadRefused(InvalidInput):
    """A contacts file refused whole: nothing was stored."""


class IllegalTransition(CampaignError):
    """A state machine was asked for a transition its table does not list."""


class NotFound(CampaignError):
    """Unknown id or token."""


class Conflict(CampaignError):
    """The request clashes with the current state of the resource."""


class PacingExhausted(CampaignError):
    """No rate-limit token or live-call slot now; nothing was consumed, except with a ticket.

    `reason` is one of a few fixed words (a metric label), `detail` names the key that said no.
    `ticket_at_ms` (Redis time): the dial's own rate slot, reserved further ahead than it may wait
    in place; the dial comes back by then holding it, and takes only its live-call leases.
    """

    def __init__(
        self,
        retry_after_s: float,
        reason: str,
        detail: str = "",
        *,
        ticket_at_ms: float | None = None,
    ) -> None:
        self.retry_after_s = retry_after_s
        self.reason = reason
        self.detail = detail
        self.ticket_at_ms = ticket_at_ms
        where = f" ({detail})" if detail else ""
        super().__init__(f"{reason}{where}: retry in {retry_after_s:.3f}s")


class ServiceUnavailable(CampaignError):
    """A server or process this command starts itself (embedded PostgreSQL/Redis, a demo process)
    could not start or died while starting; the message says which and shows its log's tail."""


class GatewayError(CampaignError):
    """The SAVG dial-out request did not succeed."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class DialNotPlaced(GatewayError):
    """Nothing reached the gateway or it refused before placing a call (connect error, 429, 503)."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after_s: float | None = None
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, status_code=status_code)


class DialOutcomeUnknown(GatewayError):
    """The request was sent but no answer was read: the call may be live. Never re-send."""


class DialRejected(GatewayError):
    """The gateway answered 4xx (other than 429): the request itself is wrong."""
