"""py-spy's raw stacks ranked by library, engine step and thread (the bench's profiles)."""

from __future__ import annotations

from bench.spy import summarize

RAW = "\n".join(
    [
        "thread (101): ThreadPoolExecutor-0_3;run (threading.py:982);"
        "dial (campaign/services/dialing.py:180);post (httpx/_client.py:1144) 3",
        "thread (102): ThreadPoolExecutor-0_5;run (threading.py:982);"
        "dial (campaign/services/dialing.py:180);execute (psycopg/cursor.py:97) 2",
        "thread (103): drain-2;run (threading.py:982);"
        "drain_share (campaign/services/notifications.py:400) 4",
        "thread (100): MainThread;on_readable (kombu/transport/redis.py:1400) 1",
    ]
)


def test_each_sample_is_charged_to_its_library_step_and_thread() -> None:
    text = summarize(RAW)

    assert text.startswith("10 samples")
    threads = text.split("by thread")[1]
    assert "40.0 %  drain" in threads
    assert "50.0 %  ThreadPoolExecutor" in threads
    assert "10.0 %  MainThread" in threads
    assert "50.0 %  dial (campaign/services/dialing.py)" in text
    assert "30.0 %  httpx" in text
