"""Apply Alembic migrations programmatically (`campaign db upgrade`), from the installed package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(sqlalchemy_url: str) -> Config:
    """An Alembic config pointing at the packaged migrations; no alembic.ini needed on disk."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url.replace("%", "%%"))
    return cfg


def upgrade(sqlalchemy_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; idempotent, safe to run from several replicas in turn."""
    command.upgrade(alembic_config(sqlalchemy_url), revision)


def revision(sqlalchemy_url: str, message: str) -> None:
    """Autogenerate a migration from `campaign.db.tables` (developers only)."""
    command.revision(alembic_config(sqlalchemy_url), message=message, autogenerate=True)
