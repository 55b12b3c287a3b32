"""Who a request acts as, and MLflow's permission levels.

The authentication middleware puts a :class:`Principal` in the ASGI scope under
:data:`SCOPE_KEY` (absent when auth is off); route permission rules read it from there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: The ASGI scope key that holds the request's :class:`Principal` when auth is on.
SCOPE_KEY = "traza.principal"
#: The ASGI scope key of the authentication layer (``traza.auth.middleware.Authenticator``):
#: its ``store`` (users, tokens), ``config`` (``default_permission``) and
#: ``add_invalidation_listener`` for caches of grants. Absent when auth is off.
AUTHENTICATOR_KEY = "traza.authenticator"


class Permission(enum.Enum):
    """MLflow's levels, each allowing what the one before allows and more."""

    NO_PERMISSIONS = "NO_PERMISSIONS"
    READ = "READ"
    USE = "USE"
    EDIT = "EDIT"
    MANAGE = "MANAGE"

    @property
    def can_read(self) -> bool:
        return self is not Permission.NO_PERMISSIONS

    @property
    def can_use(self) -> bool:
        return self in (Permission.USE, Permission.EDIT, Permission.MANAGE)

    @property
    def can_update(self) -> bool:
        return self in (Permission.EDIT, Permission.MANAGE)

    @property
    def can_delete(self) -> bool:
        return self is Permission.MANAGE

    @property
    def can_manage(self) -> bool:
        return self is Permission.MANAGE

    @classmethod
    def parse(cls, value: object) -> Permission:
        """The level named ``value``; the error lists the valid names."""
        try:
            return cls(str(value).upper())
        except ValueError:
            from traza.exceptions import invalid

            names = ", ".join(p.value for p in cls)
            raise invalid(f"Invalid permission {value!r}: use one of {names}.") from None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``run_id`` is set for a run-scoped token: it may log to that run and read its experiment,
    nothing else.
    """

    user_id: int
    username: str
    is_admin: bool = False
    run_id: str | None = None
