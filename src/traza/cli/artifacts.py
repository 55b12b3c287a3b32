"""``traza artifacts``: list, download and log a run's artifacts, as ``mlflow artifacts``
(same commands, flags and output: ``list`` prints MLflow's JSON list of file infos,
``download`` the local path)."""

from __future__ import annotations

import json

import click

from traza.cli import client_from
from traza.cli.errors import reports_errors


@click.group()
def artifacts() -> None:
    """Upload, list and download a run's artifacts (local folders, S3 or a tracking server).

    With a tracking server, set MLFLOW_TRACKING_URI (or traza --tracking-uri) to its URL.
    """


@artifacts.command(name="list")
@click.option("-r", "--run-id", required=True, help="Run whose artifacts to list.")
@click.option("-a", "--artifact-path", default=None, help="A folder under the run's root.")
@click.pass_context
@reports_errors
def list_artifacts(ctx: click.Context, run_id: str, artifact_path: str | None) -> None:
    """List the artifacts directly under a run's root (or ARTIFACT_PATH), as JSON."""
    found = client_from(ctx).list_artifacts(run_id, artifact_path)
    click.echo(json.dumps([f.to_dict() for f in found], indent=2))


@artifacts.command()
@click.option("-r", "--run-id", default=None, help="Run to download from.")
@click.option("-a", "--artifact-path", default=None, help="With --run-id: a path under its root.")
@click.option("-u", "--artifact-uri", default=None, help="An artifact URI instead of --run-id.")
@click.option("-d", "--dst-path", default=None, help="Folder to download into (created).")
@click.pass_context
@reports_errors
def download(
    ctx: click.Context,
    run_id: str | None,
    artifact_path: str | None,
    artifact_uri: str | None,
    dst_path: str | None,
) -> None:
    """Download an artifact file or folder; prints where it is on this machine."""
    from traza.artifacts import download_artifacts

    if (run_id is None) == (artifact_uri is None):
        raise click.UsageError("Give either --run-id (with --artifact-path) or --artifact-uri.")
    if artifact_uri is not None and artifact_path is not None:
        raise click.UsageError("--artifact-path goes with --run-id, not with --artifact-uri.")
    if run_id is not None:
        client = client_from(ctx)
        local = client.download_artifacts(run_id, artifact_path or "", dst_path)
    else:
        tracking_uri = (ctx.find_root().obj or {}).get("tracking_uri")
        local = download_artifacts(
            artifact_uri=artifact_uri, dst_path=dst_path, tracking_uri=tracking_uri
        )
    click.echo(local)


@artifacts.command(name="log-artifact")
@click.option("-l", "--local-file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-r", "--run-id", required=True, help="Run to log into.")
@click.option("-a", "--artifact-path", default=None, help="Folder under the run's root.")
@click.pass_context
@reports_errors
def log_artifact(
    ctx: click.Context, local_file: str, run_id: str, artifact_path: str | None
) -> None:
    """Log a local file as an artifact of a run (in ARTIFACT_PATH when given)."""
    client_from(ctx).log_artifact(run_id, local_file, artifact_path)
    click.echo(
        f"Logged artifact from local file {local_file} to artifact_path={artifact_path}", err=True
    )


@artifacts.command(name="log-artifacts")
@click.option("-l", "--local-dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-r", "--run-id", required=True, help="Run to log into.")
@click.option("-a", "--artifact-path", default=None, help="Folder under the run's root.")
@click.pass_context
@reports_errors
def log_artifacts(
    ctx: click.Context, local_dir: str, run_id: str, artifact_path: str | None
) -> None:
    """Log the files of a local folder as artifacts of a run (in ARTIFACT_PATH when given)."""
    client_from(ctx).log_artifacts(run_id, local_dir, artifact_path)
    click.echo(
        f"Logged artifact from local dir {local_dir} to artifact_path={artifact_path}", err=True
    )
