"""Operator verbs (create, upload, lifecycle, status, export, dnc): being written."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the operator commands to the root `campaign` app."""
