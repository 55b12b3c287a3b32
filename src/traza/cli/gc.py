"""``traza gc``: purge the deleted stage for good (rows and artifacts), as ``mlflow gc`` does.

Unlike ``mlflow gc`` it is a dry run unless ``--yes`` is given: it lists what would go.
"""

from __future__ import annotations

import click

from traza.cli.errors import reports_errors
from traza.cli.output import echo_table, timestamp
from traza.store.purge import PurgeReport, parse_age


def existing_store_uri(uri: str) -> str:
    """``uri`` if it names a store that exists; a folder or SQLite file that is not there is an
    error (opening it would create an empty store where the user mistyped a path)."""
    from pathlib import Path

    from traza.exceptions import invalid
    from traza.store.uri import DB_FILENAME, local_folder

    folder = local_folder(uri)
    if folder is not None:
        if not (folder.expanduser() / DB_FILENAME).is_file():
            raise invalid(
                f"No Traza store at {folder} (no {DB_FILENAME} there). Give the store's folder, "
                "sqlite:///path.db or postgresql://..."
            )
    elif uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :].split("?", 1)[0]).expanduser()
        if not path.is_file():
            raise invalid(f"No database at {path}: check the path in {uri!r}.")
    return uri


def comma_list(text: str | None) -> list[str]:
    """The non-empty items of a comma-separated option (``--experiment-ids 1, 2,``)."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@click.command()
@click.option(
    "--backend-store-uri",
    default=None,
    help="The store to clean (a folder, sqlite:///..., postgresql://...). Default: the "
    "--tracking-uri given to traza, TRAZA_TRACKING_URI, MLFLOW_TRACKING_URI or ./mlruns.",
)
@click.option(
    "--older-than",
    default=None,
    help="Only what was deleted at least this long ago: 30d, 2h, 1d12h, 90m, 45s "
    "(default: anything deleted).",
)
@click.option(
    "--experiment-ids",
    default=None,
    help="Comma-separated deleted experiments to purge (with all their runs); default: all.",
)
@click.option(
    "--run-ids", default=None, help="Comma-separated deleted runs to purge; default: all."
)
@click.option(
    "--logged-model-ids",
    default=None,
    help="Comma-separated deleted logged models to purge; default: all.",
)
@click.option(
    "--artifacts-destination",
    default=None,
    help="Where a tracking server kept proxied (mlflow-artifacts:/) artifacts: the server's "
    "--artifacts-destination (a folder or s3://bucket/prefix).",
)
@click.option("--yes", is_flag=True, help="Delete for good. Without it, only list what would go.")
@click.pass_context
@reports_errors
def gc(
    ctx: click.Context,
    backend_store_uri: str | None,
    older_than: str | None,
    experiment_ids: str | None,
    run_ids: str | None,
    logged_model_ids: str | None,
    artifacts_destination: str | None,
    yes: bool,
) -> None:
    """Permanently delete runs, experiments and logged models in the deleted stage.

    Deleted experiments go with all their runs and logged models, and every item with its
    artifacts. Without --yes nothing is deleted: the list shows what would go.
    """
    from traza.client import get_tracking_uri
    from traza.store.uri import open_store

    age_ms = parse_age(older_than) if older_than else 0
    uri = backend_store_uri or (ctx.find_root().obj or {}).get("tracking_uri") or get_tracking_uri()
    store = open_store(existing_store_uri(uri))
    try:
        report = store.purge_deleted(
            older_than_ms=age_ms,
            experiment_ids=comma_list(experiment_ids),
            run_ids=comma_list(run_ids),
            dry_run=not yes,
            artifacts_destination=artifacts_destination,
            logged_model_ids=comma_list(logged_model_ids),
        )
    finally:
        store.close()
    _print(report)
    if report.artifact_errors:
        raise click.ClickException(
            f"{len(report.artifact_errors)} artifact location(s) could not be deleted after their "
            "rows were (listed above); delete them by hand."
        )


def _print(report: PurgeReport) -> None:
    items = report.items
    if items:
        echo_table(
            ["Kind", "ID", "Experiment", "Name", "Deleted", "Artifacts"],
            [
                (
                    i.kind,
                    i.id,
                    i.experiment_id,
                    i.name,
                    timestamp(i.deleted_time),
                    i.artifact_uri or "",
                )
                for i in items
            ],
        )
    for s in report.skipped:
        click.echo(f"kept {s.kind} {s.id}: {s.reason}", err=True)
    for uri, message in report.artifact_errors:
        click.echo(f"could not delete artifacts at {uri}: {message}", err=True)
    counts = (
        f"{len(report.experiments)} experiment(s), {len(report.runs)} run(s), "
        f"{len(report.logged_models)} logged model(s)"
    )
    if report.dry_run:
        click.echo(f"Would purge {counts}. Nothing was deleted: run again with --yes to purge.")
    else:
        click.echo(f"Purged {counts}.")
