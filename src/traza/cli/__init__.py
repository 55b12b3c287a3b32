"""The ``traza`` command: thin click commands over the client (subcommands load on use)."""

from __future__ import annotations

from typing import Any

import click

from traza._version import __version__

_SUBCOMMANDS = {
    "artifacts": ("traza.cli.artifacts", "artifacts"),
    "envs": ("traza.cli.envs", "envs"),
    "experiments": ("traza.cli.experiments", "experiments"),
    "export": ("traza.cli.export", "export"),
    "gc": ("traza.cli.gc", "gc"),
    "import": ("traza.cli.transfer", "import_command"),
    "models": ("traza.cli.models", "models"),
    "permissions": ("traza.cli.permissions", "permissions"),
    "reproduce": ("traza.cli.reproduce", "reproduce"),
    "run": ("traza.cli.projects", "run"),
    "runs": ("traza.cli.runs", "runs"),
    "server": ("traza.cli.server", "server"),
    "sweep": ("traza.cli.sweep", "sweep"),
    "sync": ("traza.cli.transfer", "sync_command"),
    "tokens": ("traza.cli.users", "tokens"),
    "ui": ("traza.cli.server", "ui"),
    "users": ("traza.cli.users", "users"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _SUBCOMMANDS:
            return None
        import importlib

        module, attr = _SUBCOMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=_LazyGroup)
@click.version_option(__version__, "--version", prog_name="traza")
@click.option(
    "--tracking-uri",
    default=None,
    help="Store to use (default: TRAZA_TRACKING_URI, MLFLOW_TRACKING_URI, or ./mlruns).",
)
@click.pass_context
def main(ctx: click.Context, tracking_uri: str | None) -> None:
    """Traza: experiment tracking with MLflow's interfaces."""
    ctx.obj = {"tracking_uri": tracking_uri}


def client_from(ctx: click.Context) -> Any:
    """The client for the ``--tracking-uri`` given to ``traza`` (or the environment's)."""
    from traza.client import TrazaClient

    return TrazaClient((ctx.find_root().obj or {}).get("tracking_uri"))
