"""``traza runs``: list (with a filter and order), describe, delete, restore."""

from __future__ import annotations

import click

from traza.cli import client_from
from traza.cli.errors import reports_errors
from traza.cli.output import echo_json, echo_table, timestamp
from traza.entities import Run, ViewType
from traza.exceptions import invalid

#: Metric and param columns shown by default (each; --columns chooses others).
DEFAULT_KEYS = 4
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
@click.option(
    "--columns",
    default=None,
    help="Comma-separated metrics.KEY, params.KEY or tags.KEY to show (a bare KEY is a metric, "
    f"else a param), or 'all'. Default: the first {DEFAULT_KEYS} metrics and params.",
)
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
    columns: str | None,
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
    chosen, hidden = _columns(found, columns)
    echo_table(
        ["Run ID", "Name", "Status", "Started", "Duration", *chosen],
        [
            [
                r.info.run_id,
                r.info.run_name,
                r.info.status,
                timestamp(r.info.start_time),
                _duration(r),
            ]
            + [_cell(r, column) for column in chosen]
            for r in found
        ],
    )
    if hidden:
        click.echo(
            f"({hidden} more metric and param columns not shown: --columns all shows them, "
            "--columns metrics.KEY,params.KEY chooses, --json gives everything)",
            err=True,
        )


def _columns(found: list[Run], wanted: str | None) -> tuple[list[str], int]:
    """The metric/param/tag columns to show, and how many metric and param columns were left
    out (a line per run stays readable: every key as a column made lines hundreds wide)."""
    metrics = sorted({k for r in found for k in r.data.metrics})
    params = sorted({k for r in found for k in r.data.params})
    if wanted is None:
        chosen = [f"metrics.{k}" for k in metrics[:DEFAULT_KEYS]]
        chosen += [f"params.{k}" for k in params[:DEFAULT_KEYS]]
        return chosen, len(metrics) + len(params) - len(chosen)
    if wanted.strip().lower() == "all":
        return [f"metrics.{k}" for k in metrics] + [f"params.{k}" for k in params], 0
    chosen = []
    for item in (x.strip() for x in wanted.split(",")):
        if not item:
            continue
        if item.startswith(("metrics.", "params.", "tags.")):
            chosen.append(item)
        elif item in metrics or item not in params:
            chosen.append(f"metrics.{item}")
        else:
            chosen.append(f"params.{item}")
    return chosen, 0


def _cell(run: Run, column: str) -> str:
    kind, _, key = column.partition(".")
    if kind == "metrics":
        return _number(run.data.metrics.get(key))
    values = run.data.params if kind == "params" else run.data.tags
    return values.get(key, "")


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
