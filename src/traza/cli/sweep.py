"""``traza sweep``: a hyperparameter sweep of a project's entry point (parent run + trials)."""

from __future__ import annotations

import sys
from typing import Any

import click

from traza.cli.errors import reports_errors


def _values(arguments: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for argument in arguments:
        name, sep, value = argument.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.UsageError(
                f"Invalid format for -P: '{argument}'. Use -P name=values, e.g. -P alpha=0.1,0.5."
            )
        if name in values:
            raise click.UsageError(f"Repeated parameter: '{name}'")
        values[name] = value
    return values


@click.command(name="sweep")
@click.argument("uri")
@click.option("-e", "--entry-point", metavar="NAME", help="Entry point to sweep (default: main).")
@click.option("-v", "--version", metavar="VERSION", help="Git branch, tag or commit to run.")
@click.option(
    "-P",
    "--param-list",
    metavar="NAME=VALUES",
    multiple=True,
    help="Values of a parameter: a,b,c | range(start, stop, num) | uniform(lo, hi) | "
    "loguniform(lo, hi) | int(lo, hi) | choice(a, b, ...). Repeatable.",
)
@click.option(
    "--strategy",
    type=click.Choice(["grid", "random", "optuna"]),
    help="grid (every combination; the default), random, or optuna (needs --metric).",
)
@click.option("--trials", type=int, help="How many trials random and optuna draw.")
@click.option("--max-parallel", type=int, help="Trials running at once (default 1).")
@click.option("--metric", help="The metric that ranks trials (its latest value).")
@click.option(
    "--goal", type=click.Choice(["minimize", "maximize"]), help="Default: minimize."
)  # fmt: skip
@click.option("--seed", type=int, help="Seed of random draws (and of Optuna's sampler).")
@click.option(
    "--config",
    "config_file",
    metavar="SWEEP.yaml",
    help="A YAML file with 'parameters:' (values with commas as YAML lists) and settings.",
)
@click.option("--new", is_flag=True, default=False, help="Start a fresh sweep; do not resume.")
@click.option(
    "--experiment-name",
    envvar=["TRAZA_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"],
    help="Experiment to record the sweep in (created when missing).",
)
@click.option(
    "--experiment-id",
    envvar=["TRAZA_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID"],
    help="Id of the experiment to record the sweep in.",
)
@click.option("-b", "--backend", help="Where trials run: local (default), slurm, ray, a plugin.")
@click.option(
    "-c",
    "--backend-config",
    metavar="FILE|JSON",
    help="Backend configuration: a JSON object, or a .json/.yaml file.",
)
@click.option(
    "--env-manager",
    type=click.Choice(["local", "virtualenv", "uv", "conda"]),
    help="How to build the trials' environment (default: from the project's files).",
)
@click.option("--run-name", metavar="NAME", help="Name of the parent run.")
@reports_errors
def sweep(
    uri: str,
    entry_point: str | None,
    version: str | None,
    param_list: tuple[str, ...],
    strategy: str | None,
    trials: int | None,
    max_parallel: int | None,
    metric: str | None,
    goal: str | None,
    seed: int | None,
    config_file: str | None,
    new: bool,
    experiment_name: str | None,
    experiment_id: str | None,
    backend: str | None,
    backend_config: str | None,
    env_manager: str | None,
    run_name: str | None,
) -> None:
    """Sweep the parameters of the project at URI: a parent run with a child run per trial.

    Running the same sweep again resumes it (finished trials are kept); --new starts afresh.
    """
    if experiment_id and experiment_name:
        raise click.UsageError("Specify only one of 'experiment-name' or 'experiment-id' options.")
    from traza.sweeps import sweep as run_sweep

    try:
        result = run_sweep(
            uri,
            entry_point,
            _values(param_list),
            strategy=strategy,
            trials=trials,
            max_parallel=max_parallel,
            metric=metric,
            goal=goal,
            backend=backend,
            backend_config=backend_config,
            seed=seed,
            config=config_file,
            new=new,
            experiment_name=experiment_name,
            experiment_id=experiment_id,
            env_manager=env_manager,
            version=version,
            run_name=run_name,
        )
    except KeyboardInterrupt:
        click.echo("Sweep interrupted: its trials were stopped (KILLED).", err=True)
        sys.exit(130)
    _report(result)
    if result.get_status() != "FINISHED":
        raise click.ClickException(
            f"Sweep '{result.run_id}' {result.get_status()}: no trial succeeded."
        )


def _report(result: Any) -> None:
    from traza.cli.output import echo_table

    metric = result.definition.metric
    names = [d.name for d in result.definition.space.dimensions]
    rows = []
    for trial in result.trials:
        status = "PRUNED" if trial.pruned else trial.status
        value = "" if trial.value is None else f"{trial.value:.6g}"
        rows.append([trial.index, status, value, trial.run_id or "",
                     *(trial.params.get(n, "") for n in names)])  # fmt: skip
    echo_table(["trial", "status", metric or "metric", "run_id", *names], rows)
    click.echo(f"Sweep run: {result.run_id}")
    best = result.best
    if best is not None:
        shown = ", ".join(f"{k}={v}" for k, v in best.params.items())
        click.echo(f"Best trial: {best.index} (run {best.run_id}) {metric}={best.value:.6g}")
        click.echo(f"Best params: {shown}")
    elif metric:
        click.echo(f"No finished trial logged the metric '{metric}'.")
