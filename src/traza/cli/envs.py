"""``traza envs``: list and prune the cached project and model environments."""

from __future__ import annotations

import time
from pathlib import Path

import click

from traza.cli.output import echo_json, echo_table, timestamp

_root = click.option(
    "--env-root",
    envvar="TRAZA_ENV_ROOT",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The environment cache (default: $TRAZA_ENV_ROOT, else ~/.cache/traza/envs).",
)


def _resolve(root: Path | None) -> Path:
    from traza.environments.cache import default_root

    return root or default_root()


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@click.group()
def envs() -> None:
    """Cached Python environments (built by traza run and traza models serve)."""


@envs.command(name="list")
@_root
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_envs(env_root: Path | None, as_json: bool) -> None:
    """List cached environments, most recently used first."""
    from traza.environments.cache import list_envs as listing

    root = _resolve(env_root)
    found = listing(root)
    if as_json:
        echo_json([{**e.meta, "key": e.key, "path": str(e.path), "complete": e.complete,
                    "size": e.size, "last_used": e.last_used} for e in found])  # fmt: skip
        return
    if not found:
        click.echo(f"No environments in {root}.")
        return
    echo_table(
        ["Hash", "Manager", "Python", "Size", "Last used", "Spec"],
        [
            (
                e.key,
                e.meta.get("manager", "?") if e.complete else "(incomplete)",
                e.meta.get("python_version", ""),
                _size(e.size),
                timestamp(int(e.last_used * 1000)),
                e.meta.get("spec", ""),
            )
            for e in found
        ],
    )
    click.echo(f"\n{len(found)} environment(s) in {root}, {_size(sum(e.size for e in found))}.")


@envs.command()
@_root
@click.option("--older-than", type=click.FloatRange(min=0), default=None, metavar="DAYS",
              help="Remove environments not used for DAYS days.")  # fmt: skip
@click.option("--all", "everything", is_flag=True, help="Remove every environment (and wheel).")
@click.option("--dry-run", is_flag=True, help="Only print what would be removed.")
def prune(env_root: Path | None, older_than: float | None, everything: bool, dry_run: bool) -> None:
    """Remove unused environments. Incomplete ones (an interrupted build) and leftovers of
    killed builds are always removed; complete ones with --older-than or --all."""
    from traza.environments.cache import prune as do_prune

    root = _resolve(env_root)
    started = time.monotonic()
    removed = do_prune(root, older_than_days=older_than, everything=everything, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    for path in removed:
        click.echo(f"{verb} {path}")
    click.echo(f"{verb} {len(removed)} item(s) from {root} ({time.monotonic() - started:.2f} s).")
