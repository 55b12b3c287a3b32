"""``traza permissions``: who may do what on an experiment or registered model, on the store.

The same grants as MLflow's permission API (READ, USE, EDIT, MANAGE, NO_PERMISSIONS), written to
the store directly (``--backend-store-uri``), so an operator can share before or without the
server; running servers see each change within 2 seconds.
"""

from __future__ import annotations

import os
from typing import Any

import click

from traza.cli.errors import reports_errors
from traza.cli.output import echo_table
from traza.cli.users import server_store_option

_LEVELS = ["READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS"]


def _resource_options(func: Any) -> Any:
    func = click.option("--registered-model", "model", default=None, help="A model's name.")(func)
    return click.option("--experiment-id", default=None, help="An experiment's id.")(func)


def _open(backend_store_uri: str | None) -> tuple[Any, Any]:
    """The tracking store and the database holding the grants (its own unless the auth config
    names a separate ``database_uri``)."""
    from traza import config
    from traza.auth.config import read_auth_config
    from traza.auth.setup import open_auth_store
    from traza.cli.gc import existing_store_uri
    from traza.store.uri import open_store

    uri = backend_store_uri or config.tracking_uri_from_environment() or "./mlruns"
    existing_store_uri(uri)
    store = open_store(uri)
    return store, open_auth_store(read_auth_config(os.environ), store, uri).db


def _resource(store: Any, experiment_id: str | None, model: str | None) -> tuple[Any, str]:
    from traza.auth.grants import Kind

    if bool(experiment_id) == bool(model):
        raise click.UsageError("Name one resource: --experiment-id ID or --registered-model NAME.")
    if experiment_id:
        store.get_experiment(experiment_id)  # it must exist
        return Kind.EXPERIMENT, experiment_id
    assert model is not None
    store.get_registered_model(model)
    return Kind.REGISTERED_MODEL, model


@click.group()
def permissions() -> None:
    """Grant, revoke and list permissions of a server with --app-name basic-auth."""


@permissions.command("grant")
@click.argument("username")
@click.argument("permission", type=click.Choice(_LEVELS, case_sensitive=False))
@_resource_options
@server_store_option
@reports_errors
def grant(
    username: str,
    permission: str,
    experiment_id: str | None,
    model: str | None,
    backend_store_uri: str | None,
) -> None:
    """Give USERNAME the PERMISSION on an experiment or registered model (replacing theirs)."""
    from traza.auth import grants
    from traza.auth.principal import Permission

    store, db = _open(backend_store_uri)
    kind, key = _resource(store, experiment_id, model)
    level = Permission.parse(permission)
    grants.set_grant(db, kind, key, grants.user_id_of(db, username), level)
    noun = "experiment" if experiment_id else "registered model"
    click.echo(f"{username!r} has {level.value} on {noun} {key!r}.")


@permissions.command("revoke")
@click.argument("username")
@_resource_options
@server_store_option
@reports_errors
def revoke(
    username: str, experiment_id: str | None, model: str | None, backend_store_uri: str | None
) -> None:
    """Take USERNAME's grant away (the default permission applies again)."""
    from traza.auth import grants

    store, db = _open(backend_store_uri)
    kind, key = _resource(store, experiment_id, model)
    grants.delete_grant(db, kind, key, grants.user_id_of(db, username))
    noun = "experiment" if experiment_id else "registered model"
    click.echo(f"Revoked {username!r}'s permission on {noun} {key!r}.")


@permissions.command("list")
@click.option("--user", "username", default=None, help="Only this user's grants.")
@_resource_options
@server_store_option
@reports_errors
def list_grants(
    username: str | None,
    experiment_id: str | None,
    model: str | None,
    backend_store_uri: str | None,
) -> None:
    """List grants: all, a user's, or those on one experiment or registered model."""
    from traza.auth import grants

    store, db = _open(backend_store_uri)
    kind = key = None
    if experiment_id or model:
        _resource(store, experiment_id, model)
        kind = "experiment" if experiment_id else "registered_model"
        key = experiment_id or model
    if username is not None:
        grants.user_id_of(db, username)  # an unknown user is an error, not an empty list
    rows = grants.list_grants(db, username=username, kind=kind, key=key)
    echo_table(
        ["resource", "id or name", "user", "permission"],
        [[r.kind.replace("_", " "), r.key, r.username, r.permission.value] for r in rows],
    )
