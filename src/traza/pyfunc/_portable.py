"""``python_model.pkl`` that loads in Traza and in MLflow, each without the other installed.

cloudpickle stores a class defined in a script by value but its base classes by reference, so a
subclass of Traza's ``PythonModel`` would name ``traza.pyfunc.python_model.PythonModel`` and need
Traza to load. Saving, the base is instead stored as a call to a function pickled by value
(:mod:`traza.pyfunc._base_resolver`) that finds ``PythonModel`` in whichever library loads it.

Loading a pickle MLflow wrote, without MLflow installed: its references to ``mlflow.*`` (the
base class, and the type-hint validation wrapper MLflow puts around ``predict``) are answered
by stand-in modules for the duration of the load; the wrapper is then removed, since Traza's
loaded model converts the input itself.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import lzma
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar

_OPENERS: dict[str, Callable[..., IO[bytes]]] = {
    "lzma": lzma.open,
    "bzip2": bz2.open,
    "gzip": gzip.open,  # type: ignore[dict-item]
}
#: MLflow's compressed pickles (``MLFLOW_LOG_MODEL_COMPRESSION``) end with these.
EXTENSIONS = {"lzma": ".xz", "bzip2": ".bz2", "gzip": ".gz"}
_BASE_NAMES = ("PythonModel", "PythonModelContext", "_FunctionPythonModel")


def cloudpickle_module() -> Any:
    """cloudpickle, or an error saying how to get it (it is not one of Traza's own needs)."""
    try:
        import cloudpickle
    except ImportError:
        from traza.exceptions import invalid

        raise invalid(
            "Saving a PythonModel needs cloudpickle, as in MLflow: pip install cloudpickle "
            "(or give python_model as the path of a file that calls set_model)."
        ) from None
    return cloudpickle


def _pickler_class() -> type:
    cloudpickle = cloudpickle_module()

    from traza.pyfunc import _base_resolver, python_model

    cloudpickle.register_pickle_by_value(_base_resolver)
    bases = {getattr(python_model, name): name for name in _BASE_NAMES}

    class PortablePickler(cloudpickle.Pickler):  # type: ignore[misc, name-defined]
        """Stores the two base classes portably and records every module the pickle names."""

        modules: set[str]

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, type) and obj in bases:
                return _base_resolver.resolve_base, (bases[obj],)
            if isinstance(obj, types.ModuleType):
                self.modules.add(obj.__name__)
            else:
                self.modules.add(getattr(obj, "__module__", None) or type(obj).__module__)
            return super().reducer_override(obj)

    return PortablePickler


def dump(obj: Any, path: Path) -> set[str]:
    """cloudpickle ``obj`` to ``path`` with the base classes stored portably; returns the
    modules the pickle refers to (they must be importable where it is loaded)."""
    buffer = io.BytesIO()
    pickler = _pickler_class()(buffer, protocol=None)
    pickler.modules = set()
    pickler.dump(obj)
    path.write_bytes(buffer.getvalue())
    return {m for m in pickler.modules if isinstance(m, str)}


def load(path: Path, compression: str | None = None) -> Any:
    """Unpickle a ``python_model.pkl`` written by Traza or MLflow."""
    opener = _OPENERS.get(compression or "")
    if compression and opener is None:
        from traza.exceptions import invalid

        raise invalid(f"Unknown python_model_compression {compression!r} in the MLmodel file.")
    with (opener or open)(path, "rb") as f:
        data = f.read()
    import pickle

    if not uses_mlflow_without_it(data):
        return pickle.loads(data)
    with mlflow_stand_ins():
        obj = pickle.loads(data)
    _unwrap_predict(obj)
    return obj


def uses_mlflow_without_it(data: bytes) -> bool:
    """``data`` (a pickle or a code file) mentions MLflow, which cannot be imported here."""
    return b"mlflow" in data and not _mlflow_importable()


def _mlflow_importable() -> bool:
    if "mlflow" in sys.modules:
        return sys.modules["mlflow"] is not None
    try:
        return importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        return False


def _unwrap_predict(obj: Any) -> None:
    """Drop MLflow's type-hint validation wrapper (it needs MLflow at call time)."""
    for cls in type(obj).__mro__:
        for name in ("predict", "predict_stream"):
            func: Any = cls.__dict__.get(name)
            if getattr(func, "_is_pyfunc", False) and hasattr(func, "__wrapped__"):
                setattr(cls, name, func.__wrapped__)
    with contextlib.suppress(AttributeError, TypeError):
        func = vars(obj).get("func")  # a function model: MLflow wraps the function too
        if getattr(func, "_is_pyfunc", False) and hasattr(func, "__wrapped__"):
            obj.func = func.__wrapped__
        if isinstance(vars(obj).get("_predict_type_hints"), _Placeholder):
            del obj._predict_type_hints


class _Placeholder:
    """What a name from MLflow that Traza does not provide unpickles to: accepts anything."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


class _StandInModule(types.ModuleType):
    """``mlflow.X``: Traza's ``traza.X`` where it has the name, a placeholder otherwise."""

    _MAP: ClassVar[dict[str, str]] = {
        "mlflow": "traza",
        "mlflow.pyfunc.model": "traza.pyfunc.python_model",
        "mlflow.models.model": "traza.models",
    }

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self._placeholders: dict[str, type] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        target = self._MAP.get(self.__name__, "traza" + self.__name__[len("mlflow") :])
        try:
            return getattr(importlib.import_module(target), name)
        except (ImportError, AttributeError):
            pass
        full = f"{self.__name__}.{name}"
        if full in sys.modules:
            return sys.modules[full]
        if name not in self._placeholders:
            self._placeholders[name] = type(name, (_Placeholder,), {"__module__": self.__name__})
        return self._placeholders[name]


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "mlflow" or fullname.startswith("mlflow."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _StandInModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


@contextlib.contextmanager
def mlflow_stand_ins() -> Iterator[None]:
    """While open, ``import mlflow...`` gives stand-ins backed by Traza (MLflow not installed)."""
    saved = {k: v for k, v in sys.modules.items() if k == "mlflow" or k.startswith("mlflow.")}
    for name in saved:  # entries set to None block the import; lift them for the load
        del sys.modules[name]
    finder = _StandInFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [k for k in sys.modules if k == "mlflow" or k.startswith("mlflow.")]:
            del sys.modules[name]
        sys.modules.update(saved)
