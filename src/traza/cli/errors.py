"""Turn Traza's errors into clean CLI failures (message, exit code 1, no traceback)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from traza.exceptions import TrazaException

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TrazaException as e:
            raise click.ClickException(f"{e.error_code}: {e.message}") from None

    return wrapper  # type: ignore[return-value]
