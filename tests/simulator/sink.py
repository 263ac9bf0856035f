"""A notification sink in its own process, for throughput runs: answers 204 and counts posts.

`python -m tests.simulator.sink` prints `sink listening on http://127.0.0.1:PORT` once bound;
`GET /count` returns how many POSTs it took. Keeping it out of the test process stops the load
generator's threads from starving it (they share one GIL).
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn

ANNOUNCE = "sink listening on "
_count = 0


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _count
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = b""
    if scope["method"] == "POST":
        _count += 1
    else:
        body = str(_count).encode()
    await send({"type": "http.response.start", "status": 204 if not body else 200})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    sys.stdout.write(f"{ANNOUNCE}http://127.0.0.1:{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
