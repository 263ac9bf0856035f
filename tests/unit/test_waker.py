"""The waker sends every noted share after it was noted, a burst in few batches, and survives a
failing send."""

from __future__ import annotations

import threading
import time
from collections.abc import Set

from campaign.waker import Waker


class _Sends:
    def __init__(self, fail_first: bool = False) -> None:
        self.batches: list[set[int]] = []
        self._fail = fail_first
        self._lock = threading.Lock()

    def __call__(self, shards: Set[int]) -> None:
        with self._lock:
            if self._fail:
                self._fail = False
                raise ConnectionError("broker down")
            self.batches.append(set(shards))

    def sent(self) -> set[int]:
        with self._lock:
            return set().union(*self.batches)


def _until(predicate: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_a_burst_is_sent_in_few_batches_and_every_share_is_sent() -> None:
    sends = _Sends()
    waker = Waker(sends, interval_s=0.5)

    for shard in [1, 2, 1, 3, 2, 1] * 50:
        waker.request(shard)
    _until(lambda: sends.sent() == {1, 2, 3})
    waker.close()

    assert len(sends.batches) <= 2  # the first alone at most, then the rest together


def test_a_share_noted_after_a_batch_began_is_sent_by_a_later_batch() -> None:
    sends = _Sends()
    waker = Waker(sends, interval_s=0.001)

    waker.request(4)
    _until(lambda: sends.sent() == {4})
    waker.request(4)
    _until(lambda: len(sends.batches) == 2)
    waker.close()

    assert sends.batches == [{4}, {4}]


def test_a_failed_send_is_logged_and_the_next_one_goes_out() -> None:
    sends = _Sends(fail_first=True)
    waker = Waker(sends, interval_s=0.001)

    waker.request(5)
    time.sleep(0.05)
    waker.request(6)
    _until(lambda: sends.sent() == {6})
    waker.close()


def test_close_sends_what_is_noted() -> None:
    sends = _Sends()
    waker = Waker(sends, interval_s=10.0)  # the thread rests after its first batch

    waker.request(1)
    _until(lambda: sends.sent() == {1})
    waker.request(2)
    waker.close()

    assert sends.sent() == {1, 2}
