"""``traza runs``: list (with a filter and order), describe, delete, restore."""

from __future__ import annotations

import click

from traza.cli import client_from
from traza.cli.errors import reports_errors
from traza.cli.output import echo_json, echo_table, timestamp
from traza.entities import Run, ViewType
from traza.exceptions import invalid

_VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}


@click.group()
def runs() -> None:
    """Inspect and manage runs."""


def _duration(run: Run) -> str:
    if run.info.end_time is None:
        return ""
    return f"{(run.info.end_time - run.info.start_time) / 1000:.1f}s"


@runs.command(name="list")
@click.option("-x", "--experiment-id", "experiment_ids", multiple=True, help="Repeatable.")
@click.option("-n", "--experiment-name", "experiment_names", multiple=True, help="Repeatable.")
@click.option("--filter", "filter_string", default="", help='e.g. "metrics.rmse < 0.5"')
@click.option("--order-by", multiple=True, help="e.g. 'metrics.rmse ASC'; repeatable.")
@click.option("--view", type=click.Choice(sorted(_VIEWS)), default="active", show_default=True)
@click.option("--max-results", type=click.IntRange(1, 50000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
@reports_errors
def list_runs(
    ctx: click.Context,
    experiment_ids: tuple[str, ...],
    experiment_names: tuple[str, ...],
    filter_string: str,
    order_by: tuple[str, ...],
    view: str,
    max_results: int,
    as_json: bool,
) -> None:
    """List runs of one or more experiments (default: experiment 0)."""
    client = client_from(ctx)
    ids = list(experiment_ids)
    for name in experiment_names:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise invalid(f"No experiment named {name!r}; see `traza experiments list`.")
        ids.append(experiment.experiment_id)
    found = client.search_runs(
        ids or ["0"], filter_string, _VIEWS[view], max_results, list(order_by)
    )
    if as_json:
        echo_json([r.to_dictionary() for r in found])
        return
    metric_keys = sorted({k for r in found for k in r.data.metrics})[:6]
    param_keys = sorted({k for r in found for k in r.data.params})[:6]
    echo_table(
        ["Run ID", "Name", "Status", "Started", "Duration"]
        + [f"metrics.{k}" for k in metric_keys]
        + [f"params.{k}" for k in param_keys],
        [
            [
                r.info.run_id,
                r.info.run_name,
                r.info.status,
                timestamp(r.info.start_time),
                _duration(r),
            ]
            + [_number(r.data.metrics.get(k)) for k in metric_keys]
            + [r.data.params.get(k, "") for k in param_keys]
            for r in found
        ],
    )


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


@runs.command()
@click.option("--run-id", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of sections.")
@click.pass_context
@reports_errors
def describe(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show a run: its info, params, latest metrics and tags."""
    run = client_from(ctx).get_run(run_id)
    if as_json:
        echo_json(run.to_dictionary())
        return
    info = run.info
    echo_table(
        ["Field", "Value"],
        [
            ("run_id", info.run_id),
            ("run_name", info.run_name),
            ("experiment_id", info.experiment_id),
            ("status", info.status),
            ("lifecycle_stage", info.lifecycle_stage),
            ("user_id", info.user_id),
            ("start_time", timestamp(info.start_time)),
            ("end_time", timestamp(info.end_time)),
            ("artifact_uri", info.artifact_uri),
        ],
    )
    for title, values in (
        ("Params", run.data.params),
        ("Metrics", {k: _number(v) for k, v in run.data.metrics.items()}),
        ("Tags", run.data.tags),
    ):
        click.echo(f"\n{title}")
        echo_table(["Key", "Value"], sorted(values.items()))


@runs.command()
@click.option("--run-id", required=True)
@click.pass_context
@reports_errors
def delete(ctx: click.Context, run_id: str) -> None:
    """Move a run to the deleted stage (restore brings it back)."""
    client_from(ctx).delete_run(run_id)
    click.echo(f"Run {run_id} deleted")


@runs.command()
@click.option("--run-id", required=True)
@click.pass_context
@reports_errors
def restore(ctx: click.Context, run_id: str) -> None:
    """Restore a deleted run."""
    client_from(ctx).restore_run(run_id)
    click.echo(f"Run {run_id} restored")
