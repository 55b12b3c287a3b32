"""Turn Traza's errors into clean CLI failures (the message, exit code 1, no traceback)."""

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
            # The message is a sentence; MLflow's REST code adds nothing for a person reading it.
            raise click.ClickException(e.message) from None

    return wrapper  # type: ignore[return-value]
