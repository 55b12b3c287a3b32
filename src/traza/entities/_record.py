"""Frozen, slotted records that cost almost nothing to define.

``@dataclass(frozen=True, slots=True)`` compiles five methods per class with ``exec`` and then
builds the class a second time for its slots: about half of ``import traza`` went there. A
:class:`Record` subclass gets its slots from its annotations when the class is made, and its
``__init__`` compiled on first use; equality, hashing, ``repr``, pickling and the refusal to
be changed are shared methods. Type checkers see a frozen dataclass (``dataclass_transform``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:  # only type checkers read it (typing has it from Python 3.11 on)

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda cls: cls


_MISSING: Any = object()


class _Field:
    __slots__ = ("default", "default_factory")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | None) -> None:
        self.default = default
        self.default_factory = default_factory


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    """A field's default: a value, or a factory called for each new record."""
    return _Field(default, default_factory)


def _is_class_var(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class _RecordMeta(type):
    """Turns a class body's annotations into slots and remembers each field's default."""

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> _RecordMeta:
        inherited: tuple[str, ...] = ()
        defaults: dict[str, _Field] = {}
        for base in bases:  # a subclass keeps its parent's fields, first
            inherited += getattr(base, "__record_fields__", ())
            defaults.update(getattr(base, "__record_defaults__", {}))
        annotations = ns.get("__annotations__", {})
        own = tuple(
            k for k, v in annotations.items() if not _is_class_var(v) and k not in inherited
        )
        for key in own:
            if key in ns:
                value = ns.pop(key)
                defaults[key] = value if isinstance(value, _Field) else _Field(value, None)
        if "__slots__" not in ns:
            ns["__slots__"] = own
        names = inherited + own
        ns["__record_fields__"] = names
        ns["__record_defaults__"] = defaults
        ns["__match_args__"] = names
        if bases and "__init__" not in ns:
            # Each class compiles its own on first use (a parent's takes other fields).
            ns["__init__"] = _first_init
        return super().__new__(mcs, name, bases, ns)


def _compiled_init(cls: type[Record]) -> Callable[..., None]:
    """``cls.__init__`` as a dataclass would write it (positional or keyword, defaults last)."""
    names: tuple[str, ...] = cls.__record_fields__
    defaults: dict[str, _Field] = cls.__record_defaults__
    scope: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": _MISSING}
    params, body = [], []
    for i, name in enumerate(names):
        spec = defaults.get(name)
        if spec is None:
            params.append(name)
            body.append(f"    _set(self, {name!r}, {name})")
        elif spec.default_factory is not None:
            scope[f"_factory{i}"] = spec.default_factory
            params.append(f"{name}=_MISSING")
            body.append(
                f"    _set(self, {name!r}, _factory{i}() if {name} is _MISSING else {name})"
            )
        else:
            scope[f"_default{i}"] = spec.default
            params.append(f"{name}=_default{i}")
            body.append(f"    _set(self, {name!r}, {name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    # The helpers are the maker's arguments, so the body reads them as closure cells (faster
    # than globals, as dataclasses does).
    inner = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass")
    source = f"def __make__({', '.join(scope)}):\n" + _indent(inner) + "\n    return __init__"
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    init: Callable[..., None] = namespace["__make__"](**scope)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _first_init(self: Record, *args: Any, **kwargs: Any) -> None:
    """Every record class's ``__init__`` until its first call compiles the real one."""
    cls = type(self)
    init = _compiled_init(cls)
    cls.__init__ = init  # type: ignore[method-assign]
    init(self, *args, **kwargs)


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


class Record(metaclass=_RecordMeta):
    """Base of frozen records: ``class Point(Record): x: int; y: int = 0``."""

    __slots__ = ()
    __record_fields__: ClassVar[tuple[str, ...]] = ()
    __record_defaults__: ClassVar[dict[str, _Field]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _first_init(self, *args, **kwargs)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__record_fields__)

    def __repr__(self) -> str:
        fields = self.__record_fields__
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: Any) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __getstate__(self) -> tuple[Any, ...]:
        return self._values()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__record_fields__, state, strict=True):
            object.__setattr__(self, name, value)
