"""``traza models serve`` and ``traza models predict``: MLflow's ``mlflow models`` commands.

Flags match MLflow's. ``--env-manager`` defaults to ``local`` (MLflow's default is
``virtualenv``): a Traza model pins the versions of the environment it was trained in, which is
most often the one serving it, so building a copy would cost a PyPI round and tens of seconds
for nothing; ``--env-manager virtualenv`` (or ``uv``) builds the model's own environment with
uv, cached, when the serving environment differs.
"""

from __future__ import annotations

from pathlib import Path

import click

from traza.cli.errors import reports_errors

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")


def _env(name: str) -> list[str]:
    return [f"TRAZA_{name}", f"MLFLOW_{name}"]


@click.group("models")
def models() -> None:
    """Serve models or score files with them, by MLflow's scoring protocol."""


_model_uri = click.option(
    "-m", "--model-uri", metavar="URI", required=True,
    help="The model: a path, runs:/<run_id>/<path>, models:/<name>/<version>, models:/m-<id>, "
    "or an artifact URI.",
)  # fmt: skip
_env_manager = click.option(
    "--env-manager",
    type=click.Choice(ENV_MANAGERS),
    default="local",
    show_default=True,
    help="local: this Python environment. virtualenv or uv: the model's own environment "
    "(python_env.yaml), built with uv and cached. conda is not supported.",
)


def _check_env_manager(env_manager: str) -> str:
    if env_manager == "conda":
        raise click.UsageError(
            "--env-manager conda is not supported by Traza: use virtualenv (built with uv from "
            "the model's python_env.yaml) or local."
        )
    return "local" if env_manager == "local" else "virtualenv"


_env_cache_dir = click.option(
    "--env-cache-dir",
    envvar="TRAZA_ENV_CACHE_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where built model environments are kept (default: ~/.cache/traza/envs).",
)


def _model_env(model_uri: str, cache_dir: Path | None) -> tuple[str, Path]:
    """The model's local folder and its (cached) environment."""
    from traza.scoring.environment import get_or_create_env
    from traza.scoring.server import resolve_model

    local = resolve_model(model_uri)
    return local, get_or_create_env(Path(local), cache_dir, lambda m: click.echo(m, err=True))


@models.command("serve")
@_model_uri
@click.option("-p", "--port", envvar=_env("PORT"), type=int, default=5000, show_default=True)
@click.option(
    "-h", "--host", envvar=_env("HOST"), default="127.0.0.1", show_default=True,
    help="Interface to listen on (0.0.0.0 for every interface).",
)  # fmt: skip
@click.option(
    "-t", "--timeout", envvar=_env("SCORING_SERVER_REQUEST_TIMEOUT"), type=float, default=60.0,
    show_default=True,
    help="Seconds a request scored in the thread pool may take before it is answered 504.",
)  # fmt: skip
@click.option(
    "-w", "--workers", envvar=_env("MODELS_WORKERS"), type=click.IntRange(min=1), default=1,
    show_default=True, help="Worker processes, each with its own copy of the model.",
)  # fmt: skip
@_env_manager
@_env_cache_dir
@click.option("--no-conda", is_flag=True, help="Same as --env-manager local (MLflow's old flag).")
@click.option(
    "--inline-limit",
    type=int,
    default=16384,
    show_default=True,
    metavar="BYTES",
    help="Requests with bodies up to this size are scored on the event loop (least overhead), "
    "larger ones in a thread pool (uses every core, keeps /ping answering, --timeout applies). "
    "0: always the pool; -1: always inline.",
)
@click.option(
    "--no-accelerate",
    is_flag=True,
    help="Serve forests through sklearn's own predict (the fast path gives identical results, "
    "checked at load; this is for comparison).",
)
@reports_errors
def serve(
    model_uri: str,
    port: int,
    host: str,
    timeout: float,
    workers: int,
    env_manager: str,
    env_cache_dir: Path | None,
    no_conda: bool,
    inline_limit: int,
    no_accelerate: bool,
) -> None:
    """Serve a model over HTTP: POST /invocations, GET /ping, /health, /version, /metrics."""
    from traza.scoring.app import ScoringSettings
    from traza.scoring.server import serve as run_server

    if no_conda:
        env_manager = "local"
    if _check_env_manager(env_manager) != "local":
        from traza.scoring.environment import run_in_env

        local, env = _model_env(model_uri, env_cache_dir)
        args = ["models", "serve", "-m", local, "-p", str(port), "-h", host, "-t", str(timeout),
                "-w", str(workers), "--env-manager", "local",
                "--inline-limit", str(inline_limit),
                *(["--no-accelerate"] if no_accelerate else [])]  # fmt: skip
        raise SystemExit(run_in_env(env, args))

    def announce(settings: ScoringSettings) -> None:
        from traza._version import __version__

        click.echo(
            f"Traza {__version__} serving {model_uri} at http://{settings.host}:{settings.port} "
            f"({settings.workers} worker(s)). Ctrl+C stops it.",
            err=True,
        )

    settings = ScoringSettings(
        model_uri=model_uri, host=host, port=port, workers=workers, timeout=timeout,
        inline_limit=inline_limit, accelerate=not no_accelerate,
    )  # fmt: skip
    run_server(settings, announce)


@models.command("predict")
@_model_uri
@click.option("-i", "--input-path", default=None, help="Input file (default: stdin).")
@click.option(
    "-o",
    "--output-path",
    default=None,
    help="Where to write the JSON predictions (default: stdout).",
)
@click.option(
    "-t", "--content-type", type=click.Choice(["json", "csv"]), default="json", show_default=True,
    help="json: a scoring request body (dataframe_split, dataframe_records, instances or inputs). "
    "csv: a DataFrame as to_csv writes it.",
)  # fmt: skip
@_env_manager
@_env_cache_dir
@reports_errors
def predict(
    model_uri: str,
    input_path: str | None,
    output_path: str | None,
    content_type: str,
    env_manager: str,
    env_cache_dir: Path | None,
) -> None:
    """Score a file with a model and write {"predictions": ...} as the server would answer."""
    from traza.scoring.server import predict_file

    if _check_env_manager(env_manager) != "local":
        from traza.scoring.environment import run_in_env

        local, env = _model_env(model_uri, env_cache_dir)
        args = ["models", "predict", "-m", local, "-t", content_type, "--env-manager", "local"]
        if input_path:
            args += ["-i", str(Path(input_path).resolve())]
        if output_path:
            args += ["-o", str(Path(output_path).resolve())]
        raise SystemExit(run_in_env(env, args))
    predict_file(model_uri, input_path, output_path, content_type)
