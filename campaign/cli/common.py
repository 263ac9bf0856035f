"""What every database-backed CLI verb shares: its option types, one transaction per command,
and output for a person or (`--json`) a script.

A verb module (operator, dnc, contacts, account, events, forecast) only parses, calls a service
inside `in_transaction`, and renders with `emit`, so errors read the same on every verb.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from campaign.db.engine import make_engine, make_session_factory, transaction
from campaign.errors import CampaignError, InvalidInput, SpecInvalid
from campaign.services import audit, event_outbox
from campaign.services.spec_text import read_spec_text
from campaign.settings import Settings, get_settings

T = TypeVar("T")
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]
CampaignId = Annotated[int, typer.Argument(help="campaign id", metavar="ID", show_default=False)]
SpecFile = Annotated[Path, typer.Option("-f", "--file", help="spec file (YAML or JSON)")]
Region = Annotated[
    str | None, typer.Option("--region", help="region for numbers without +, e.g. US")
]


def database_settings() -> Settings:
    settings = get_settings()
    if settings.database_url is None:
        raise InvalidInput("DATABASE_URL is not set: point it at the campaign PostgreSQL")
    return settings


@contextmanager
def open_input(file: Path) -> Iterator[IO[bytes]]:
    """The file opened for reading; an unreadable one is an error naming it, not a traceback."""
    try:
        stream = file.open("rb")
    except OSError as exc:
        raise InvalidInput(f"{file}: {exc.strerror or exc}") from exc
    with stream:
        yield stream


def cli_actor() -> str:
    """Who acts from the command line, for the audit trail: `cli:<os user>`."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container user with no passwd entry and no USER
        user = f"uid {os.getuid()}"
    return f"cli:{user}"


@contextmanager
def _session() -> Iterator[Session]:
    settings = database_settings()
    engine = make_engine(settings, pool_size=1)
    try:
        sessions = make_session_factory(engine, info=event_outbox.session_info(settings))
        with transaction(sessions) as session:
            yield audit.act_as(session, cli_actor())
    finally:
        engine.dispose()


def in_transaction(work: Callable[[Session], T]) -> T:
    """Run `work` in one committed transaction acting as `cli_actor()`; a server that is down
    or gone mid-command is one engine error, not a driver traceback."""
    try:
        with _session() as session:
            return work(session)
    except OperationalError as exc:  # server down, refused, or gone mid-command
        first_line = str(exc.orig or exc).strip().splitlines()[0]
        raise CampaignError(f"PostgreSQL (DATABASE_URL): {first_line}") from exc


def emit(as_json: bool, data: Any, text: str) -> None:
    """`data` as JSON with `--json`, else the text for a person."""
    typer.echo(json.dumps(data, default=str) if as_json else text)


def read_doc(path: Path) -> object:
    """A YAML or JSON document; problems name the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text") from exc
    return read_spec_text(text, str(path))


def spec_errors_in(path: Path, work: Callable[[], T]) -> T:
    """Spec problems from `work`, the first one prefixed with the file they are in."""
    try:
        return work()
    except SpecInvalid as exc:
        raise SpecInvalid([f"{path}: {exc.errors[0]}", *exc.errors[1:]]) from exc
