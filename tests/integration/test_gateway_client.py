"""The SAVG client against a real HTTP server that checks what SAVG does: JWT, jti, field names."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from campaign.errors import DialNotPlaced, DialOutcomeUnknown, DialRejected
from campaign.gateway.client import DialRequest, SavgClient, tel_uri
from campaign.settings import load_settings
from tests.support.http_server import HttpServer, Received, Reply

CLIENT_ID = "campaign-engine-test"
SECRET = "a-test-secret-that-is-long-enough-for-hs256"
BOT = "st-e38782ff-0d89-52e9-5678769a49fd"
BODY_FIELDS = {
    "bot", "target", "caller", "notifyurl", "trunk", "metadata", "timers", "machineDetection",
    "thresholdWordCount", "timeoutInMs", "notifyHeaders", "amdEventsSubscription",
}  # fmt: skip
TIMER_FIELDS = {
    "noSpeechTimeoutMs", "decisionTimeoutMs", "toneTimeoutMs", "greetingCompletionTimeoutMs",
}  # fmt: skip


class FakeSavg:
    """Answers like SAVG: 401 for a bad JWT or a replayed jti, 400 for a misspelt body field,
    else the next scripted reply, else 200 with fresh ids."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[Received] = []
        self.claims: list[dict[str, object]] = []
        self._lock = threading.Lock()

    def __call__(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            problem = self._check(received)
            if problem is not None:
                return problem
            if self.script:
                return self.script.pop(0)
        return Reply.json(200, {"sid": str(uuid.uuid4()), "callId": str(uuid.uuid4())})

    def _check(self, received: Received) -> Reply | None:
        try:
            claims = jwt.decode(
                received.headers.get("auth", ""),
                SECRET,
                algorithms=["HS256"],
                options={"require": ["sub", "appId", "jti", "iat", "exp"]},
            )
        except jwt.InvalidTokenError as exc:
            return Reply.json(401, {"error": f"invalid token: {exc}"})
        if claims["appId"] != CLIENT_ID or any(c["jti"] == claims["jti"] for c in self.claims):
            return Reply.json(401, {"error": "unknown app or replayed jti"})
        self.claims.append(claims)
        body = received.json()
        assert isinstance(body, dict)
        unknown = set(body) - BODY_FIELDS | set(body.get("timers", {})) - TIMER_FIELDS
        if unknown or "target" not in body or "caller" not in body:
            return Reply.json(400, {"error": f"bad body fields: {sorted(unknown)}"})
        if received.path != f"/api/1.1/public/bot/{BOT}/smartassist/dialout":
            return Reply.json(404, {"error": "no such bot"})
        return None


@pytest.fixture
def savg() -> FakeSavg:
    return FakeSavg()


@pytest.fixture
def server(savg: FakeSavg) -> Iterator[HttpServer]:
    with HttpServer(savg) as srv:
        yield srv


@pytest.fixture
def client(server: HttpServer) -> Iterator[SavgClient]:
    with SavgClient(
        base_url=server.url, client_id=CLIENT_ID, client_secret=SECRET, read_timeout_s=0.5
    ) as c:
        yield c


def dial_request(**overrides: object) -> DialRequest:
    fields: dict[str, object] = {
        "bot": BOT,
        "target": tel_uri("+911234567890"),
        "caller": "+12706165788",
        "notifyurl": "http://127.0.0.1:8080/notify/tok-123",
    }
    return DialRequest(**(fields | overrides))  # type: ignore[arg-type]


def test_dial_returns_the_sid_and_call_id_the_gateway_answered(
    client: SavgClient, savg: FakeSavg
) -> None:
    savg.script = [Reply.json(200, {"sid": "sid-1", "callId": "call-1"})]
    accepted = client.dial(dial_request())
    assert (accepted.sid, accepted.call_id) == ("sid-1", "call-1")
    assert accepted.latency_ms > 0
    assert len(savg.requests) == 1


def test_request_uses_the_vendor_spelling_of_every_field_and_header(
    client: SavgClient, savg: FakeSavg
) -> None:
    timers = {"noSpeechTimeoutMs": 5000, "decisionTimeoutMs": 15000, "toneTimeoutMs": 20000}
    client.dial(
        dial_request(
            trunk="TRUNK",
            metadata={"userName": "John Doe"},
            timers=timers,
            machine_detection="detect",
            threshold_word_count=4,
            timeout_in_ms=60000,
            notify_headers={"X-Campaign": "7"},
            amd_events=[],
        )
    )
    (sent,) = savg.requests
    assert sent.json() == {
        "bot": BOT,
        "target": "tel:911234567890",
        "caller": "+12706165788",
        "notifyurl": "http://127.0.0.1:8080/notify/tok-123",
        "trunk": "TRUNK",
        "metadata": {"userName": "John Doe"},
        "timers": timers,
        "machineDetection": "detect",
        "thresholdWordCount": 4,
        "timeoutInMs": 60000,
        "notifyHeaders": {"X-Campaign": "7"},
        "amdEventsSubscription": [],
    }
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["format"] == "application/json"
    assert "authorization" not in sent.headers


def test_jwt_names_the_app_in_appId_and_lives_for_the_configured_ttl(
    client: SavgClient, savg: FakeSavg
) -> None:
    before = int(time.time())
    client.dial(dial_request())
    (claims,) = savg.claims
    assert claims["appId"] == claims["sub"] == CLIENT_ID
    assert isinstance(claims["iat"], int)
    assert before - 1 <= claims["iat"] <= time.time() + 1
    assert claims["exp"] == claims["iat"] + 60
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) == 32


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_a_4xx_is_rejected_with_the_gateway_message_and_never_retried(
    client: SavgClient, savg: FakeSavg, status: int
) -> None:
    savg.script = [Reply.json(status, {"error": "caller is not an experience-flow number"})]
    with pytest.raises(DialRejected, match="caller is not an experience-flow number") as info:
        client.dial(dial_request())
    assert info.value.status_code == status
    assert len(savg.requests) == 1


def test_a_503_then_200_succeeds_on_the_second_request(client: SavgClient, savg: FakeSavg) -> None:
    savg.script = [Reply.json(503, {"error": "Maximum Calls In Progress"})]
    assert client.dial(dial_request()).sid
    assert len(savg.requests) == 2


def test_every_retry_carries_a_fresh_jti(client: SavgClient, savg: FakeSavg) -> None:
    savg.script = [Reply(503), Reply(503)]
    client.dial(dial_request())
    jtis = [c["jti"] for c in savg.claims]
    assert len(jtis) == 3
    assert len(set(jtis)) == 3


def test_429_on_every_try_raises_not_placed_after_max_attempts(
    client: SavgClient, savg: FakeSavg
) -> None:
    savg.script = [Reply.json(429, {"error": "slow down"}, headers={"Retry-After": "0"})] * 3
    with pytest.raises(DialNotPlaced) as info:
        client.dial(dial_request())
    assert info.value.status_code == 429
    assert info.value.retry_after_s == 0.0
    assert len(savg.requests) == 3


def test_retry_after_is_waited_before_the_next_try(client: SavgClient, savg: FakeSavg) -> None:
    savg.script = [Reply(503, headers={"Retry-After": "1"})]
    started = time.monotonic()
    client.dial(dial_request())
    assert time.monotonic() - started >= 1.0
    assert len(savg.requests) == 2


def test_a_retry_after_too_long_to_wait_in_place_is_handed_back_at_once(
    client: SavgClient, savg: FakeSavg
) -> None:
    later = datetime.now(UTC) + timedelta(minutes=2)
    savg.script = [Reply(503, headers={"Retry-After": later.strftime("%a, %d %b %Y %H:%M:%S GMT")})]
    with pytest.raises(DialNotPlaced) as info:
        client.dial(dial_request())
    assert info.value.retry_after_s is not None
    assert 100 < info.value.retry_after_s <= 120
    assert len(savg.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_other_than_503_is_unknown_and_never_resent(
    client: SavgClient, savg: FakeSavg, status: int
) -> None:
    savg.script = [Reply(status, b"upstream trouble")]
    with pytest.raises(DialOutcomeUnknown, match="upstream trouble") as info:
        client.dial(dial_request())
    assert info.value.status_code == status
    assert len(savg.requests) == 1


@pytest.mark.parametrize(
    "reply",
    [Reply.json(200, {"sid": "only-sid"}), Reply(200, b"<html>ok</html>"), Reply.json(202, [1])],
)
def test_a_2xx_without_both_ids_is_unknown_and_never_resent(
    client: SavgClient, savg: FakeSavg, reply: Reply
) -> None:
    savg.script = [reply]
    with pytest.raises(DialOutcomeUnknown):
        client.dial(dial_request())
    assert len(savg.requests) == 1


def test_an_answer_slower_than_the_read_timeout_is_unknown_and_sent_once(
    client: SavgClient, savg: FakeSavg
) -> None:
    savg.script = [Reply.json(200, {"sid": "late", "callId": "late"}, delay_s=3.0)]
    with pytest.raises(DialOutcomeUnknown, match="ReadTimeout") as info:
        client.dial(dial_request())
    assert isinstance(info.value.__cause__, Exception)
    assert len(savg.requests) == 1


def test_a_connection_reset_after_the_request_is_unknown_and_sent_once(
    client: SavgClient, savg: FakeSavg
) -> None:
    savg.script = [Reply(reset=True)]
    with pytest.raises(DialOutcomeUnknown):
        client.dial(dial_request())
    assert len(savg.requests) == 1


def test_connection_refused_is_not_placed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = SavgClient(
        base_url=f"http://127.0.0.1:{port}", client_id=CLIENT_ID, client_secret=SECRET
    )
    with client, pytest.raises(DialNotPlaced, match="ConnectError") as info:
        client.dial(dial_request())
    assert info.value.status_code is None


def test_neither_the_token_nor_the_secret_reaches_logs_or_repr(
    client: SavgClient, savg: FakeSavg, caplog: pytest.LogCaptureFixture
) -> None:
    savg.script = [Reply(503), Reply.json(401, {"error": "nope"})]
    with caplog.at_level(logging.DEBUG), pytest.raises(DialRejected):
        client.dial(dial_request())
    tokens = [r.headers["auth"] for r in savg.requests]
    logged = caplog.text + repr(client)
    assert SECRET not in logged
    assert not any(token in logged for token in tokens)
    assert "503" in caplog.text


def test_408_is_not_placed_and_retried(client: SavgClient, savg: FakeSavg) -> None:
    savg.script = [Reply(408)]
    assert client.dial(dial_request()).sid
    assert len(savg.requests) == 2


def test_a_redirect_is_not_followed_and_rejected(client: SavgClient, savg: FakeSavg) -> None:
    savg.script = [Reply(307, headers={"Location": "https://elsewhere.example/dialout"})]
    with pytest.raises(DialRejected, match="SAVG_BASE_URL") as info:
        client.dial(dial_request())
    assert info.value.status_code == 307
    assert len(savg.requests) == 1


def test_from_settings_dials_with_the_configured_credentials(
    server: HttpServer, savg: FakeSavg
) -> None:
    settings = load_settings(
        savg_base_url=server.url + "/", savg_client_id=CLIENT_ID, savg_client_secret=SECRET
    )
    with SavgClient.from_settings(settings) as client:
        assert client.dial(dial_request()).call_id
    assert savg.claims[0]["appId"] == CLIENT_ID
