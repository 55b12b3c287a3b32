"""The permission check: a route's :class:`~traza.auth.rules.Rule` against the request's caller.

Called by the server after the route and its fields are known, only when the request carries a
:class:`~traza.auth.principal.Principal` (auth on). A run-scoped caller (an admin's too) may log
to its run and read its experiment, nothing else, and never more than its user; admins pass;
anyone else needs the level the rule names, from
their grant on the experiment (runs and logged models resolve to theirs) or registered model,
else the configured default permission. A refusal is 403 ``PERMISSION_DENIED`` naming the
resource and the level.

Lookups are cached per worker: grants until the store's ``auth_version`` changes (polled at
most every ``poll_seconds``, so a change made anywhere takes effect everywhere within that
bound), and the experiment a run or logged model belongs to for good (it never moves).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from traza.auth import grants
from traza.auth.grants import Kind
from traza.auth.principal import Permission, Principal
from traza.auth.rules import After, Rule, Search, Target
from traza.auth.visibility import Visibility
from traza.exceptions import PERMISSION_DENIED, TrazaException, invalid, not_found
from traza.store.sql.db import Database

_CAN = {
    Permission.NO_PERMISSIONS: "can_read",
    Permission.READ: "can_read",
    Permission.USE: "can_use",
    Permission.EDIT: "can_update",
    Permission.MANAGE: "can_manage",
}
READ = Permission.READ
#: What a run-scoped token may never do, whatever its user may.
_NOT_FOR_RUN_TOKENS = (Target.SIGNED_IN, Target.ADMIN, Target.REGISTERED_MODEL)
#: Distinct run/model ids remembered per worker (they never change, so only size bounds it).
_OWNER_CACHE_SIZE = 100_000


@dataclass
class Decision:
    """What an allowed request gets: extra keyword arguments for the handler, and a change to
    the grants to make once the handler succeeded."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    after: Callable[[Any], None] | None = None


ALLOW = Decision()


def denied(what: str, need: Permission, principal: Principal) -> TrazaException:
    return TrazaException(
        f"Permission denied: user {principal.username!r} needs {need.value} on {what}. Ask a "
        "user with MANAGE on it (or an admin) to grant it.",
        error_code=PERMISSION_DENIED,
    )


class Authorizer:
    """The check for one server worker.

    ``db`` holds the grants (the users database), ``tracking`` the runs, experiments and logged
    models (the same database unless the auth config names a separate ``database_uri``).
    """

    def __init__(
        self,
        db: Database,
        default: Permission,
        poll_seconds: float = 1.0,
        tracking: Database | None = None,
    ) -> None:
        self.db = db
        self.tracking = db if tracking is None else tracking
        self.default = default
        self.poll_seconds = poll_seconds
        self._grants: dict[tuple[tuple[str, str], str, int], Permission | None] = {}
        self._run_experiment: dict[str, str] = {}
        self._model_owner: dict[str, tuple[str, str | None]] = {}
        self._version: int | None = None
        self._polled = 0.0
        self._lock = threading.Lock()

    # -- lookups -------------------------------------------------------------------------------
    def _fresh(self) -> None:
        now = time.monotonic()
        if now - self._polled < self.poll_seconds:
            return
        with self._lock:
            if now - self._polled < self.poll_seconds:
                return
            version = grants.read_version(self.db)
            if version != self._version:
                self._grants.clear()
                self._version = version
            self._polled = now

    def forget(self) -> None:
        """Drop cached grants now (this worker changed one)."""
        self._grants.clear()
        self._polled = 0.0

    def permission(self, kind: tuple[str, str], key: str, user_id: int) -> Permission:
        """The user's level on one experiment or registered model (grant, else the default)."""
        self._fresh()
        cache_key = (kind, key, user_id)
        try:
            granted = self._grants[cache_key]
        except KeyError:
            granted = grants.get_grant(self.db, kind, key, user_id)
            _remember(self._grants, cache_key, granted)
        return self.default if granted is None else granted

    def run_experiment(self, run_id: str) -> str:
        experiment_id = self._run_experiment.get(run_id)
        if experiment_id is None:
            with self.tracking.read() as cur:
                cur.execute("SELECT experiment_id FROM runs WHERE run_uuid = ?", (run_id,))
                row = cur.fetchone()
            if row is None:
                raise not_found(f"Run with id={run_id} not found.")
            experiment_id = str(row[0])
            _remember(self._run_experiment, run_id, experiment_id)
        return experiment_id

    def model_owner(self, model_id: str) -> tuple[str, str | None]:
        """A logged model's experiment and source run."""
        owner = self._model_owner.get(model_id)
        if owner is None:
            with self.tracking.read() as cur:
                cur.execute(
                    "SELECT experiment_id, source_run_id FROM logged_models WHERE model_id = ?",
                    (model_id,),
                )
                row = cur.fetchone()
            if row is None:
                raise not_found(f"Logged model with id={model_id} not found.")
            owner = (str(row[0]), row[1])
            _remember(self._model_owner, model_id, owner)
        return owner

    def experiment_by_name(self, name: str) -> str:
        with self.tracking.read() as cur:
            cur.execute("SELECT experiment_id FROM experiments WHERE name = ?", (name,))
            row = cur.fetchone()
        if row is None:
            raise not_found(f"Could not find experiment with name {name}.")
        return str(row[0])

    def visibility(self, principal: Principal) -> Visibility | None:
        """What searches show the caller (``None``: everything, for admins)."""
        scoped = self.run_experiment(principal.run_id) if principal.run_id else None
        if principal.is_admin:
            return None if scoped is None else Visibility(0, Permission.READ, scoped, {})
        listed = None
        if self.db is not self.tracking:
            self._fresh()
            listed = grants.user_grants(self.db, principal.user_id)
        return Visibility(principal.user_id, self.default, scoped, listed)

    def readable_experiments(self, principal: Principal, ids: Sequence[str]) -> list[str]:
        """The ids among ``ids`` the caller may read, in order (one query for the grants)."""
        if principal.run_id:
            own = self.run_experiment(principal.run_id)
            ids = [i for i in ids if str(i) == own]
        if principal.is_admin:
            return list(ids)
        self._fresh()
        user_id = principal.user_id
        missing = [str(i) for i in ids if (Kind.EXPERIMENT, str(i), user_id) not in self._grants]
        if missing:  # one query for those not cached yet
            found = grants.grants_on(self.db, Kind.EXPERIMENT, missing, user_id)
            for key in missing:
                _remember(self._grants, (Kind.EXPERIMENT, key, user_id), found.get(key))
        readable = []
        for i in ids:
            granted = self._grants.get((Kind.EXPERIMENT, str(i), user_id))
            if (self.default if granted is None else granted).can_read:
                readable.append(i)
        return readable

    # -- the check -----------------------------------------------------------------------------
    def check(
        self, rule: Rule, principal: Principal, args: Any, params: dict[str, str]
    ) -> Decision:
        """Allow (with what the handler and the grants need) or raise PERMISSION_DENIED."""
        target = rule.target
        if target is Target.SEARCH:
            return self._search(rule, principal, args)
        if target is Target.GRANTS:
            return Decision({"principal": principal, "authorizer": self})
        after = self._after(rule, principal, args)
        if target is Target.PUBLIC:
            return Decision(after=after) if after else ALLOW
        if principal.run_id:
            # A run-scoped token is confined to its run even when its user is an admin, and never
            # does more than its user may.
            self._check_scoped(rule, principal, args, params)
            if not principal.is_admin:
                self._check_user(rule, principal, args, params)
            return Decision(after=after) if after else ALLOW
        if principal.is_admin:
            return Decision(after=after) if after else ALLOW
        if target is Target.ADMIN:
            raise TrazaException(
                f"Permission denied: only an admin may do this (user {principal.username!r} is "
                "not one).",
                error_code=PERMISSION_DENIED,
            )
        if target is Target.SIGNED_IN:
            return Decision(after=after) if after else ALLOW
        self._check_user(rule, principal, args, params)
        return Decision(after=after) if after else ALLOW

    def _check_user(self, rule: Rule, p: Principal, args: Any, params: dict[str, str]) -> None:
        target, need = rule.target, rule.need
        if target is Target.REGISTERED_MODEL:
            name = _key(rule, args, params)
            self._need(Kind.REGISTERED_MODEL, name, need, p, f"registered model {name!r}")
            if rule.sources:
                self._check_sources(p, args)
            return
        for experiment_id, what in self._experiments_of(rule, args, params):
            self._need(Kind.EXPERIMENT, experiment_id, need, p, what)

    def _check_sources(self, p: Principal, args: Any) -> None:
        """A model version's origin must be readable too (else EDIT on any model would copy
        files out of runs and models the caller may not read)."""
        run_id, model_id, source = args.raw("run_id"), args.raw("model_id"), args.raw("source")
        if run_id:
            experiment_id = self.run_experiment(str(run_id))
            self._need(Kind.EXPERIMENT, experiment_id, READ, p, f"run {run_id}")
        if isinstance(source, str) and source.startswith("models:/"):
            name = source[len("models:/") :].split("/", 1)[0].split("@", 1)[0]
            if name.startswith("m-"):  # MLflow 3's models:/<logged model id>
                model_id = model_id or name
            elif name:
                self._need(Kind.REGISTERED_MODEL, name, READ, p, f"registered model {name!r}")
        if model_id:
            experiment_id = self.model_owner(str(model_id))[0]
            self._need(Kind.EXPERIMENT, experiment_id, READ, p, f"logged model {model_id}")

    def _need(
        self, kind: tuple[str, str], key: str, need: Permission, p: Principal, what: str
    ) -> None:
        if not getattr(self.permission(kind, key, p.user_id), _CAN[need]):
            raise denied(what, need, p)

    def _experiments_of(
        self, rule: Rule, args: Any, params: dict[str, str]
    ) -> list[tuple[str, str]]:
        """The experiments a request touches, each with how to name it in a refusal."""
        target = rule.target
        if target is Target.EXPERIMENT:
            experiment_id = _key(rule, args, params)
            return [(experiment_id, f"experiment {experiment_id}")]
        if target is Target.EXPERIMENT_BY_NAME:
            name = _key(rule, args, params)
            return [(self.experiment_by_name(name), f"experiment {name!r}")]
        if target is Target.EXPERIMENTS:
            ids = _keys(rule, args)
            return [(i, f"experiment {i}") for i in ids]
        if target is Target.RUN:
            model_id = args.raw(rule.model_field) if rule.model_field else None
            if model_id:
                return [(self.model_owner(str(model_id))[0], f"logged model {model_id}")]
            run_id = _key(rule, args, params)
            return [(self.run_experiment(run_id), f"run {run_id}")]
        if target is Target.RUNS:
            return [(self.run_experiment(r), f"run {r}") for r in _keys(rule, args)]
        if target is Target.LOGGED_MODEL:
            model_id = _key(rule, args, params)
            return [(self.model_owner(model_id)[0], f"logged model {model_id}")]
        if target is Target.ARTIFACT_PATH:
            path = _key(rule, args, params, required=False)
            first = _path_parts(path)[0]
            if not (first.isascii() and first.isdigit()):
                raise TrazaException(
                    f"Permission denied: the artifact path {path!r} names no experiment; only "
                    "an admin may read or write there.",
                    error_code=PERMISSION_DENIED,
                )
            return [(first, f"experiment {first} (artifact path {path!r})")]
        raise TrazaException(f"Unknown permission rule {rule!r}.", error_code=PERMISSION_DENIED)

    def _check_scoped(self, rule: Rule, p: Principal, args: Any, params: dict[str, str]) -> None:
        """A run-scoped token: log to its run (up to EDIT), read its experiment."""
        run_id = p.run_id or ""
        own = self.run_experiment(run_id)
        target, need = rule.target, rule.need
        if need is Permission.MANAGE or target in _NOT_FOR_RUN_TOKENS:
            raise self._scoped(p)
        if target in (Target.RUN, Target.RUNS) and not (
            rule.model_field and args.raw(rule.model_field)
        ):
            ids = [_key(rule, args, params)] if target is Target.RUN else _keys(rule, args)
            if all(i == run_id for i in ids):
                return
            if need is Permission.READ and all(self.run_experiment(i) == own for i in ids):
                return
            raise self._scoped(p)
        if target is Target.LOGGED_MODEL or (target is Target.RUN and rule.model_field):
            model_id = str(
                args.raw(rule.model_field) if target is Target.RUN else _key(rule, args, params)
            )
            experiment_id, source_run = self.model_owner(model_id)
            if source_run == run_id or (need is Permission.READ and experiment_id == own):
                return
            raise self._scoped(p)
        if target is Target.EXPERIMENT and rule.source_run_field:
            if _key(rule, args, params) == own and args.raw(rule.source_run_field) == run_id:
                return
            raise self._scoped(p)
        if target is Target.ARTIFACT_PATH:
            parts = _path_parts(_key(rule, args, params, required=False))
            if parts[0] != own:
                raise self._scoped(p)
            if need is Permission.READ:
                return
            if len(parts) > 2 and parts[1] == run_id:
                return
            if len(parts) > 3 and parts[1] == "models" and self.model_owner(parts[2])[1] == run_id:
                return
            raise self._scoped(p)
        if need is Permission.READ and all(
            e == own for e, _ in self._experiments_of(rule, args, params)
        ):
            return
        raise self._scoped(p)

    def _scoped(self, p: Principal) -> TrazaException:
        return TrazaException(
            f"Permission denied: this token is scoped to run {p.run_id}; it may log to that run "
            "and read its experiment, nothing else.",
            error_code=PERMISSION_DENIED,
        )

    def _search(self, rule: Rule, principal: Principal, args: Any) -> Decision:
        if rule.search in (Search.RUNS, Search.LOGGED_MODELS):
            if principal.is_admin and not principal.run_id:
                return ALLOW
            ids = [str(i) for i in args.strings("experiment_ids")]
            return Decision({"experiment_ids": self.readable_experiments(principal, ids)})
        visibility = self.visibility(principal)
        return ALLOW if visibility is None else Decision({"visibility": visibility})

    def _after(self, rule: Rule, principal: Principal, args: Any) -> Callable[[Any], None] | None:
        after = rule.after
        if after is None:
            return None
        if after is After.GRANT_EXPERIMENT_CREATOR:
            return lambda reply: self._grant(
                Kind.EXPERIMENT, str(reply["experiment_id"]), principal.user_id
            )
        if after is After.GRANT_MODEL_CREATOR:
            return lambda reply: self._grant(
                Kind.REGISTERED_MODEL, str(reply["registered_model"]["name"]), principal.user_id
            )
        name = str(args.raw("name"))
        if after is After.RENAME_MODEL:
            new_name = str(args.raw("new_name"))
            return lambda reply: self._changed(grants.rename_model_grants, name, new_name)
        return lambda reply: self._changed(
            grants.delete_resource_grants, Kind.REGISTERED_MODEL, name
        )

    def _grant(self, kind: tuple[str, str], key: str, user_id: int) -> None:
        grants.set_grant(self.db, kind, key, user_id, Permission.MANAGE)
        self.forget()

    def _changed(self, change: Callable[..., None], *args: Any) -> None:
        change(self.db, *args)
        self.forget()


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _OWNER_CACHE_SIZE:
        cache.clear()
    cache[key] = value


def _key(rule: Rule, args: Any, params: dict[str, str], required: bool = True) -> str:
    for name in rule.fields:
        value = params.get(name)
        if value is None:
            value = args.raw(name)
        if value is not None and value != "":
            if isinstance(value, list | dict):
                raise invalid(f"Invalid value for parameter '{name}': expected one value.")
            return str(value)
    if rule.default is not None:
        return rule.default
    if required:
        raise invalid(
            f"Missing value for required parameter '{rule.fields[0]}'. See the API docs for "
            "more information about request parameters."
        )
    return ""


def _keys(rule: Rule, args: Any) -> list[str]:
    values: list[str] = []
    for name in rule.fields:
        values += [str(v) for v in args.strings(name)]
    if not values:
        raise invalid(f"Missing value for required parameter '{rule.fields[0]}'.")
    return list(dict.fromkeys(values))


def _path_parts(path: str) -> list[str]:
    """The segments of an ``mlflow-artifacts`` path, decoded until stable as the handler will
    (``<experiment>/<run>/...`` or ``<experiment>/models/<model>/...``)."""
    from urllib.parse import unquote

    decoded = path
    for _ in range(8):
        again = unquote(decoded)
        if again == decoded:
            break
        decoded = again
    parts = [part for part in decoded.split("/") if part not in ("", ".")] or [""]
    if ".." in parts:  # the handler refuses it too; never judge a path that climbs
        raise invalid(f"Invalid artifact path {path!r}: '..' is not allowed.")
    return parts


def authorizer_for(store: Any, config: Any = None, users: Database | None = None) -> Authorizer:
    """The check for a server on ``store`` (a SQL store); ``users``: the database holding the
    grants when it is not the store's own."""
    db = getattr(store, "db", None)
    if db is None:
        raise TrazaException(
            "Auth needs a SQL backend store (sqlite:///... or postgresql://...): users and "
            "grants live in it.",
            error_code="INVALID_STATE",
        )
    if config is None:
        import os

        from traza.auth.config import read_auth_config

        config = read_auth_config(os.environ)
    return Authorizer(users or db, config.default_permission, config.poll_seconds, db)
