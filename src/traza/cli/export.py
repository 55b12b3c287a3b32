"""``traza export TARGET``: copy a Traza store into MLflow (a server or MLflow's database)."""

from __future__ import annotations

import click

from traza.cli.errors import reports_errors
from traza.cli.gc import comma_list, existing_store_uri


@click.command()
@click.argument("target")
@click.option(
    "--from",
    "source_uri",
    default=None,
    help="The Traza store to export (default: the --tracking-uri given to traza, "
    "TRAZA_TRACKING_URI, MLFLOW_TRACKING_URI or ./mlruns).",
)
@click.option(
    "--experiment-ids",
    default=None,
    help="Comma-separated experiments to export (default: all), with the registered models "
    "whose versions come from them.",
)
@click.pass_context
@reports_errors
def export(
    ctx: click.Context, target: str, source_uri: str | None, experiment_ids: str | None
) -> None:
    """Export runs, experiments, logged models and registered models to MLflow.

    TARGET is an MLflow tracking URI: an MLflow server (http://host:5000) or a database MLflow
    manages (sqlite:///mlflow.db, postgresql://...), written through the mlflow package
    (pip install mlflow). Exporting again updates what changed and duplicates nothing.
    """
    from traza.client import get_tracking_uri
    from traza.store.uri import open_store
    from traza.transfer.export import export_to_mlflow

    uri = source_uri or (ctx.find_root().obj or {}).get("tracking_uri") or get_tracking_uri()
    ids = comma_list(experiment_ids)
    source = open_store(existing_store_uri(uri))
    try:
        summary = export_to_mlflow(
            source,
            target,
            ids or None,
            progress=lambda message: click.echo(message, err=True),
            source_tracking_uri=uri,
        )
    finally:
        source.close()
    click.echo(f"Exported {uri} to {target} in {summary.seconds:.1f}s:")
    for line in summary.lines():
        click.echo(f"  {line}")
