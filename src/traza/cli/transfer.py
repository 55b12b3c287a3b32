"""``traza import`` and ``traza sync``: move MLflow and Traza stores into a Traza store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from traza.cli.errors import reports_errors


def _target_uri(ctx: click.Context, target: str | None) -> str:
    if target:
        return target
    root = (ctx.find_root().obj or {}).get("tracking_uri")
    if root:
        return str(root)
    from traza.client import get_tracking_uri

    return get_tracking_uri()


def _refuse_same_folder(source: str, target: str) -> None:
    from pathlib import Path

    from traza.store.uri import local_folder

    folder = local_folder(target)
    if folder is None or "://" in source:
        return
    if folder.expanduser().resolve() == Path(source).expanduser().resolve():
        raise click.ClickException(
            f"The target {target} is the MLflow store being imported: Traza keeps its own store "
            "elsewhere. Choose one with --to (e.g. --to ./traza-mlruns)."
        )


@contextmanager
def _progress(total: int, label: str) -> Iterator[Any]:
    """A progress bar on stderr (runs done of ``total``)."""
    with click.progressbar(
        length=max(total, 1), label=label, file=sys.stderr, show_pos=True, show_eta=True
    ) as bar:
        yield bar.update


def _report(summary: Any) -> None:
    for line in summary.lines():
        click.echo(line)


@click.command("import")
@click.argument("source")
@click.option(
    "--to",
    "target",
    default=None,
    help="Traza store to import into (default: --tracking-uri, the environment, or ./mlruns).",
)
@click.option(
    "--copy-artifacts",
    is_flag=True,
    help="Copy artifacts into the target's artifact root (default: keep MLflow's locations).",
)
@click.pass_context
@reports_errors
def import_command(
    ctx: click.Context, source: str, target: str | None, copy_artifacts: bool
) -> None:
    """Import an MLflow store into a Traza store, keeping ids and timestamps.

    SOURCE is an MLflow `mlruns/` folder, a database (mlflow.db, sqlite:///..., postgresql://...)
    or a running MLflow server (http://...). The source is only read. Running it again adds
    what is new and duplicates nothing; an interrupted import resumes where it stopped.
    """
    from traza.store.uri import open_store
    from traza.transfer.open import open_mlflow_source
    from traza.transfer.pipeline import Transfer

    uri = _target_uri(ctx, target)
    _refuse_same_folder(source, uri)
    store = open_store(uri)
    try:
        reader = open_mlflow_source(source, store)
        try:
            with _progress(reader.run_count(), "Importing runs") as update:
                summary = Transfer(reader, store, uri, copy_artifacts, update).run()
        finally:
            reader.close()
    finally:
        store.close()
    _report(summary)


@click.command("sync")
@click.argument("source")
@click.argument("target")
@click.option(
    "--copy-artifacts",
    is_flag=True,
    help="Copy the runs' local artifacts into the target's artifact root.",
)
@reports_errors
def sync_command(source: str, target: str, copy_artifacts: bool) -> None:
    """Copy what is new in the Traza store SOURCE into TARGET (a store or a Traza server).

    Incremental: new runs, new metric points, changed tags and statuses. Safe to interrupt
    and rerun. Conflicts (a param with two values, an experiment name bound to two ids) are
    reported and the target's value kept. Run it both ways to merge two stores.
    """
    from traza.store.uri import open_store
    from traza.transfer.pipeline import Transfer
    from traza.transfer.traza_source import TrazaSource

    source_store = open_store(source)
    try:
        target_store = open_store(target)
        try:
            reader = TrazaSource(source_store, source, target_store)
            with _progress(reader.run_count(), "Syncing runs") as update:
                summary = Transfer(reader, target_store, target, copy_artifacts, update).run()
        finally:
            target_store.close()
    finally:
        source_store.close()
    _report(summary)
