"""Records (``traza.entities._record``) behave as the frozen, slotted dataclasses they replace."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar

import pytest

from traza.entities import Param, Run, RunData, RunInfo
from traza.entities._record import Record, field


class Point(Record):
    x: int
    y: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    LIMIT: ClassVar[int] = 3


class Labelled(Point):
    label: str = ""


def test_fields_defaults_and_factories() -> None:
    a, b = Point(1), Point(x=2, y=5)
    assert (a.x, a.y, a.tags, b.x, b.y) == (1, 0, {}, 2, 5)
    assert a.tags is not Point(1).tags  # a fresh dict each time
    assert Point.LIMIT == 3 and "LIMIT" not in Point.__record_fields__
    assert Point.__slots__ == ("x", "y", "tags")
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, {}, 4)  # type: ignore[call-arg]


def test_frozen_equal_hashable_and_printable() -> None:
    p = Param("k", "v")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.key = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.key  # type: ignore[misc]
    assert p == Param(key="k", value="v") and p != Param("k", "w")
    assert p != ("k", "v") and hash(p) == hash(Param("k", "v"))
    assert repr(p) == "Param(key='k', value='v')"
    assert not hasattr(p, "__dict__")


def test_subclass_keeps_parent_fields_first() -> None:
    item = Labelled(1, 2, {}, "a")
    assert Labelled.__record_fields__ == ("x", "y", "tags", "label")
    assert (item.x, item.label) == (1, "a")
    assert item != Point(1, 2, {})  # another class is never equal


def test_pickle_and_copy_round_trip() -> None:
    info = RunInfo("r" * 32, "0", "u", "RUNNING", 1, None, "active", "file:///a", "name")
    run = Run(info=info, data=RunData(params={"a": "1"}))
    for again in (pickle.loads(pickle.dumps(run)), copy.deepcopy(run), copy.copy(run)):
        assert again == run and again.data.params == {"a": "1"}
