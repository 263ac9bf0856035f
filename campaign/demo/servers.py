"""Which servers the demo runs on: the ones DATABASE_URL/REDIS_URL name, or embedded ones.

Each variable is decided on its own: an unset one gets an embedded server in the data folder, a
set one is used as is and nothing is started for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from campaign.demo.embedded import start_postgres
from campaign.demo.embedded_redis import start_redis
from campaign.settings import Settings


class _Server(Protocol):
    pid: int

    def stop(self) -> None: ...


@dataclass
class Servers:
    """The settings naming the servers in use, and the embedded ones this run started/found."""

    settings: Settings
    started: dict[str, _Server] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the report names them."""
        if not self.started:
            return "external (DATABASE_URL, REDIS_URL)"
        embedded = " + ".join(self.started)
        return f"embedded {embedded}" + ("" if len(self.started) == 2 else ", the rest external")

    def stop(self) -> None:
        """Stop the embedded servers (external ones are not ours to stop)."""
        for server in reversed(self.started.values()):
            server.stop()


def start_servers(base: Settings, data_dir: Path) -> Servers:
    """Embedded servers for whichever of DATABASE_URL/REDIS_URL is unset; if the second fails
    to start, the first is stopped again."""
    servers = Servers(base)
    try:
        if base.database_url is None:
            postgres = start_postgres(data_dir / "postgres")
            servers.started["PostgreSQL"] = postgres
            servers.settings = servers.settings.model_copy(update={"database_url": postgres.url})
        if base.redis_url is None:
            redis_server = start_redis(data_dir / "redis")
            servers.started["Redis"] = redis_server
            servers.settings = servers.settings.model_copy(update={"redis_url": redis_server.url})
    except BaseException:
        servers.stop()
        raise
    return servers
