"""A Runtime whose Celery sends are recorded instead of sent: for tests that drive one step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from campaign.runtime import Runtime


@dataclass
class RecordingRuntime(Runtime):
    """Real PostgreSQL and Redis; the messages it would send to Celery land in lists."""

    dials: list[int] = field(default_factory=list)
    wakes: int = 0

    def enqueue_dials(self, attempt_ids: Sequence[int]) -> None:
        self.dials.extend(attempt_ids)

    def wake_consumer(self) -> None:
        self.wakes += 1
