"""Permission rules: what each route touches and the level it needs.

Every entry of the server's route table carries a :class:`Rule` (the server refuses to start
when one has none). A rule is plain data, read once per request by
:mod:`traza.auth.authorize`: the resource kind, where its key comes from (path parameters
first, then the request's fields), and the level needed. MLflow's levels nest: READ < USE <
EDIT < MANAGE; deleting needs MANAGE.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from traza.auth.principal import Permission


class Target(enum.Enum):
    #: Anyone the authentication layer let in (server info).
    PUBLIC = "public"
    #: Any signed-in user (not a run-scoped token): creating an experiment or registered model.
    SIGNED_IN = "signed in"
    ADMIN = "admin"
    EXPERIMENT = "experiment"
    #: An experiment named by ``experiment_name``.
    EXPERIMENT_BY_NAME = "experiment by name"
    #: Every experiment of a list field.
    EXPERIMENTS = "experiments"
    #: A run (its experiment's grant decides).
    RUN = "run"
    RUNS = "runs"
    LOGGED_MODEL = "logged model"
    REGISTERED_MODEL = "registered model"
    #: An ``mlflow-artifacts`` proxy path: ``<experiment>/<run>/...`` or
    #: ``<experiment>/models/<model>/...``.
    ARTIFACT_PATH = "artifact path"
    #: A search, filtered to what the caller may read (``search`` names which).
    SEARCH = "search"
    #: The permission API: the resource and the caller's right to manage it are checked by
    #: the handler, which is given the caller.
    GRANTS = "grants"


class Search(enum.Enum):
    EXPERIMENTS = "experiments"
    RUNS = "runs"
    LOGGED_MODELS = "logged models"
    REGISTERED_MODELS = "registered models"
    MODEL_VERSIONS = "model versions"


class After(enum.Enum):
    """What a successful request changes in the grants."""

    #: The creator of an experiment gets MANAGE on it.
    GRANT_EXPERIMENT_CREATOR = "grant experiment creator"
    GRANT_MODEL_CREATOR = "grant model creator"
    #: A registered model's grants follow its new name / go with it.
    RENAME_MODEL = "rename model"
    DELETE_MODEL = "delete model"


@dataclass(frozen=True)
class Rule:
    target: Target
    need: Permission = Permission.READ
    #: Where the resource's key comes from: path parameters, then fields, first present wins.
    fields: tuple[str, ...] = ()
    search: Search | None = None
    after: After | None = None
    #: For a logged model's creation: a run-scoped caller may create one from its own run.
    source_run_field: str | None = None
    #: For presigned uploads: a ``model_id`` field moves the check to that logged model.
    model_field: str | None = None
    #: For a new model version: READ on what it is made from too (its ``run_id``,
    #: ``model_id``, or the registered model of a ``models:/`` source), as MLflow asks.
    sources: bool = False
    #: The key the handler uses when the request names none (runs/create: the Default
    #: experiment, ``0``).
    default: str | None = None

    def describe(self) -> str:
        """What the rule asks, for docs and error messages."""
        if self.target in (Target.PUBLIC, Target.SIGNED_IN, Target.ADMIN):
            return str(self.target.value)
        if self.target is Target.SEARCH and self.search is not None:
            return f"search {self.search.value} (filtered to what the caller may read)"
        where = f" from {'/'.join(self.fields)}" if self.fields else ""
        return f"{self.need.value} on {self.target.value}{where}"


READ, USE, EDIT, MANAGE = Permission.READ, Permission.USE, Permission.EDIT, Permission.MANAGE


def public() -> Rule:
    return Rule(Target.PUBLIC)


def signed_in(after: After | None = None) -> Rule:
    return Rule(Target.SIGNED_IN, after=after)


def admin() -> Rule:
    return Rule(Target.ADMIN)


def experiment(
    need: Permission,
    field: str = "experiment_id",
    source_run_field: str | None = None,
    default: str | None = None,
) -> Rule:
    return Rule(
        Target.EXPERIMENT, need, (field,), source_run_field=source_run_field, default=default
    )


def experiment_by_name(need: Permission) -> Rule:
    return Rule(Target.EXPERIMENT_BY_NAME, need, ("experiment_name",))


def experiments(need: Permission, *fields: str) -> Rule:
    return Rule(Target.EXPERIMENTS, need, fields or ("experiment_ids",))


def run(need: Permission, *fields: str, model_field: str | None = None) -> Rule:
    return Rule(Target.RUN, need, fields or ("run_id", "run_uuid"), model_field=model_field)


def runs(need: Permission, *fields: str) -> Rule:
    return Rule(Target.RUNS, need, fields or ("run_ids", "run_id", "run_uuid"))


def logged_model(need: Permission) -> Rule:
    return Rule(Target.LOGGED_MODEL, need, ("model_id",))


def registered_model(need: Permission, after: After | None = None) -> Rule:
    return Rule(Target.REGISTERED_MODEL, need, ("name",), after=after)


def model_version_source() -> Rule:
    """EDIT on the registered model, READ on the run, logged model or model it comes from."""
    return Rule(Target.REGISTERED_MODEL, Permission.EDIT, ("name",), sources=True)


def artifact(need: Permission) -> Rule:
    return Rule(Target.ARTIFACT_PATH, need, ("path",))


def search(what: Search) -> Rule:
    return Rule(Target.SEARCH, search=what)


def grants() -> Rule:
    return Rule(Target.GRANTS)
