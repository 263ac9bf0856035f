"""What every task of the engine does around its body: log context and a result metric.

Tasks stay a few lines over one service call (style rule 6); the cross-cutting part lives here
once. Each task names its `subject` (the id its first argument carries, e.g. `attempt_id`), so
every line logged while it runs (by the service, the gateway client, SQLAlchemy) carries that id,
and its `result_metric` counts the task's results, which are enums, never prose.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from celery import Task
from prometheus_client import Counter

from campaign import log


class CampaignTask(Task):  # type: ignore[misc]  # celery is untyped
    """Base of the engine's tasks; set `subject` and `result_metric` on each."""

    subject: ClassVar[str] = "id"
    result_metric: ClassVar[Counter | None] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        subject = args[0] if args else kwargs.get(self.subject)
        with log.bound(task=self.name, **{self.subject: subject}):
            result = super().__call__(*args, **kwargs)
        if self.result_metric is not None and isinstance(result, StrEnum):
            self.result_metric.labels(result.value).inc()
        return result
