"""The engine's task base (`workers.base.CampaignTask`) drops arguments its task does not take,
as a message of a later release carries them, and passes every other one through unchanged."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.app.trace import task_has_custom

from workers.base import CampaignTask

_app = Celery("task-base-test", set_as_current=False)  # never connects: tasks are called in-line


@_app.task(bind=True, base=CampaignTask, subject="attempt_id")
def _bound(self: CampaignTask, attempt_id: int, token: str | None = None) -> tuple[Any, ...]:
    return attempt_id, token


@_app.task(base=CampaignTask, subject="shard")
def _plain(shard: int | None = None) -> int | None:
    return shard


@_app.task(base=CampaignTask)
def _open(*args: object, **kwargs: object) -> tuple[Any, ...]:
    return args, kwargs


def test_arguments_a_later_release_adds_are_dropped() -> None:
    # A worker runs a task through its own `__call__` when it has one, as these are called here.
    assert task_has_custom(_bound, "__call__")
    assert _bound(7, "t", 1234.5) == (7, "t")
    assert _bound(7, token="t", hint="later") == (7, "t")
    assert _plain(3, "more") == 3
    assert _plain(hint=1) is None


def test_the_arguments_a_task_takes_pass_unchanged() -> None:
    assert _bound(7) == (7, None)
    assert _bound(attempt_id=7, token="t") == (7, "t")
    assert _open(1, 2, x=3) == ((1, 2), {"x": 3})
