"""What every task of the engine does around its body: log context, a result metric, and
tolerance of arguments a later release adds.

Tasks stay a few lines over one service call (style rule 6); the cross-cutting part lives here
once. Each task names its `subject` (the id its first argument carries, e.g. `attempt_id`), so
every line logged while it runs (by the service, the gateway client, SQLAlchemy) carries that id,
and its `result_metric` counts the task's results, which are enums, never prose.

Task messages outlive the process that sent them: during a rolling upgrade a worker may receive a
message a newer release sent (a dial's retry, a drain's wake-up), with an argument its task does
not take yet. Such an argument is dropped here, so the task runs as if it carried none instead of
failing (a failed dial would wait `dialing` for the sweeper). The rule that makes that safe binds
every later release: an argument added to a task may only be a hint whose absence is safe, as the
dial's ticket is (a worker that ignores one reserves a new slot, so it dials later, never more).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import StrEnum
from typing import Any, ClassVar

from celery import Task
from prometheus_client import Counter

from campaign import log


@functools.cache
def _accepted(run: Callable[..., Any]) -> tuple[int | None, frozenset[str] | None]:
    """How many positional arguments a task's `run` takes (None: any number) and the names it
    takes (None: any name). A bound task's `run` is a bound method: its `self` is not counted."""
    parameters = list(inspect.signature(run).parameters.values())
    kinds = {p.kind for p in parameters}
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = frozenset(p.name for p in parameters if p.kind is not p.POSITIONAL_ONLY)
    return (
        None if inspect.Parameter.VAR_POSITIONAL in kinds else len(positional),
        None if inspect.Parameter.VAR_KEYWORD in kinds else names,
    )


class CampaignTask(Task):  # type: ignore[misc]  # celery is untyped
    """Base of the engine's tasks; set `subject` and `result_metric` on each."""

    subject: ClassVar[str] = "id"
    result_metric: ClassVar[Counter | None] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        count, names = _accepted(self.run)
        if count is not None and len(args) > count:
            args = args[:count]
        if names is not None and not names.issuperset(kwargs):
            kwargs = {k: v for k, v in kwargs.items() if k in names}
        subject = args[0] if args else kwargs.get(self.subject)
        with log.bound(task=self.name, **{self.subject: subject}):
            result = super().__call__(*args, **kwargs)
        if self.result_metric is not None and isinstance(result, StrEnum):
            self.result_metric.labels(result.value).inc()
        return result
