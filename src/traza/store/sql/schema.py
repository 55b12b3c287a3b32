"""Traza's schema as ordered, named migrations, recorded in the database they were applied to.

Migrations only ever append: a released one is never edited, a change is a new entry. Each is
applied inside the same transaction that records it, so two processes opening a new database at
once cannot both apply it, and a crash mid-way leaves the previous version intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from traza.exceptions import TrazaException
from traza.store.sql import metric_buckets
from traza.store.sql.db import Cursor, Database
from traza.store.sql.dialect import Dialect

MIGRATIONS_TABLE = "traza_migrations"


@dataclass(frozen=True)
class Migration:
    name: str
    statements: Sequence[str] = ()
    #: For changes that need more than DDL (data rewrites); runs after ``statements``.
    run: Callable[[Cursor, Dialect], None] | None = None


def _key_value_statistics(cur: Cursor, dialect: Dialect) -> None:
    """Migration 0010: PostgreSQL learns which values go with which param and tag key.

    Its planner multiplied the two columns' frequencies as if independent, so a filter like
    ``params.p0 = 'v1'`` (a third of the runs) looked 10x rarer than it is, and search ordered
    by a metric sorted every match (25 ms over 10,000 runs) instead of walking
    ``latest_metrics (key, value)`` for a page (4 ms). Most-common-value lists over the pair
    fix the estimate. SQLite plans from its indexes' own statistics and needs nothing.
    """
    if dialect.name != "postgresql":
        return
    for table in ("params", "tags"):
        cur.execute(
            f"CREATE STATISTICS IF NOT EXISTS {table}_key_value (mcv) ON key, value FROM {table}"
        )
        cur.execute(f"ANALYZE {table}")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_tracking",
        (
            """CREATE TABLE experiments (
                experiment_id BIGINT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                artifact_location TEXT NOT NULL,
                lifecycle_stage TEXT NOT NULL DEFAULT 'active',
                creation_time BIGINT NOT NULL,
                last_update_time BIGINT NOT NULL,
                deleted_time BIGINT
            )""",
            """CREATE TABLE experiment_tags (
                experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id)
                    ON DELETE CASCADE,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (experiment_id, key)
            ){without_rowid}""",
            """CREATE TABLE runs (
                id {serial_pk},
                run_uuid TEXT NOT NULL UNIQUE,
                experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id),
                name TEXT NOT NULL DEFAULT '',
                user_id TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT 'RUNNING',
                start_time BIGINT NOT NULL,
                end_time BIGINT,
                lifecycle_stage TEXT NOT NULL DEFAULT 'active',
                artifact_uri TEXT NOT NULL,
                deleted_time BIGINT
            )""",
            "CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time, run_uuid)",
            """CREATE TABLE params (
                run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (run_id, key)
            ){without_rowid}""",
            "CREATE INDEX params_by_key ON params (key, value)",
            """CREATE TABLE tags (
                run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (run_id, key)
            ){without_rowid}""",
            "CREATE INDEX tags_by_key ON tags (key, value)",
            # Clustered on its key, so a point costs one page write and a history is one range
            # scan. SQLite cannot store NaN: such points store 0 with is_nan = 1. Logging the
            # very same point twice keeps one.
            """CREATE TABLE metrics (
                run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                step BIGINT NOT NULL,
                timestamp BIGINT NOT NULL,
                is_nan SMALLINT NOT NULL DEFAULT 0,
                value DOUBLE PRECISION NOT NULL,
                model_id TEXT,
                dataset_name TEXT,
                dataset_digest TEXT,
                PRIMARY KEY (run_id, key, step, timestamp, is_nan, value)
            ){without_rowid}""",
            # One row per (run, key): what search and order_by read, so they never scan
            # histories. min/max ignore NaN.
            """CREATE TABLE latest_metrics (
                run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                value DOUBLE PRECISION,
                timestamp BIGINT NOT NULL,
                step BIGINT NOT NULL,
                is_nan SMALLINT NOT NULL DEFAULT 0,
                min_value DOUBLE PRECISION,
                max_value DOUBLE PRECISION,
                count BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (run_id, key)
            ){without_rowid}""",
        ),
    ),
    Migration(
        "0002_inputs_and_logged_models",
        (
            """CREATE TABLE datasets (
                id {serial_pk},
                experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id)
                    ON DELETE CASCADE,
                name TEXT NOT NULL,
                digest TEXT NOT NULL,
                source_type TEXT NOT NULL,
                source TEXT NOT NULL,
                schema TEXT,
                profile TEXT,
                UNIQUE (experiment_id, name, digest)
            )""",
            """CREATE TABLE run_inputs (
                run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                dataset_id BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
                PRIMARY KEY (run_id, dataset_id)
            ){without_rowid}""",
            """CREATE TABLE input_tags (
                run_id BIGINT NOT NULL,
                dataset_id BIGINT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (run_id, dataset_id, key),
                FOREIGN KEY (run_id, dataset_id) REFERENCES run_inputs (run_id, dataset_id)
                    ON DELETE CASCADE
            ){without_rowid}""",
            """CREATE TABLE logged_models (
                model_id TEXT PRIMARY KEY,
                experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id)
                    ON DELETE CASCADE,
                name TEXT NOT NULL,
                source_run_id TEXT,
                model_type TEXT,
                status TEXT NOT NULL DEFAULT 'PENDING',
                status_message TEXT,
                artifact_location TEXT NOT NULL,
                creation_time BIGINT NOT NULL,
                last_update_time BIGINT NOT NULL,
                lifecycle_stage TEXT NOT NULL DEFAULT 'active',
                deleted_time BIGINT
            )""",
            "CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id)",
            """CREATE TABLE logged_model_params (
                model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (model_id, key)
            ){without_rowid}""",
            """CREATE TABLE logged_model_tags (
                model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (model_id, key)
            ){without_rowid}""",
            """CREATE TABLE run_outputs (
                run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                model_id TEXT NOT NULL,
                step BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (run_id, model_id)
            ){without_rowid}""",
            "CREATE INDEX metrics_by_model ON metrics (model_id) WHERE model_id IS NOT NULL",
        ),
    ),
    Migration(
        "0003_model_registry",
        (
            # Keyed by an integer id so a rename is one row; last_version counts versions ever
            # created, so a deleted version's number is never reused.
            """CREATE TABLE registered_models (
                id {serial_pk},
                name TEXT NOT NULL UNIQUE,
                description TEXT,
                creation_time BIGINT NOT NULL,
                last_update_time BIGINT NOT NULL,
                last_version BIGINT NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE registered_model_tags (
                registered_model_id BIGINT NOT NULL REFERENCES registered_models (id)
                    ON DELETE CASCADE,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (registered_model_id, key)
            ){without_rowid}""",
            # storage_location: where the artifacts are when that is not the source itself (a
            # logged model's location, as stored, for models:/m-... sources).
            """CREATE TABLE model_versions (
                registered_model_id BIGINT NOT NULL REFERENCES registered_models (id)
                    ON DELETE CASCADE,
                version BIGINT NOT NULL,
                creation_time BIGINT NOT NULL,
                last_update_time BIGINT NOT NULL,
                description TEXT,
                user_id TEXT,
                current_stage TEXT NOT NULL DEFAULT 'None',
                source TEXT NOT NULL,
                storage_location TEXT,
                run_id TEXT,
                run_link TEXT,
                model_id TEXT,
                status TEXT NOT NULL DEFAULT 'READY',
                status_message TEXT,
                PRIMARY KEY (registered_model_id, version)
            ){without_rowid}""",
            "CREATE INDEX model_versions_by_run ON model_versions (run_id)",
            "CREATE INDEX model_versions_by_update ON model_versions (last_update_time)",
            """CREATE TABLE model_version_tags (
                registered_model_id BIGINT NOT NULL,
                version BIGINT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (registered_model_id, version, key),
                FOREIGN KEY (registered_model_id, version)
                    REFERENCES model_versions (registered_model_id, version) ON DELETE CASCADE
            ){without_rowid}""",
            """CREATE TABLE registered_model_aliases (
                registered_model_id BIGINT NOT NULL,
                alias TEXT NOT NULL,
                version BIGINT NOT NULL,
                PRIMARY KEY (registered_model_id, alias),
                FOREIGN KEY (registered_model_id, version)
                    REFERENCES model_versions (registered_model_id, version) ON DELETE CASCADE
            ){without_rowid}""",
        ),
    ),
    Migration(
        "0004_latest_metrics_by_key",
        # The web UI's column list walks the distinct metric keys of a store through this index
        # (a loose index scan), as params_by_key and tags_by_key serve params and tags.
        ("CREATE INDEX latest_metrics_by_key ON latest_metrics (key)",),
    ),
    Migration(
        "0005_metric_buckets",
        # Each history's extremes per span of steps, kept at logging time, so a chart of a
        # long history reads a few thousand rows (see metric_buckets.py).
        (metric_buckets.TABLE_DDL,),
        run=metric_buckets.backfill,
    ),
    Migration(
        "0006_trusted_artifact_roots",
        # Artifact roots the server may read and write besides those it was started with:
        # recorded only by an operator's `traza import`/`traza sync` run against the store
        # itself, never by a request over HTTP (see store/sql/trusted_roots.py).
        (
            """CREATE TABLE trusted_artifact_roots (
                root TEXT PRIMARY KEY,
                recorded_by TEXT NOT NULL,
                created_time BIGINT NOT NULL
            ){without_rowid}""",
        ),
    ),
    Migration(
        "0007_auth",
        # Users, tokens, grants and failed-login counters of `traza server --app-name
        # basic-auth` (see traza/auth/store.py); created in every store, used only with auth on.
        (
            """CREATE TABLE auth_users (
                id {serial_pk},
                username TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                is_admin SMALLINT NOT NULL DEFAULT 0,
                created_time BIGINT NOT NULL,
                last_update_time BIGINT NOT NULL
            )""",
            # token_hash: sha256 hex of the secret; kind: personal, session or run.
            """CREATE TABLE auth_tokens (
                id {serial_pk},
                token_hash TEXT NOT NULL UNIQUE,
                user_id BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
                name TEXT NOT NULL DEFAULT '',
                kind TEXT NOT NULL DEFAULT 'personal',
                run_id TEXT,
                created_time BIGINT NOT NULL,
                expires_time BIGINT,
                last_used_time BIGINT
            )""",
            "CREATE INDEX auth_tokens_by_user ON auth_tokens (user_id)",
            "CREATE INDEX auth_tokens_by_run ON auth_tokens (run_id) WHERE run_id IS NOT NULL",
            """CREATE TABLE auth_experiment_permissions (
                experiment_id BIGINT NOT NULL,
                user_id BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
                permission TEXT NOT NULL,
                PRIMARY KEY (experiment_id, user_id)
            ){without_rowid}""",
            "CREATE INDEX auth_experiment_permissions_by_user "
            "ON auth_experiment_permissions (user_id)",
            """CREATE TABLE auth_registered_model_permissions (
                name TEXT NOT NULL,
                user_id BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
                permission TEXT NOT NULL,
                PRIMARY KEY (name, user_id)
            ){without_rowid}""",
            "CREATE INDEX auth_registered_model_permissions_by_user "
            "ON auth_registered_model_permissions (user_id)",
            # key: 'user:<name>' or 'addr:<address>'; window_start in milliseconds.
            """CREATE TABLE auth_failed_logins (
                key TEXT PRIMARY KEY,
                count BIGINT NOT NULL,
                window_start BIGINT NOT NULL
            ){without_rowid}""",
            # One row whose version every change to users, tokens or grants bumps, so each
            # worker's credential and permission caches see the change within their poll bound.
            """CREATE TABLE auth_version (
                id SMALLINT PRIMARY KEY,
                version BIGINT NOT NULL
            )""",
            "INSERT INTO auth_version (id, version) VALUES (1, 0)",
        ),
    ),
    Migration(
        "0008_run_model_inputs",
        # The logged models a run used (MLflow's log_inputs(models=...), run.inputs.model_inputs).
        # No reference to logged_models: an imported run may name a model of another store.
        (
            """CREATE TABLE run_model_inputs (
                run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                model_id TEXT NOT NULL,
                PRIMARY KEY (run_id, model_id)
            ){without_rowid}""",
        ),
    ),
    Migration(
        "0009_latest_metrics_by_value",
        # Search ordered by a metric walks this index in value order and stops after a page
        # (see search_order.py); it also serves the distinct-key walk 0004's index did.
        (
            "CREATE INDEX latest_metrics_by_key_value ON latest_metrics (key, value)",
            "DROP INDEX latest_metrics_by_key",
        ),
    ),
    Migration("0010_key_value_statistics", run=_key_value_statistics),
)


def applied_migrations(db: Database) -> list[str]:
    if MIGRATIONS_TABLE not in db.table_names():
        return []
    with db.read() as cur:
        cur.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY name")
        return [row[0] for row in cur.fetchall()]


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Bring the schema up to date; returns the names applied now (empty when current)."""
    known = [m.name for m in migrations]
    applied = applied_migrations(db)
    unknown = sorted(set(applied) - set(known))
    if unknown:
        raise TrazaException(
            f"This database was written by a newer Traza (migrations {unknown} are unknown "
            "here). Upgrade Traza to open it.",
            error_code="INVALID_STATE",
        )
    if set(known) <= set(applied):
        return []
    done: list[str] = []
    dialect = db.dialect
    with db.write() as cur:
        if dialect.schema_lock:
            cur.execute(dialect.schema_lock)
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
            "(name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
        )
        cur.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")
        present = {row[0] for row in cur.fetchall()}
        for migration in migrations:
            if migration.name in present:
                continue
            for statement in migration.statements:
                cur.execute(dialect.ddl(statement))
            if migration.run is not None:
                migration.run(cur, dialect)
            cur.execute(
                (f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)"),
                (migration.name, _now_ms()),
            )
            done.append(migration.name)
    return done


def _now_ms() -> int:
    return int(time.time() * 1000)
