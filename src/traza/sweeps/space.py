"""The sweep's value grammar: what each ``-P name=...`` (or YAML entry) may take.

``a,b,c`` is a list; ``range(start, stop, num)`` is ``num`` evenly spaced values from ``start``
to ``stop`` inclusive; ``uniform(lo, hi)``, ``loguniform(lo, hi)``, ``int(lo, hi)`` and
``choice(a, b, ...)`` are distributions, for the random and Optuna strategies only. Parsing is
strict: anything else is refused with a message saying what was wrong and how to write it.
Values are kept as the strings a run logs (``0.1`` stays ``0.1``).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from traza.exceptions import TrazaException

GRAMMAR = (
    "a list 'a,b,c', 'range(start, stop, num)', or for --strategy random/optuna "
    "'uniform(lo, hi)', 'loguniform(lo, hi)', 'int(lo, hi)', 'choice(a, b, ...)'"
)
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.DOTALL)
_FUNCTIONS = ("range", "uniform", "loguniform", "int", "choice")
_NAME = re.compile(r"^[A-Za-z0-9_\-. /]+$")
#: More grid points than this is a typo (a range with one zero too many), not a sweep.
MAX_GRID = 100_000


class SweepDefinitionError(TrazaException):
    """A sweep that cannot be run as written (refused before any run is created)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="INVALID_PARAMETER_VALUE")


@dataclass(frozen=True)
class Dimension:
    """One swept parameter: its name, its kind and what it was written as."""

    name: str
    kind: str  # values | uniform | loguniform | int | choice
    spec: str
    values: tuple[str, ...] = ()  # values, choice
    low: float = 0.0  # uniform, loguniform, int
    high: float = 0.0

    @property
    def finite(self) -> bool:
        """Whether a grid can enumerate it (lists and ranges)."""
        return self.kind == "values"

    def sample(self, rng: random.Random) -> str:
        """One value drawn with ``rng`` (the same ``rng`` state gives the same value)."""
        if self.kind in ("values", "choice"):
            return rng.choice(self.values)
        if self.kind == "uniform":
            return repr(rng.uniform(self.low, self.high))
        if self.kind == "loguniform":
            drawn = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
            return repr(min(max(drawn, self.low), self.high))  # exp(log(x)) may pass x by 1 ulp
        return str(rng.randint(int(self.low), int(self.high)))

    def to_dict(self) -> dict[str, Any]:
        """The dimension as plain data (the definition the parent run keeps and hashes)."""
        if self.kind in ("values", "choice"):
            return {"kind": self.kind, "values": list(self.values)}
        if self.kind == "int":
            return {"kind": "int", "low": int(self.low), "high": int(self.high)}
        return {"kind": self.kind, "low": self.low, "high": self.high}


def number(value: float) -> str:
    """A float as a short decimal (``0.30000000000000004`` is ``0.3``)."""
    text = f"{value:.12g}"
    return text if any(c in text for c in ".en") else text + ".0"


def _error(name: str, spec: str, why: str) -> SweepDefinitionError:
    return SweepDefinitionError(f"Invalid values for parameter '{name}': {spec!r}: {why}.")


def _float(name: str, spec: str, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _error(name, spec, f"{what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise _error(name, spec, f"{what} {text.strip()!r} is not a finite number")
    return value


def _int(name: str, spec: str, text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _error(name, spec, f"{what} {text.strip()!r} is not an integer") from None


def _items(name: str, spec: str, text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(","))
    for n, item in enumerate(items, start=1):
        if not item:
            raise _error(name, spec, f"value {n} is empty (write values as 'a,b,c')")
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise _error(name, spec, f"{duplicates[0]!r} is listed twice")
    return items


def _arguments(name: str, spec: str, function: str, body: str, count: int) -> list[str]:
    arguments = [a.strip() for a in body.split(",")]
    if len(arguments) != count or not all(arguments):
        shown = {"range": "range(start, stop, num)", "int": "int(lo, hi)"}.get(
            function, f"{function}(lo, hi)"
        )
        raise _error(name, spec, f"{function}() takes {count} arguments: {shown}")
    return arguments


def _range(name: str, spec: str, body: str) -> tuple[str, ...]:
    start_text, stop_text, num_text = _arguments(name, spec, "range", body, 3)
    start = _float(name, spec, start_text, "start")
    stop = _float(name, spec, stop_text, "stop")
    num = _int(name, spec, num_text, "num")
    if num < 1:
        raise _error(name, spec, f"num must be at least 1, got {num}")
    if num > MAX_GRID:
        raise _error(name, spec, f"num {num} is more than {MAX_GRID} values")
    if num == 1:
        return (start_text,)
    step = (stop - start) / (num - 1)
    integral = all(re.fullmatch(r"[+-]?\d+", t) for t in (start_text, stop_text))
    if integral and step == int(step):
        return tuple(str(int(start) + int(step) * i) for i in range(num))
    values = (*(number(start + step * i) for i in range(num - 1)), number(stop))
    if len(set(values)) != len(values):
        raise _error(name, spec, "the values are too close together to tell apart")
    return values


def parse(name: str, spec: Any) -> Dimension:
    """One parameter's values: a grammar string, or a list of literal values (from YAML)."""
    if not isinstance(name, str) or not name or not _NAME.match(name):
        raise SweepDefinitionError(
            f"Invalid parameter name {name!r}: use letters, digits, '_', '-', '.', '/' or spaces."
        )
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        values = tuple(_literal(name, v) for v in spec)
        if not values:
            raise _error(name, str(list(spec)), "the list is empty")
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise _error(name, str(list(spec)), f"{duplicates[0]!r} is listed twice")
        return Dimension(name, "values", str(list(values)), values=values)
    if not isinstance(spec, str):
        return Dimension(name, "values", str(spec), values=(_literal(name, spec),))
    text = spec.strip()
    if not text:
        raise _error(name, spec, f"no values given; write {GRAMMAR}")
    call = _CALL.match(text)
    if call is None:
        if "(" in text or ")" in text:
            raise _error(
                name, spec, f"unbalanced parentheses; write {GRAMMAR} (values that hold commas "
                "or parentheses go in a --config YAML file, as a YAML list)"
            )  # fmt: skip
        values = _items(name, spec, text)
        return Dimension(name, "values", text, values=values)
    function, body = call[1], call[2]
    if function not in _FUNCTIONS:
        raise _error(
            name, spec, f"unknown function {function}(); write {GRAMMAR} (a literal value "
            "like this goes in a --config YAML file, as a YAML list)"
        )  # fmt: skip
    if function == "range":
        return Dimension(name, "values", text, values=_range(name, spec, body))
    if function == "choice":
        return Dimension(name, "choice", text, values=_items(name, spec, body))
    lo_text, hi_text = _arguments(name, spec, function, body, 2)
    if function == "int":
        lo, hi = _int(name, spec, lo_text, "lo"), _int(name, spec, hi_text, "hi")
        if lo > hi:
            raise _error(name, spec, f"lo {lo} is greater than hi {hi}")
        return Dimension(name, "int", text, low=lo, high=hi)
    lo_f, hi_f = _float(name, spec, lo_text, "lo"), _float(name, spec, hi_text, "hi")
    if lo_f >= hi_f:
        raise _error(name, spec, f"lo {lo_text} must be less than hi {hi_text}")
    if function == "loguniform" and lo_f <= 0:
        raise _error(name, spec, f"loguniform needs 0 < lo, got {lo_text}")
    return Dimension(name, function, text, low=lo_f, high=hi_f)


def _literal(name: str, value: Any) -> str:
    """A YAML value as the string a run logs (``true`` is ``True``, as MLflow logs it)."""
    if value is None or isinstance(value, (Mapping, list, tuple)):
        raise _error(name, str(value), "each value must be a string, number or boolean")
    text = str(value)
    if not text.strip():
        raise _error(name, repr(value), "a value is empty")
    return text


@dataclass(frozen=True)
class Space:
    """The swept parameters, in the order given."""

    dimensions: tuple[Dimension, ...]

    def grid_size(self) -> int:
        return math.prod(len(d.values) for d in self.dimensions)

    def to_dict(self) -> dict[str, Any]:
        return {d.name: d.to_dict() for d in self.dimensions}


def space(parameters: Mapping[str, Any]) -> Space:
    """Every parameter parsed; at least one must be given."""
    if not parameters:
        raise SweepDefinitionError(
            "A sweep needs at least one parameter: -P name=values, e.g. -P alpha=0.1,0.5,1.0."
        )
    return Space(tuple(parse(name, spec) for name, spec in parameters.items()))


def check_strategy(space_: Space, strategy: str, trials: int | None) -> int:
    """The number of trials ``strategy`` runs; refuses what it cannot run."""
    if strategy == "grid":
        if trials is not None:
            raise SweepDefinitionError(
                "--strategy grid runs every combination; do not give --trials (or use "
                "--strategy random/optuna to draw a number of trials)."
            )
        continuous = [d for d in space_.dimensions if not d.finite]
        if continuous:
            d = continuous[0]
            raise SweepDefinitionError(
                f"--strategy grid needs a list or range(start, stop, num) for '{d.name}', not "
                f"{d.spec!r}; distributions are for --strategy random or optuna."
            )
        size = space_.grid_size()
        if size > MAX_GRID:
            raise SweepDefinitionError(
                f"The grid has {size} combinations, more than {MAX_GRID}; use fewer values."
            )
        return size
    if strategy in ("random", "optuna"):
        if trials is None:
            raise SweepDefinitionError(
                f"--strategy {strategy} needs --trials N (how many trials to draw)."
            )
        if trials < 1 or trials > MAX_GRID:
            raise SweepDefinitionError(f"--trials must be between 1 and {MAX_GRID}, got {trials}.")
        return trials
    raise SweepDefinitionError(
        f"Unknown strategy {strategy!r}: use grid, random or optuna."
    )  # fmt: skip
