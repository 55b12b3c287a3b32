"""MLflow's auth REST API, the permission half, and what the web UI asks about the caller.

MLflow 2.x's ``experiments/permissions/{create,get,update,delete}`` and
``registered-models/permissions/...`` (same bodies and replies), and MLflow 3's
``users/permissions/{grant,revoke,get}`` that ``mlflow.server.get_app_client("basic-auth")``
calls. Only an admin or a user with MANAGE on the resource changes or reads its grants (a user
may also ask about themself). ``permissions/mine`` tells the UI what the caller may do on one
experiment, run or registered model, so a READ user sees no edit controls.

Each handler is given the caller and the permission check by the route's ``grants`` rule; with
auth off there is no caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from traza.auth import grants
from traza.auth.grants import Kind
from traza.auth.principal import Permission, Principal
from traza.exceptions import INVALID_STATE, PERMISSION_DENIED, TrazaException, invalid
from traza.server.context import Context
from traza.server.wire import Args

if TYPE_CHECKING:
    from traza.auth.authorize import Authorizer

Reply = dict[str, Any]
_RANK = {level: rank for rank, level in enumerate(Permission)}
#: MLflow 3's resource types, for ``users/permissions/*``.
RESOURCE_TYPES = {"experiment": Kind.EXPERIMENT, "registered_model": Kind.REGISTERED_MODEL}


def _level(args: Args) -> Permission:
    value = args.required("permission")
    # MLflow 3.17's explicit DENY is our NO_PERMISSIONS grant (a grant that takes reading away).
    return Permission.NO_PERMISSIONS if str(value).upper() == "DENY" else Permission.parse(value)


def _manager(
    principal: Principal | None,
    authorizer: Authorizer | None,
    kind: tuple[str, str],
    key: str,
    username: str | None = None,
) -> Authorizer:
    """The check, once the caller may manage the grants on ``key`` (or asks about themself)."""
    if principal is None or authorizer is None:
        raise TrazaException(
            "Permissions apply only with auth on: start the server with "
            "`traza server --app-name basic-auth`.",
            error_code=INVALID_STATE,
        )
    if principal.run_id is not None:
        raise TrazaException(
            f"Permission denied: this token is scoped to run {principal.run_id}; grants are "
            "managed with a user's own credentials.",
            error_code=PERMISSION_DENIED,
        )
    if principal.is_admin or (username is not None and username == principal.username):
        return authorizer
    if authorizer.permission(kind, key, principal.user_id).can_manage:
        return authorizer
    noun = "experiment" if kind is Kind.EXPERIMENT else "registered model"
    raise TrazaException(
        f"Permission denied: user {principal.username!r} needs MANAGE on {noun} {key!r} to "
        "see or change who may use it.",
        error_code=PERMISSION_DENIED,
    )


def _changed(authorizer: Authorizer) -> None:
    authorizer.forget()


# -- MLflow 2.x: experiments/permissions and registered-models/permissions ------------------------
def _experiment_reply(experiment_id: str, user_id: int, level: Permission) -> Reply:
    return {
        "experiment_permission": {
            "experiment_id": str(experiment_id),
            "user_id": user_id,
            "permission": level.value,
        }
    }


def _model_reply(name: str, user_id: int, level: Permission) -> Reply:
    return {
        "registered_model_permission": {"name": name, "user_id": user_id, "permission": level.value}
    }


def _resource(args: Args, kind: tuple[str, str]) -> str:
    return str(args.required("experiment_id" if kind is Kind.EXPERIMENT else "name"))


def _create(ctx: Context, args: Args, kind: tuple[str, str], **who: Any) -> Reply:
    key = _resource(args, kind)
    authorizer = _manager(who.get("principal"), who.get("authorizer"), kind, key)
    db = authorizer.db
    if kind is Kind.EXPERIMENT:
        ctx.store.get_experiment(key)
    else:
        ctx.store.get_registered_model(key)
    user_id = grants.user_id_of(db, args.required("username"))
    level = _level(args)
    grants.create_grant(db, kind, key, user_id, level)
    _changed(authorizer)
    return (_experiment_reply if kind is Kind.EXPERIMENT else _model_reply)(key, user_id, level)


def _get(ctx: Context, args: Args, kind: tuple[str, str], **who: Any) -> Reply:
    key = _resource(args, kind)
    username = args.required("username")
    authorizer = _manager(who.get("principal"), who.get("authorizer"), kind, key, username)
    user_id = grants.user_id_of(authorizer.db, username)
    level = grants.get_grant(authorizer.db, kind, key, user_id)
    if level is None:
        noun = "experiment" if kind is Kind.EXPERIMENT else "registered model"
        raise TrazaException(
            f"Permission on {noun} {key!r} for user {username!r} not found.",
            error_code="RESOURCE_DOES_NOT_EXIST",
        )
    return (_experiment_reply if kind is Kind.EXPERIMENT else _model_reply)(key, user_id, level)


def _update(ctx: Context, args: Args, kind: tuple[str, str], **who: Any) -> Reply:
    key = _resource(args, kind)
    authorizer = _manager(who.get("principal"), who.get("authorizer"), kind, key)
    user_id = grants.user_id_of(authorizer.db, args.required("username"))
    grants.update_grant(authorizer.db, kind, key, user_id, _level(args))
    _changed(authorizer)
    return {}


def _delete(ctx: Context, args: Args, kind: tuple[str, str], **who: Any) -> Reply:
    key = _resource(args, kind)
    authorizer = _manager(who.get("principal"), who.get("authorizer"), kind, key)
    user_id = grants.user_id_of(authorizer.db, args.required("username"))
    grants.delete_grant(authorizer.db, kind, key, user_id)
    _changed(authorizer)
    return {}


def create_experiment_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    return _create(ctx, args, Kind.EXPERIMENT, **who)


def get_experiment_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    return _get(ctx, args, Kind.EXPERIMENT, **who)


def update_experiment_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    return _update(ctx, args, Kind.EXPERIMENT, **who)


def delete_experiment_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    return _delete(ctx, args, Kind.EXPERIMENT, **who)


def create_model_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    return _create(ctx, args, Kind.REGISTERED_MODEL, **who)


def get_model_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    return _get(ctx, args, Kind.REGISTERED_MODEL, **who)


def update_model_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    return _update(ctx, args, Kind.REGISTERED_MODEL, **who)


def delete_model_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    return _delete(ctx, args, Kind.REGISTERED_MODEL, **who)


# -- MLflow 3: users/permissions/{grant,revoke,get} ---------------------------------------------
def _typed(args: Args) -> tuple[tuple[str, str], str]:
    resource_type = args.required("resource_type")
    kind = RESOURCE_TYPES.get(str(resource_type))
    if kind is None:
        raise invalid(
            f"Invalid resource type {resource_type!r}: use one of {', '.join(RESOURCE_TYPES)}."
        )
    return kind, str(args.required("resource_id"))


def grant_user_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    kind, key = _typed(args)
    authorizer = _manager(who.get("principal"), who.get("authorizer"), kind, key)
    user_id = grants.user_id_of(authorizer.db, args.required("username"))
    grants.set_grant(authorizer.db, kind, key, user_id, _level(args))
    _changed(authorizer)
    return {}


def revoke_user_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    kind, key = _typed(args)
    authorizer = _manager(who.get("principal"), who.get("authorizer"), kind, key)
    user_id = grants.user_id_of(authorizer.db, args.required("username"))
    grants.delete_grant(authorizer.db, kind, key, user_id)
    _changed(authorizer)
    return {}


def get_user_permission(ctx: Context, args: Args, **who: Any) -> Reply:
    """The user's effective level (grant, else the default); ``allowed`` is USE or more."""
    kind, key = _typed(args)
    username = args.required("username")
    authorizer = _manager(who.get("principal"), who.get("authorizer"), kind, key, username)
    user_id = grants.user_id_of(authorizer.db, username)
    level = authorizer.permission(kind, key, user_id)
    return {"allowed": level.can_use, "permission": level.value}


# -- the web UI -------------------------------------------------------------------------------
def list_on(ctx: Context, args: Args, **who: Any) -> Reply:
    """``GET permissions/list?experiment_id=|name=``: who holds which grant on one resource."""
    experiment_id, name = args.string("experiment_id"), args.string("name")
    if bool(experiment_id) == bool(name):
        raise invalid("Give experiment_id (an experiment) or name (a registered model), not both.")
    kind, key = (Kind.EXPERIMENT, experiment_id) if experiment_id else (Kind.REGISTERED_MODEL, name)
    assert key is not None
    authorizer = _manager(who.get("principal"), who.get("authorizer"), kind, key)
    resource = "experiment" if kind is Kind.EXPERIMENT else "registered_model"
    rows = grants.list_grants(authorizer.db, kind=resource, key=key)
    return {
        "permissions": [{"username": r.username, "permission": r.permission.value} for r in rows]
    }


def mine(ctx: Context, args: Args, **who: Any) -> Reply:
    """``GET permissions/mine?experiment_id=|run_id=|name=``: what the caller may do there."""
    principal: Principal | None = who.get("principal")
    authorizer: Authorizer | None = who.get("authorizer")
    experiment_id = args.string("experiment_id")
    run_id = args.string("run_id")
    name = args.string("name")
    if not (experiment_id or run_id or name):
        raise invalid("Give experiment_id, run_id or name (a registered model).")
    if principal is None or authorizer is None:  # auth off: everything is allowed
        level, admin = Permission.MANAGE, False
    elif principal.is_admin and not principal.run_id:
        level, admin = Permission.MANAGE, True
    else:
        admin = False
        level = _level_of(authorizer, principal, experiment_id, run_id, name)
    return {
        "permission": level.value,
        "is_admin": admin,
        "auth_enabled": principal is not None,
        "can_read": level.can_read,
        "can_use": level.can_use,
        "can_update": level.can_update,
        "can_delete": level.can_delete,
        "can_manage": level.can_manage,
    }


def _level_of(
    authorizer: Authorizer,
    principal: Principal,
    experiment_id: str | None,
    run_id: str | None,
    name: str | None,
) -> Permission:
    if name:
        if principal.run_id:
            return Permission.NO_PERMISSIONS
        return authorizer.permission(Kind.REGISTERED_MODEL, name, principal.user_id)
    if run_id and not experiment_id:
        experiment_id = authorizer.run_experiment(run_id)
    assert experiment_id is not None
    level = (
        Permission.MANAGE
        if principal.is_admin
        else authorizer.permission(Kind.EXPERIMENT, experiment_id, principal.user_id)
    )
    if principal.run_id:  # a run-scoped token: never more than its user, nor than its scope
        own = authorizer.run_experiment(principal.run_id)
        scope = Permission.NO_PERMISSIONS
        if run_id == principal.run_id:
            scope = Permission.EDIT
        elif experiment_id == own:
            scope = Permission.READ
        return min(level, scope, key=_RANK.__getitem__)
    return level


#: Experiments one ``permissions/mine/experiments`` request may name (a page of the list).
MAX_MINE_EXPERIMENTS = 1000


def mine_experiments(ctx: Context, args: Args, **who: Any) -> Reply:
    """``GET permissions/mine/experiments?experiment_ids=1&experiment_ids=2``: what the caller
    may do on each experiment of a list (the experiments page's Rename and Delete), with one
    query for the caller's grants whatever the number of experiments."""
    ids = args.strings("experiment_ids")
    if not ids:
        raise invalid("Give experiment_ids: the experiments to ask about (repeat the field).")
    if len(ids) > MAX_MINE_EXPERIMENTS:
        raise invalid(
            f"permissions/mine/experiments takes at most {MAX_MINE_EXPERIMENTS} experiments per "
            f"request, got {len(ids)}; split the request."
        )
    for i in ids:
        if not (i.isascii() and i.isdigit()):
            raise invalid(f"Invalid experiment id {i!r} in experiment_ids: give numbers.")
    principal: Principal | None = who.get("principal")
    authorizer: Authorizer | None = who.get("authorizer")
    admin = principal is not None and principal.is_admin and not principal.run_id
    if principal is None or authorizer is None or admin:
        levels = {i: Permission.MANAGE for i in ids}
    else:
        levels = _levels_on(authorizer, principal, ids)
    return {
        "auth_enabled": principal is not None,
        "is_admin": admin,
        "experiments": [{"experiment_id": i, **_abilities(levels[i])} for i in ids],
    }


def _levels_on(
    authorizer: Authorizer, principal: Principal, ids: list[str]
) -> dict[str, Permission]:
    """The caller's level on each experiment: a grant, else the default; a run-scoped token
    never more than its scope (EDIT nowhere here: it is scoped to a run, READ on its
    experiment)."""
    if principal.is_admin:
        levels = {i: Permission.MANAGE for i in ids}
    else:
        found = grants.grants_on(authorizer.db, Kind.EXPERIMENT, ids, principal.user_id)
        levels = {i: found.get(i, authorizer.default) for i in ids}
    if principal.run_id:
        own = authorizer.run_experiment(principal.run_id)
        for i in ids:
            scope = Permission.READ if i == own else Permission.NO_PERMISSIONS
            levels[i] = min(levels[i], scope, key=_RANK.__getitem__)
    return levels


def _abilities(level: Permission) -> Reply:
    return {
        "permission": level.value,
        "can_read": level.can_read,
        "can_use": level.can_use,
        "can_update": level.can_update,
        "can_delete": level.can_delete,
        "can_manage": level.can_manage,
    }
