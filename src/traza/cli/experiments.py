"""``traza experiments``: create, list, rename, delete, restore, and csv (all runs of one, as
``mlflow experiments csv``)."""

from __future__ import annotations

from typing import Any

import click

from traza.cli import client_from
from traza.cli.errors import reports_errors
from traza.cli.output import echo_json, echo_table, timestamp
from traza.entities import ViewType

_VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}


@click.group()
def experiments() -> None:
    """Manage experiments."""


@experiments.command()
@click.option("-n", "--experiment-name", "name", required=True, help="Name of the new experiment.")
@click.option("-l", "--artifact-location", default=None, help="Where its artifacts go.")
@click.pass_context
@reports_errors
def create(ctx: click.Context, name: str, artifact_location: str | None) -> None:
    """Create an experiment."""
    experiment_id = client_from(ctx).create_experiment(name, artifact_location)
    click.echo(f"Created experiment {name!r} with id {experiment_id}")


@experiments.command(name="list")
@click.option("--view", type=click.Choice(sorted(_VIEWS)), default="active", show_default=True)
@click.option("--filter", "filter_string", default=None, help="e.g. \"name LIKE 'salary%'\"")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@reports_errors
def list_experiments(
    ctx: click.Context, view: str, filter_string: str | None, as_json: bool
) -> None:
    """List experiments."""
    client = client_from(ctx)
    found, token = [], None
    while True:
        page = client.search_experiments(_VIEWS[view], 1000, filter_string, None, token)
        found.extend(page)
        token = page.token
        if not token:
            break
    if as_json:
        echo_json([e.to_dict() for e in found])
        return
    echo_table(
        ["ID", "Name", "Stage", "Created", "Artifact location"],
        [
            (
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                timestamp(e.creation_time),
                e.artifact_location,
            )
            for e in found
        ],
    )


@experiments.command()
@click.option("-x", "--experiment-id", required=True)
@click.option("--new-name", required=True)
@click.pass_context
@reports_errors
def rename(ctx: click.Context, experiment_id: str, new_name: str) -> None:
    """Rename an experiment."""
    client_from(ctx).rename_experiment(experiment_id, new_name)
    click.echo(f"Experiment {experiment_id} is now named {new_name!r}")


@experiments.command()
@click.option("-x", "--experiment-id", required=True)
@click.pass_context
@reports_errors
def delete(ctx: click.Context, experiment_id: str) -> None:
    """Move an experiment and its runs to the deleted stage (restore brings them back)."""
    client_from(ctx).delete_experiment(experiment_id)
    click.echo(f"Experiment {experiment_id} deleted")


@experiments.command()
@click.option("-x", "--experiment-id", required=True)
@click.pass_context
@reports_errors
def restore(ctx: click.Context, experiment_id: str) -> None:
    """Restore a deleted experiment and its runs."""
    client_from(ctx).restore_experiment(experiment_id)
    click.echo(f"Experiment {experiment_id} restored")


@experiments.command()
@click.option("-x", "--experiment-id", required=True, help="Experiment whose runs to write.")
@click.option("-o", "--filename", default=None, help="CSV file to write (default: print it).")
@click.pass_context
@reports_errors
def csv(ctx: click.Context, experiment_id: str, filename: str | None) -> None:
    """Write every run of an experiment as CSV (search_runs' columns), as mlflow does."""
    from traza.frames import runs_to_dataframe

    client = client_from(ctx)
    client.get_experiment(experiment_id)  # an unknown id is an error, not an empty file
    frame = runs_to_dataframe(_all_runs(client, experiment_id))
    if filename:
        frame.to_csv(filename, index=False)
        click.echo(
            f"Experiment with ID {experiment_id} has been exported as a CSV to file: {filename}."
        )
    else:
        click.echo(frame.to_csv(index=False))


def _all_runs(client: Any, experiment_id: str) -> list[Any]:
    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], "", ViewType.ACTIVE_ONLY, 50000, None, token)
        found.extend(page)
        token = page.token
        if not token:
            return found
