"""What a search shows a signed-in, non-admin caller, as SQL conditions on the searched rows.

Applied inside the store's query (never by dropping rows from a page), so pages stay full and
page tokens stay valid. The grants are the ``0007_auth`` tables beside the searched ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traza.auth.principal import Permission

EXPERIMENT_TABLE = "auth_experiment_permissions"
MODEL_TABLE = "auth_registered_model_permissions"
#: The levels that allow reading, as stored.
READABLE = tuple(p.value for p in Permission if p.can_read)


@dataclass(frozen=True)
class Visibility:
    """``default`` is the configured default permission (it applies where the user has no grant);
    ``experiment_id`` confines a run-scoped caller to its run's experiment (and no registered
    models). ``grants`` holds the user's grants by table when they live in a separate users
    database (``database_uri``), where a subquery cannot reach them: then they are listed.
    """

    user_id: int
    default: Permission
    experiment_id: str | None = None
    grants: Mapping[str, Mapping[Any, Permission]] | None = None

    def experiment_condition(self, column: str, args: list[Any]) -> str:
        """``column`` (an experiment id) is one the caller may read."""
        granted = self._condition(EXPERIMENT_TABLE, "experiment_id", column, args)
        if self.experiment_id is not None:  # a run-scoped token: its run's experiment at most
            args.append(int(self.experiment_id))
            return f"({granted} AND {column} = ?)"
        return granted

    def model_condition(self, column: str, args: list[Any]) -> str:
        """``column`` (a registered model's name) is one the caller may read."""
        if self.experiment_id is not None:
            return "1 = 0"
        return self._condition(MODEL_TABLE, "name", column, args)

    def _condition(self, table: str, key: str, column: str, args: list[Any]) -> str:
        if self.grants is not None:
            return self._listed(self.grants.get(table, {}), column, args)
        args.append(self.user_id)
        if self.default.can_read:
            # Visible unless a grant takes reading away.
            args.append(Permission.NO_PERMISSIONS.value)
            return (
                f"{column} NOT IN (SELECT {key} FROM {table} WHERE user_id = ? AND permission = ?)"
            )
        args.extend(READABLE)
        marks = ", ".join("?" * len(READABLE))
        return (
            f"{column} IN (SELECT {key} FROM {table} WHERE user_id = ? AND permission IN ({marks}))"
        )

    def _listed(self, granted: Mapping[Any, Permission], column: str, args: list[Any]) -> str:
        if self.default.can_read:
            keys = [k for k, level in granted.items() if not level.can_read]
            if not keys:
                return "1 = 1"
            args.extend(keys)
            return f"{column} NOT IN ({', '.join('?' * len(keys))})"
        keys = [k for k, level in granted.items() if level.can_read]
        if not keys:
            return "1 = 0"
        args.extend(keys)
        return f"{column} IN ({', '.join('?' * len(keys))})"
