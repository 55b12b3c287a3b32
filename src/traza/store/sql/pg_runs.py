"""Creating a run on PostgreSQL as one statement, for experiments a store has seen before.

The general path takes five round trips (BEGIN, the experiment's row, the run, its tags,
COMMIT). Knowing the experiment's artifact location from an earlier run, the run and its tags
are written by one statement in autocommit mode, which writes only if the experiment is still
there, active, and at that location; otherwise nothing is written and the caller takes the
general path (which also says what is wrong).
"""

from __future__ import annotations

from typing import Any

_STATEMENT = """
WITH e AS (
    SELECT experiment_id FROM experiments
    WHERE experiment_id = %s AND lifecycle_stage = 'active' AND artifact_location = %s
),
r AS (
    INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time,
        lifecycle_stage, artifact_uri)
    SELECT %s, e.experiment_id, %s, %s, 'RUNNING', %s, 'active', %s FROM e
    RETURNING id
),
t AS (
    INSERT INTO tags (run_id, key, value)
    SELECT r.id, u.* FROM r, unnest(%s::text[], %s::text[]) AS u
)
SELECT id FROM r
"""


def create_run(
    raw_cursor: Any,
    experiment: tuple[int, str],
    values: tuple[str, str, str, int, str],
    tags: dict[str, str],
) -> bool:
    """Write the run ``values`` (uuid, name, user, start time, artifact URI) and its tags into
    ``experiment`` (id, artifact location); False when nothing was written."""
    run_uuid, name, user_id, start_time, artifact_uri = values
    raw_cursor.execute(
        _STATEMENT,
        (*experiment, run_uuid, name, user_id, start_time, artifact_uri, list(tags),
         list(tags.values())),
    )  # fmt: skip
    return raw_cursor.fetchone() is not None
