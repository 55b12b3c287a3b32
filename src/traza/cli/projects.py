"""``traza run``: run an MLflow project, with ``mlflow run``'s flags."""

from __future__ import annotations

import sys
from typing import Any

import click

from traza.cli.errors import reports_errors


def _pairs(arguments: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``-P name=value`` (and ``-A name`` for docker flags) into a dict, as MLflow parses them."""
    values: dict[str, Any] = {}
    for argument in arguments:
        name, sep, value = argument.partition("=")
        if not sep and flag != "A":
            raise click.UsageError(
                f"Invalid format for -{flag} parameter: '{argument}'. Use -{flag} name=value."
            )
        if name in values:
            raise click.UsageError(f"Repeated parameter: '{name}'")
        values[name] = value if sep else True
    return values


def _backend_config(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    from traza.exceptions import ExecutionException
    from traza.projects.backends import load_config

    try:
        return load_config(value)
    except ExecutionException as e:
        raise click.UsageError(e.message) from None


@click.command(name="run")
@click.argument("uri")
@click.option(
    "-e",
    "--entry-point",
    metavar="NAME",
    default="main",
    show_default=True,
    help="Entry point of the MLproject, or a .py/.sh file of the project.",
)
@click.option(
    "-v", "--version", metavar="VERSION", help="Git branch, tag or commit to run (Git projects)."
)
@click.option(
    "-P",
    "--param-list",
    metavar="NAME=VALUE",
    multiple=True,
    help="A parameter; undeclared ones are passed as --name value. Repeatable.",
)
@click.option(
    "-A",
    "--docker-args",
    metavar="NAME[=VALUE]",
    multiple=True,
    help="A `docker run` argument (-A gpus=all) or flag (-A t). Repeatable.",
)
@click.option(
    "--experiment-name",
    envvar=["TRAZA_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_NAME"],
    help="Experiment to record the run in (created when missing).",
)
@click.option(
    "--experiment-id",
    envvar=["TRAZA_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_ID"],
    help="Id of the experiment to record the run in.",
)
@click.option(
    "-b",
    "--backend",
    default="local",
    show_default=True,
    help="Where to run: local, slurm, ray, or a backend plugin (mlflow.project_backend).",
)
@click.option(
    "-c",
    "--backend-config",
    metavar="FILE|JSON",
    help="Backend configuration: a JSON object, or a .json/.yaml file (see the README).",
)
@click.option(
    "--env-manager",
    type=click.Choice(["local", "virtualenv", "uv", "conda"]),
    help="How to build the environment (default: from the project's files, as MLflow).",
)
@click.option(
    "--storage-dir",
    envvar="MLFLOW_TMP_DIR",
    help="Where clones, downloaded 'path' parameters and the output log are kept.",
)
@click.option(
    "--run-id",
    metavar="RUN_ID",
    help="Use this existing run instead of creating one (MLflow's internal flag).",
)
@click.option("--run-name", metavar="RUN_NAME", help="Name of the run.")
@click.option(
    "--build-image",
    is_flag=True,
    default=False,
    help="Docker projects: build an image with the project inside.",
)
@reports_errors
def run(
    uri: str,
    entry_point: str,
    version: str | None,
    param_list: tuple[str, ...],
    docker_args: tuple[str, ...],
    experiment_name: str | None,
    experiment_id: str | None,
    backend: str,
    backend_config: str | None,
    env_manager: str | None,
    storage_dir: str | None,
    run_id: str | None,
    run_name: str | None,
    build_image: bool,
) -> None:
    """Run the MLflow project at URI (a folder, or a Git URI with #subdir), recording a run.

    The command's exit status decides the run's: FINISHED, FAILED or KILLED (Ctrl+C).
    """  # fmt: skip
    if experiment_id and experiment_name:
        raise click.UsageError("Specify only one of 'experiment-name' or 'experiment-id' options.")
    from traza.exceptions import ExecutionException
    from traza.projects import run as run_project

    try:
        run_project(
            uri,
            entry_point,
            version,
            parameters=_pairs(param_list, "P"),
            docker_args=_pairs(docker_args, "A"),
            experiment_name=experiment_name,
            experiment_id=experiment_id,
            backend=backend,
            backend_config=_backend_config(backend_config),
            storage_dir=storage_dir,
            synchronous=True,
            run_id=run_id,
            run_name=run_name,
            env_manager=env_manager,
            build_image=build_image,
        )
    except ExecutionException as e:
        raise click.ClickException(e.message) from None
    except KeyboardInterrupt:
        sys.exit(130)
