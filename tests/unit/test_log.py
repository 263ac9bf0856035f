"""Log lines carry the ids of the work they belong to; LOG_FORMAT=json writes one object a line."""

import json
import logging

import pytest

from campaign import log


@pytest.fixture
def stream(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureFixture[str]:
    yield capsys
    logging.getLogger().handlers = [
        h for h in logging.getLogger().handlers if not getattr(h, "_campaign", False)
    ]


def test_json_lines_carry_the_bound_ids(stream: pytest.CaptureFixture[str]) -> None:
    log.configure("json")
    with log.bound(task="campaign.dial", attempt_id=7):
        log.bind(campaign_id=3)
        logging.getLogger("campaign.test").warning("sent %s", "once")
    logging.getLogger("campaign.test").warning("outside")

    inside, outside = (json.loads(line) for line in stream.readouterr().err.splitlines())
    assert inside["message"] == "sent once"
    assert (inside["attempt_id"], inside["campaign_id"], inside["task"]) == (7, 3, "campaign.dial")
    assert "attempt_id" not in outside


def test_text_lines_append_the_ids_after_the_logger(stream: pytest.CaptureFixture[str]) -> None:
    log.configure("text")
    with log.bound(attempt_id=9, campaign_id=None):
        logging.getLogger("campaign.test").warning("hello")

    line = stream.readouterr().err.strip()
    assert line.endswith("WARNING campaign.test attempt_id=9: hello")
