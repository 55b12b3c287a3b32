"""Purging the deleted stage of a SQL store for good (``traza gc``), SQLite and PostgreSQL alike.

What goes: runs in the deleted stage, deleted experiments with every run and logged model in
them, and deleted logged models, each once deleted for longer than the age asked for. Rows go
first, one transaction per batch, each re-checking inside it that its items are still deleted
(a restore racing the purge wins); then the items' artifact roots. Kept, with the reason in the
report: the Default experiment (its runs are purged), runs and logged models that a
registered model version still points at (deleting them would break the version), a deleted
experiment holding a run restored on its own, and artifacts another store owns (runs imported
or synced without copying them: only their rows go).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traza.entities import LifecycleStage
from traza.exceptions import TrazaException, invalid, not_found
from traza.store.purge import PurgedItem, PurgeReport, Skipped
from traza.store.sql.db import Cursor, Database
from traza.store.sql.util import chunks, marks, now_ms
from traza.validation import validate_experiment_id, validate_run_id

if TYPE_CHECKING:
    from traza.artifacts.base import ArtifactRepository

#: Runs (or models) deleted per transaction: short enough not to hold writers back for long.
PURGE_BATCH = 100
DELETED = LifecycleStage.DELETED
_PROXY_SCHEME = "mlflow-artifacts:"
#: Tables keyed by a run's internal id, children before parents.
_RUN_TABLES = (
    "input_tags",
    "run_inputs",
    "run_outputs",
    "run_model_inputs",
    "metrics",
    "latest_metrics",
    "metric_buckets",
    "params",
    "tags",
)


def _age_note(deleted_time: int | None, cutoff: int) -> str:
    hours = (deleted_time or 0) - cutoff
    return f"it was deleted {hours / 3_600_000:.1f} h too recently for the age given"


class _Plan:
    def __init__(self) -> None:
        # internal run id -> item
        self.runs: dict[int, PurgedItem] = {}
        self.models: dict[str, PurgedItem] = {}
        self.experiments: dict[int, PurgedItem] = {}
        self.experiment_locations: dict[int, str] = {}
        self.skipped: list[Skipped] = []
        #: This store's artifact root, resolved (``None``: not in Traza's layout).
        self.artifact_root: str | None = None


class SqlPurge:
    """``purge_deleted`` of :class:`~traza.store.sql.store.SqlStore`."""

    db: Database

    if TYPE_CHECKING:

        def resolve_location(self, location: str) -> str: ...

    def purge_deleted(
        self,
        older_than_ms: int = 0,
        experiment_ids: Sequence[str] | None = None,
        run_ids: Sequence[str] | None = None,
        dry_run: bool = True,
        artifacts_destination: str | None = None,
        logged_model_ids: Sequence[str] | None = None,
    ) -> PurgeReport:
        """Remove for good what has been in the deleted stage for at least ``older_than_ms``.

        With ``experiment_ids``, ``run_ids`` or ``logged_model_ids``, only those (an
        experiment with all it holds); each must exist, be deleted and be old enough, or nothing
        is purged. Otherwise every deleted experiment, run and logged model old enough.
        ``artifacts_destination`` is where ``mlflow-artifacts:/`` locations live (the server's
        ``--artifacts-destination``). ``dry_run`` only reports what would go.
        """
        if older_than_ms < 0:
            raise invalid(f"The age must not be negative (got {older_than_ms} ms).")
        cutoff = now_ms() - older_than_ms
        with self.db.read() as cur:
            plan = self._purge_plan(
                cur, cutoff, experiment_ids or (), run_ids or (), logged_model_ids or ()
            )
        report = PurgeReport(
            dry_run=dry_run,
            experiments=list(plan.experiments.values()),
            runs=list(plan.runs.values()),
            logged_models=list(plan.models.values()),
            skipped=plan.skipped,
        )
        proxied = [
            i.artifact_uri
            for i in report.items
            if i.artifact_uri and i.artifact_uri.startswith(_PROXY_SCHEME)
        ]
        if proxied and artifacts_destination is None:
            message = (
                f"{len(proxied)} item(s) keep their artifacts behind a tracking server's proxy "
                f"(e.g. {proxied[0]}). Give the server's artifacts destination "
                "(--artifacts-destination, a folder or s3://bucket/prefix) so they can be "
                "deleted with their rows."
            )
            if not dry_run:
                raise invalid(message)
            report.skipped.append(Skipped("artifacts", proxied[0], message))
        if dry_run:
            return report
        report.runs = self._purge_runs(list(plan.runs.items()), report, artifacts_destination)
        report.logged_models = self._purge_models(
            list(plan.models.values()), report, artifacts_destination
        )
        report.experiments = self._purge_experiments(plan, report)
        return report

    def _for_update(self) -> str:
        """Row locks where the engine has them (SQLite's write transaction locks everything)."""
        return " FOR UPDATE" if self.db.dialect.name == "postgresql" else ""

    # -- choosing -------------------------------------------------------------------------------
    def _purge_plan(
        self,
        cur: Cursor,
        cutoff: int,
        experiment_ids: Sequence[str],
        run_ids: Sequence[str],
        model_ids: Sequence[str],
    ) -> _Plan:
        plan = _Plan()
        explicit = bool(experiment_ids or run_ids or model_ids)
        for eid in [int(validate_experiment_id(str(e))) for e in experiment_ids]:
            if eid == 0:
                raise invalid(
                    "The Default experiment (id 0) is never purged; purge its deleted runs with "
                    "--run-ids, or run gc without --experiment-ids."
                )
            row = self._named(
                cur,
                "SELECT experiment_id, name, lifecycle_stage, deleted_time, artifact_location, "
                "lifecycle_stage, deleted_time FROM experiments WHERE experiment_id = ?",
                eid,
                f"Experiment {eid}",
                " (`traza experiments delete`)",
                cutoff,
            )
            self._plan_experiment(plan, row)
        for run_id in run_ids:
            validate_run_id(run_id)
            row = self._named(
                cur,
                "SELECT id, run_uuid, experiment_id, name, deleted_time, artifact_uri, "
                "lifecycle_stage, deleted_time FROM runs WHERE run_uuid = ?",
                run_id,
                f"Run {run_id}",
                " (`traza runs delete`)",
                cutoff,
            )
            plan.runs[row[0]] = self._run_item(row[1:6])
        for model_id in model_ids:
            row = self._named(
                cur,
                "SELECT model_id, experiment_id, name, deleted_time, artifact_location, "
                "lifecycle_stage, deleted_time FROM logged_models WHERE model_id = ?",
                model_id,
                f"Logged model {model_id}",
                "",
                cutoff,
            )
            plan.models[row[0]] = self._model_item(row[:5])
        if not explicit:
            cur.execute(
                "SELECT experiment_id, name, lifecycle_stage, deleted_time, artifact_location "
                "FROM experiments WHERE lifecycle_stage = ? AND experiment_id <> 0 AND "
                "(deleted_time IS NULL OR deleted_time <= ?) ORDER BY experiment_id",
                (DELETED, cutoff),
            )
            for row in cur.fetchall():
                self._plan_experiment(plan, row)
            cur.execute(
                "SELECT id, run_uuid, experiment_id, name, deleted_time, artifact_uri FROM runs "
                "WHERE lifecycle_stage = ? AND (deleted_time IS NULL OR deleted_time <= ?) "
                "ORDER BY id",
                (DELETED, cutoff),
            )
            for row in cur.fetchall():
                plan.runs.setdefault(row[0], self._run_item(row[1:]))
            cur.execute(
                "SELECT model_id, experiment_id, name, deleted_time, artifact_location "
                "FROM logged_models WHERE lifecycle_stage = ? AND "
                "(deleted_time IS NULL OR deleted_time <= ?) ORDER BY model_id",
                (DELETED, cutoff),
            )
            for row in cur.fetchall():
                plan.models.setdefault(row[0], self._model_item(row))
        for chunk in chunks(list(plan.experiments)):
            cur.execute(
                "SELECT id, run_uuid, experiment_id, name, deleted_time, artifact_uri, "
                f"lifecycle_stage FROM runs WHERE experiment_id IN ({marks(chunk)}) ORDER BY id",
                chunk,
            )
            for row in cur.fetchall():
                if row[6] == DELETED:
                    plan.runs.setdefault(row[0], self._run_item(row[1:6]))
                elif plan.experiments.pop(int(row[2]), None) is not None:
                    # A run restored on its own inside the deleted experiment: both stay.
                    plan.skipped.append(
                        Skipped(
                            "experiment",
                            str(row[2]),
                            f"its run {row[1]} is active (restored after the experiment was "
                            "deleted); restore the experiment, or delete that run, first",
                        )
                    )
        for chunk in chunks(list(plan.experiments)):
            cur.execute(
                "SELECT model_id, experiment_id, name, deleted_time, artifact_location "
                f"FROM logged_models WHERE experiment_id IN ({marks(chunk)}) ORDER BY model_id",
                chunk,
            )
            for row in cur.fetchall():
                plan.models.setdefault(row[0], self._model_item(row))
        self._keep_registered(cur, plan)
        cur.execute("SELECT artifact_location FROM experiments WHERE experiment_id = 0")
        row = cur.fetchone()
        default = str(row[0]).rstrip("/") if row is not None else ""
        root = default[: -len("/0")] if default.endswith("/0") else None
        plan.artifact_root = self.resolve_location(root) if root is not None else None
        self._keep_foreign_artifacts(cur, plan, root)
        return plan

    @staticmethod
    def _named(cur: Cursor, sql: str, key: Any, label: str, how: str, cutoff: int) -> Any:
        """The row of an item named with ``--*-ids`` (``sql`` ends with its lifecycle stage and
        deletion time): it must exist, be deleted and be old enough, or gc stops before anything
        goes. ``how`` says how to delete it."""
        cur.execute(sql, (key,))
        row = cur.fetchone()
        if row is None:
            raise not_found(f"{label} not found.")
        stage, deleted_time = row[-2], row[-1]
        if stage != DELETED:
            raise invalid(
                f"{label} is not in the deleted stage; only deleted items can be purged. "
                f"Delete it first{how}."
            )
        if deleted_time is not None and deleted_time > cutoff:
            raise invalid(
                f"{label} is not old enough to purge: {_age_note(deleted_time, cutoff)}. "
                "Lower --older-than, or wait."
            )
        return row

    def _keep_foreign_artifacts(self, cur: Cursor, plan: _Plan, root: str | None) -> None:
        """Delete only artifacts this store laid out itself: under its artifact root ``root``
        (where the Default experiment's location is, as stored) and at ``<experiment
        location>/<run id>`` or MLflow's ``.../<run id>/artifacts`` (a logged model's at
        ``.../models/<id>/artifacts``). Files of runs
        imported or synced without copying their artifacts belong to the other store and stay:
        only the rows go, and the report says where the files are."""
        queries = (
            (
                "SELECT r.id, r.run_uuid, r.artifact_uri, e.artifact_location FROM runs r "
                "JOIN experiments e ON e.experiment_id = r.experiment_id WHERE r.id IN ({})",
                list(plan.runs),
                plan.runs,
                ("/{}", "/{}/artifacts"),
            ),
            (
                "SELECT lm.model_id, lm.model_id, lm.artifact_location, e.artifact_location "
                "FROM logged_models lm JOIN experiments e ON e.experiment_id = lm.experiment_id "
                "WHERE lm.model_id IN ({})",
                list(plan.models),
                plan.models,
                ("/models/{}/artifacts",),
            ),
        )
        for query, keys, items, layouts in queries:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                cur.execute(query.format(marks(chunk)), chunk)
                for key, ident, stored, experiment_location in cur.fetchall():
                    in_layout = any(
                        stored == experiment_location + layout.format(ident) for layout in layouts
                    )
                    if in_layout and (root is None or stored.startswith(root + "/")):
                        continue
                    item = items[key]
                    items[key] = replace(item, artifact_uri=None)
                    where = (
                        f"not under this store's artifact root ({self.resolve_location(root)})"
                        if in_layout and root is not None
                        else "not where this store puts them"
                    )
                    plan.skipped.append(
                        Skipped(
                            "artifacts",
                            item.id,
                            f"{self.resolve_location(stored)} is {where}: they belong to another "
                            "store (imported or synced without copying artifacts?); the rows "
                            "go, the files stay",
                        )
                    )

    def _plan_experiment(self, plan: _Plan, row: Any) -> None:
        eid = int(row[0])
        plan.experiments[eid] = PurgedItem("experiment", str(eid), str(eid), row[1], row[3])
        plan.experiment_locations[eid] = self.resolve_location(row[4])

    def _run_item(self, row: Sequence[Any]) -> PurgedItem:
        run_uuid, experiment_id, name, deleted_time, artifact_uri = row
        return PurgedItem(
            "run",
            run_uuid,
            str(experiment_id),
            name,
            deleted_time,
            self.resolve_location(artifact_uri),
        )

    def _model_item(self, row: Sequence[Any]) -> PurgedItem:
        model_id, experiment_id, name, deleted_time, location = row
        return PurgedItem(
            "logged_model",
            model_id,
            str(experiment_id),
            name,
            deleted_time,
            self.resolve_location(location),
        )

    def _keep_registered(self, cur: Cursor, plan: _Plan) -> None:
        """Drop from the plan runs and models a registered model version still needs."""
        blocked_experiments: set[str] = set()
        run_uuids = {item.id: rid for rid, item in plan.runs.items()}
        for kind, column, wanted in (
            ("run", "run_id", list(run_uuids)),
            ("logged_model", "model_id", list(plan.models)),
        ):
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                cur.execute(
                    f"SELECT mv.{column}, rm.name, mv.version FROM model_versions mv "
                    "JOIN registered_models rm ON rm.id = mv.registered_model_id "
                    f"WHERE mv.{column} IN ({marks(chunk)}) ORDER BY rm.name, mv.version",
                    chunk,
                )
                for key, model_name, version in cur.fetchall():
                    item = (
                        plan.runs.pop(run_uuids[key], None)
                        if kind == "run"
                        else plan.models.pop(key, None)
                    )
                    if item is None:
                        continue  # a second version naming the same one
                    blocked_experiments.add(item.experiment_id)
                    plan.skipped.append(
                        Skipped(
                            kind,
                            key,
                            f"version {version} of registered model {model_name!r} uses it; "
                            "delete that model version first",
                        )
                    )
        for eid in [e for e in plan.experiments if str(e) in blocked_experiments]:
            plan.experiments.pop(eid)
            plan.skipped.append(
                Skipped(
                    "experiment",
                    str(eid),
                    "it still holds runs or logged models that registered model versions use "
                    "(listed above); its other runs and models are purged",
                )
            )

    # -- deleting -------------------------------------------------------------------------------
    def _purge_runs(
        self,
        runs: list[tuple[int, PurgedItem]],
        report: PurgeReport,
        destination: str | None,
    ) -> list[PurgedItem]:
        done: list[PurgedItem] = []
        for i in range(0, len(runs), PURGE_BATCH):
            batch = dict(runs[i : i + PURGE_BATCH])
            ids = list(batch)
            with self.db.write() as cur:
                # Locked until the batch commits: a restore waits for it, then finds no run.
                cur.execute(
                    f"SELECT id FROM runs WHERE id IN ({marks(ids)}) AND lifecycle_stage = ?"
                    f"{self._for_update()}",
                    [*ids, DELETED],
                )
                still = [row[0] for row in cur.fetchall()]
                if still:
                    in_list = marks(still)
                    for table in _RUN_TABLES:
                        cur.execute(f"DELETE FROM {table} WHERE run_id IN ({in_list})", still)
                    cur.execute(f"DELETE FROM runs WHERE id IN ({in_list})", still)
            for rid in ids:
                if rid not in still:
                    report.skipped.append(
                        Skipped("run", batch[rid].id, "it was restored while gc ran")
                    )
                    # Its experiment then keeps it, and stays (checked when experiments go).
            for rid in still:
                item = batch[rid]
                done.append(item)
                _remove_artifacts(item.artifact_uri, destination, report)
                _prune_run_folder(item.artifact_uri, item.id, destination)
        return done

    def _purge_models(
        self, models: list[PurgedItem], report: PurgeReport, destination: str | None
    ) -> list[PurgedItem]:
        done: list[PurgedItem] = []
        planned_experiments = {i.id for i in report.experiments}
        for i in range(0, len(models), PURGE_BATCH):
            batch = {m.id: m for m in models[i : i + PURGE_BATCH]}
            ids = list(batch)
            with self.db.write() as cur:
                # A model goes if it is deleted itself or its experiment still is.
                cur.execute(
                    "SELECT lm.model_id FROM logged_models lm JOIN experiments e "
                    "ON e.experiment_id = lm.experiment_id "
                    f"WHERE lm.model_id IN ({marks(ids)}) AND "
                    f"(lm.lifecycle_stage = ? OR e.lifecycle_stage = ?){self._for_update()}",
                    [*ids, DELETED, DELETED],
                )
                still = [row[0] for row in cur.fetchall()]
                if still:
                    in_list = marks(still)
                    for table in ("logged_model_params", "logged_model_tags", "logged_models"):
                        cur.execute(f"DELETE FROM {table} WHERE model_id IN ({in_list})", still)
            for model_id in ids:
                if model_id not in still:
                    report.skipped.append(
                        Skipped("logged_model", model_id, "it was restored while gc ran")
                    )
            for model_id in still:
                item = batch[model_id]
                done.append(item)
                _remove_artifacts(item.artifact_uri, destination, report)
                uri = item.artifact_uri or ""
                if item.experiment_id not in planned_experiments and uri.endswith(
                    f"/models/{model_id}/artifacts"
                ):  # Traza's layout: models/<id>/ goes too, and models/ once empty
                    _prune_empty_local(uri, levels=2)
        return done

    def _purge_experiments(self, plan: _Plan, report: PurgeReport) -> list[PurgedItem]:
        done: list[PurgedItem] = []
        for eid, item in plan.experiments.items():
            with self.db.write() as cur:
                cur.execute(
                    "SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?"
                    f"{self._for_update()}",
                    (eid,),
                )
                row = cur.fetchone()
                cur.execute("SELECT COUNT(*) FROM runs WHERE experiment_id = ?", (eid,))
                left = cur.fetchone()[0]
                cur.execute("SELECT COUNT(*) FROM logged_models WHERE experiment_id = ?", (eid,))
                left += cur.fetchone()[0]
                if row is None or row[0] != DELETED or left:
                    reason = (
                        "it was restored while gc ran"
                        if row is not None and row[0] != DELETED
                        else "runs or logged models were added to it while gc ran"
                    )
                    report.skipped.append(Skipped("experiment", item.id, reason))
                    continue
                cur.execute("DELETE FROM datasets WHERE experiment_id = ?", (eid,))
                cur.execute("DELETE FROM experiment_tags WHERE experiment_id = ?", (eid,))
                cur.execute("DELETE FROM experiments WHERE experiment_id = ?", (eid,))
                # Its grants go with it (``auth_version`` tells the servers' caches).
                cur.execute(
                    "DELETE FROM auth_experiment_permissions WHERE experiment_id = ?", (eid,)
                )
                cur.execute("UPDATE auth_version SET version = version + 1 WHERE id = 1")
            done.append(item)
            location = plan.experiment_locations[eid].rstrip("/")
            own = f"{plan.artifact_root}/{eid}" if plan.artifact_root is not None else None
            if location == own or (own is None and location.rsplit("/", 1)[-1] == str(eid)):
                # Traza's own layout (<root>/<experiment id>): its empty folders go. A location
                # the user chose may be shared, and another store's (an imported experiment
                # still in MLflow's folder) is not ours: both are left alone.
                _prune_empty_local(location, levels=None)
        return done


def _repository(uri: str, destination: str | None) -> ArtifactRepository:
    from traza.artifacts import get_repository

    if uri.startswith(_PROXY_SCHEME):
        from traza.uris import has_scheme, proxied_path

        assert destination is not None  # checked before anything was deleted
        root = (
            destination.rstrip("/")
            if has_scheme(destination)
            else Path(destination).expanduser().resolve().as_uri()
        )
        return get_repository(f"{root}/{proxied_path(uri)}")
    return get_repository(uri)


def _remove_artifacts(uri: str | None, destination: str | None, report: PurgeReport) -> None:
    """Delete an artifact root; a root that never got files is fine, a failure is reported."""
    if not uri:
        return
    try:
        repo = _repository(uri, destination)
        from traza.artifacts.local import LocalArtifactRepository

        if isinstance(repo, LocalArtifactRepository):
            if repo.root.is_symlink():  # remove the link, never what it points at
                repo.root.unlink()
                return
            if not repo.root.exists():
                return
        repo.delete_artifacts()
    except TrazaException as e:
        if e.error_code != "RESOURCE_DOES_NOT_EXIST":
            report.artifact_errors.append((uri, e.message))
    except Exception as e:  # an S3 or filesystem failure: the rows are gone, say what is left
        report.artifact_errors.append((uri, f"{type(e).__name__}: {e}"))


def _prune_run_folder(uri: str | None, run_id: str, destination: str | None) -> None:
    """MLflow's layout (``<experiment>/<run id>/artifacts``): the emptied ``<run id>`` folder
    goes too, in a local folder or the proxy's local destination."""
    if not uri or not uri.rstrip("/").endswith(f"/{run_id}/artifacts"):
        return
    if uri.startswith(_PROXY_SCHEME):
        from traza.uris import has_scheme, proxied_path

        if destination is None or has_scheme(destination):
            return
        root = Path(destination).expanduser().resolve().as_uri()
        uri = f"{root}/{proxied_path(uri)}"
    _prune_empty_local(uri.rstrip("/"), levels=1)


def _prune_empty_local(uri: str | None, levels: int | None) -> None:
    """Remove empty folders left at a local location (never a file): ``levels`` parents of it,
    or, with ``None``, every empty folder under it and then it."""
    if not uri or not uri.startswith("file:"):
        return
    from traza.artifacts.local import local_path_of

    path = local_path_of(uri)
    try:
        if levels is None:
            if not path.is_dir() or path.is_symlink():
                return
            for folder, _subdirs, _files in os.walk(path, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
            return
        for _ in range(levels):
            path = path.parent
            os.rmdir(path)
    except OSError:
        return
