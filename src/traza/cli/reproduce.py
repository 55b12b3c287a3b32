"""``traza reproduce RUN_ID``: rebuild a run's code, data, params and environment, rerun it as
a new run linked to it, and compare every metric."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from traza.cli.errors import reports_errors


@click.command(name="reproduce")
@click.argument("run_id")
@click.option(
    "--tolerance",
    type=float,
    default=1e-9,
    show_default=True,
    help="Relative (and, near zero, absolute) difference under which metrics still match.",
)
@click.option(
    "--env-manager",
    type=click.Choice(["uv", "virtualenv", "local"]),
    default="uv",
    show_default=True,
    help="uv/virtualenv: build the recorded packages with uv; local: the current interpreter.",
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Git repository holding the run's commit (default: the one the run recorded).",
)
@click.option("--experiment-id", help="Experiment for the new run (default: the original's).")
@click.option("--keep-worktree", is_flag=True, help="Keep the temporary work tree for a look.")
@click.pass_context
@reports_errors
def reproduce(
    ctx: click.Context,
    run_id: str,
    tolerance: float,
    env_manager: str,
    repo: Path | None,
    experiment_id: str | None,
    keep_worktree: bool,
) -> None:
    """Reproduce RUN_ID: its Git commit (in a temporary worktree), its DVC data versions, its
    params and its packages; run its stage again as a new run tagged traza.reproduced_from,
    then print each metric of both runs: equal, within tolerance, or different.

    Exits 1 when a metric differs (or is missing), so scripts and CI can check it.
    """
    from traza.exceptions import ExecutionException
    from traza.reproduce import format_report
    from traza.reproduce import reproduce as run_reproduction

    root = ctx.find_root().obj or {}
    if root.get("tracking_uri"):
        import traza

        traza.set_tracking_uri(root["tracking_uri"])
    try:
        result = run_reproduction(
            run_id,
            tolerance=tolerance,
            env_manager=env_manager,
            repo=repo,
            experiment_id=experiment_id,
            keep_worktree=keep_worktree,
        )
    except ExecutionException as e:
        raise click.ClickException(e.message) from None
    click.echo(format_report(result))
    if not result.matches:
        sys.exit(1)
