"""redis-py parses replies with hiredis, as pyproject asks (`redis[hiredis]`)."""

from __future__ import annotations

from redis.connection import DefaultParser
from redis.utils import HIREDIS_AVAILABLE


def test_redis_py_parses_replies_with_hiredis() -> None:
    # A redis-py and hiredis that do not agree (redis-py 5.1+ ignores a hiredis before 3) leave
    # redis-py on its pure-Python parser without a word: twice the client CPU per command.
    assert HIREDIS_AVAILABLE
    assert DefaultParser.__name__ == "_HiredisParser"
