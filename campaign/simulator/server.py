"""Running the simulator as one uvicorn process on one asyncio loop.

`run` binds and listens before announcing, so a caller that waits for the announcement line on
stdout (`savg-simulator listening on http://HOST:PORT`) can connect at once; port 0 picks a free
port and the line names the real one.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings

import uvicorn
from jwt.warnings import InsecureKeyLengthWarning

from campaign.settings import load_settings
from campaign.simulator.app import create_app
from campaign.simulator.auth import Credentials
from campaign.simulator.config import SimConfig, load_config
from campaign.simulator.connection import ResettableH11Protocol

ANNOUNCE = "savg-simulator listening on "
BACKLOG = 4096


def run(
    host: str,
    port: int,
    config: SimConfig | None = None,
    credentials: Credentials | None = None,
) -> None:
    """Serve until interrupted. `config` defaults to :func:`load_config` (file/env), `credentials`
    to the engine's own SAVG_CLIENT_ID / SAVG_CLIENT_SECRET / SAVG_WEBHOOK_SECRET."""
    # The client secret is the operator's choice; the simulator accepts whatever the engine signs.
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    app = create_app(
        config or load_config(),
        credentials or Credentials.from_settings(load_settings()),
        control_token=os.environ.get("SIM_CONTROL_TOKEN") or None,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle off only on sockets whose proto says TCP, and
    # with Nagle on every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http=ResettableH11Protocol,
            loop="asyncio",
            lifespan="on",
            log_level="warning",
            access_log=False,
            backlog=BACKLOG,
        )
    )
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
    sys.stdout.write(f"{ANNOUNCE}http://{shown}:{bound[1]}\n")
    sys.stdout.flush()
    server.run(sockets=[sock])
