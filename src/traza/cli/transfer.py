"""``traza import`` and ``traza sync``: move MLflow and Traza stores into a Traza store."""

from __future__ import annotations

import click


@click.command("import")
@click.argument("source")
@click.option("--to", "target", default=None, help="Target store (default: the tracking URI).")
def import_command(source: str, target: str | None) -> None:
    """Import an MLflow store (file store, SQL database or server) into a Traza store."""
    raise click.ClickException("traza import is not available yet.")


@click.command("sync")
@click.argument("source")
@click.argument("target")
def sync_command(source: str, target: str) -> None:
    """Copy what is new in SOURCE into TARGET (both Traza stores)."""
    raise click.ClickException("traza sync is not available yet.")
