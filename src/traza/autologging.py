"""Autologging machinery shared by integrations, and ``traza.autolog()``.

An integration (``traza.sklearn.autolog``) is a function decorated with
:func:`autologging_integration`, which records its configuration so patched code can read it
(``disable``, ``silent``, ``exclusive``...), and which reverts the integration's earlier patches
before applying new ones, so calling it twice never patches twice. :func:`safe_patch` replaces a
method so that a failure in the logging around it only warns: the user's call always runs and
returns, and only its own exceptions reach the caller. Nothing here imports a heavy module.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import inspect
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, TypeVar

AUTOLOGGING_TAG = "mlflow.autologging"
#: Marks a configuration set by ``traza.autolog()`` rather than the integration's own call.
GLOBALLY_CONFIGURED = "globally_configured"
INPUT_EXAMPLE_SAMPLE_ROWS = 5

_ERROR_MESSAGE = "Encountered unexpected error during {} autologging: {}"
_MISSING = object()
_ORIGINAL = "__traza_autolog_original__"

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.RLock()
_configs: dict[str, dict[str, Any]] = {}
_patches: dict[str, list[_Patch]] = {}
_globally_disabled = False


# -- configuration ----------------------------------------------------------------------------
def get_config(integration: str, key: str, default: Any = None) -> Any:
    """A configuration value of ``integration``'s last ``autolog()`` call, else ``default``."""
    config = _configs.get(integration)
    return default if config is None else config.get(key, default)


def is_disabled(integration: str) -> bool:
    """Whether ``integration`` is off: never enabled, or last called with ``disable=True``."""
    return bool(get_config(integration, "disable", True))


def autologging_integration(name: str) -> Callable[[F], F]:
    """Make ``fn`` an integration's ``autolog``: record its arguments, then (re)patch.

    Earlier patches of the integration are always reverted first; ``fn`` runs only when the
    call enables autologging, so ``disable=True`` leaves everything unpatched.
    """

    def decorate(fn: F) -> F:
        parameters = inspect.signature(fn).parameters
        for required in ("disable", "silent"):
            if required not in parameters or parameters[required].default is not False:
                raise TypeError(
                    f"{name} autolog() needs a '{required}' argument defaulting to False"
                )
        defaults = {p.name: p.default for p in parameters.values()}

        @functools.wraps(fn)
        def autolog(*args: Any, **kwargs: Any) -> Any:
            with _lock:
                config = dict(defaults)
                config.update(zip(parameters, args, strict=False))
                config.update(kwargs)
                _configs[name] = config
                revert_patches(name)
                if config["disable"]:
                    return None
                silent = bool(config["silent"])
                with _silenced(silent), rerouted_warnings(silent):
                    return fn(*args, **kwargs)

        autolog.integration_name = name  # type: ignore[attr-defined]
        return autolog  # type: ignore[return-value]

    return decorate


@contextmanager
def disable_autologging() -> Iterator[None]:
    """Turn every integration off for the duration (for APIs that fit many models, e.g. CV)."""
    global _globally_disabled
    previous = _globally_disabled
    _globally_disabled = True
    try:
        yield
    finally:
        _globally_disabled = previous


@contextmanager
def rerouted_warnings(silent: bool) -> Iterator[None]:
    """Turn warnings raised by autologging's own work into log records (none when silent).

    Integrations wrap their work before and after the user's training call in this, never the
    call itself, so the user's own warnings show as usual.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    if not silent:
        for w in caught:
            _logger.warning("%s: %s", w.category.__name__, w.message)


class _SilentFilter(logging.Filter):
    """Drops autologging's log records while a silent integration's patched call runs."""

    depth = 0

    def filter(self, record: logging.LogRecord) -> bool:
        return _SilentFilter.depth == 0


_silent_filter = _SilentFilter()


def get_logger(name: str) -> logging.Logger:
    """A logger whose records ``silent=True`` suppresses."""
    logger = logging.getLogger(name)
    if _silent_filter not in logger.filters:
        logger.addFilter(_silent_filter)
    return logger


@contextmanager
def _silenced(silent: bool) -> Iterator[None]:
    if silent:
        _SilentFilter.depth += 1
    try:
        yield
    finally:
        if silent:
            _SilentFilter.depth -= 1


_logger = get_logger(__name__)


# -- training sessions: only the outermost fit logs --------------------------------------------
class TrainingSession:
    """A stack of the fits in progress; a nested fit logs only if every outer one allows it.

    Shared by all threads as MLflow's is: a fit's worker threads see the session and stay
    quiet.
    """

    _stack: ClassVar[list[TrainingSession]] = []

    def __init__(self, estimator: object, allow_children: bool = True) -> None:
        self.estimator = estimator
        self.allow_children = allow_children
        self._parent: TrainingSession | None = None

    def __enter__(self) -> TrainingSession:
        stack = TrainingSession._stack
        if stack:
            self._parent = stack[-1]
            self.allow_children = stack[-1].allow_children and self.allow_children
        stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        TrainingSession._stack.remove(self)

    def should_log(self) -> bool:
        for session in TrainingSession._stack:
            if session is self:
                break
            if session.estimator is self.estimator:
                return False
        return self._parent is None or self._parent.allow_children

    @staticmethod
    def is_active() -> bool:
        return bool(TrainingSession._stack)


@dataclass
class _Session:
    integration: str
    failed: bool = False


_sessions: list[_Session] = []


# -- patching ----------------------------------------------------------------------------------
@dataclass
class _Patch:
    owner: Any
    name: str
    previous: Any  # the owner's own attribute before patching, or _MISSING
    wrapper: Any = None

    def revert(self) -> None:
        own = vars(self.owner) if hasattr(self.owner, "__dict__") else {}
        current = own.get(self.name, _MISSING)
        if current is not self.wrapper and self.wrapper is not None:
            # Another integration patched over this one (both patch sklearn.metrics): take
            # this wrapper out of its chain, so reverting that one later restores the original.
            for patches in _patches.values():
                for later in patches:
                    same = later.owner is self.owner and later.name == self.name
                    if same and later.previous is self.wrapper:
                        later.previous = self.previous
            return
        if self.previous is _MISSING:
            if self.name in vars(self.owner):
                delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self.previous)


def revert_patches(integration: str) -> None:
    """Undo every patch ``integration`` applied, newest first."""
    for patch in reversed(_patches.pop(integration, [])):
        patch.revert()


def _raw_attribute(owner: Any, name: str) -> Any:
    """``owner``'s attribute without the descriptor protocol (through the MRO for classes)."""
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if name in vars(klass):
                return vars(klass)[name]
        return _MISSING
    try:
        return object.__getattribute__(owner, name)
    except AttributeError:
        return _MISSING


def safe_patch(
    integration: str,
    owner: Any,
    name: str,
    patch_function: Callable[..., Any],
    manage_run: bool = False,
    extra_tags: dict[str, Any] | None = None,
) -> bool:
    """Replace ``owner.name`` with a wrapper calling ``patch_function(original, *args, **kw)``.

    ``owner`` is a class, a module or an object. Methods made by ``available_if`` (sklearn's
    delegating descriptors) are patched on the descriptor, so availability checks still work.
    With ``manage_run``, a run is started when none is active and ended after the call
    (FINISHED, or FAILED if the call raised). Returns whether anything was patched.
    """
    raw = _raw_attribute(owner, name)
    if raw is _MISSING:
        return False
    if callable(raw) and not isinstance(raw, type) and not inspect.ismethoddescriptor(raw):
        target_owner, target_name = owner, name
    elif hasattr(raw, "check") and callable(getattr(raw, "fn", None)):
        target_owner, target_name, raw = raw, "fn", raw.fn
    else:
        return False
    original = getattr(raw, _ORIGINAL, raw)  # inherited from a class patched before
    if manage_run:
        patch_function = _with_managed_run(integration, patch_function, extra_tags)
    wrapper = _safe_wrapper(integration, original, patch_function)
    setattr(wrapper, _ORIGINAL, original)
    own = vars(target_owner) if hasattr(target_owner, "__dict__") else {}
    previous = own.get(target_name, _MISSING)
    setattr(target_owner, target_name, wrapper)
    patch = _Patch(target_owner, target_name, previous, wrapper)
    _patches.setdefault(integration, []).append(patch)
    return True


def _skip(integration: str) -> bool:
    from traza import fluent

    if _globally_disabled or is_disabled(integration):
        return True
    if _sessions and _sessions[-1].failed:
        return True
    user_run_active = fluent.active_run() is not None and not _sessions
    return user_run_active and bool(get_config(integration, "exclusive", False))


def _safe_wrapper(
    integration: str, original: Callable[..., Any], patch_function: Callable[..., Any]
) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _skip(integration):
            return original(*args, **kwargs)
        silent = bool(get_config(integration, "silent", False))
        state: dict[str, Any] = {"called": False, "failed": False, "result": None}

        def call_original(*o_args: Any, **o_kwargs: Any) -> Any:
            state["called"] = True
            try:
                state["result"] = original(*o_args, **o_kwargs)
            except BaseException:
                state["failed"] = True
                raise
            return state["result"]

        functools.update_wrapper(call_original, original)
        session = _Session(integration)
        _sessions.append(session)
        error: Exception | None = None
        try:
            with _silenced(silent):
                patch_function(call_original, *args, **kwargs)
        except Exception as e:
            if state["failed"]:
                raise
            session.failed, error = True, e
        finally:
            _sessions.remove(session)
        if error is not None and not silent:
            _logger.warning(_ERROR_MESSAGE.format(integration, error))
        if state["called"]:
            return state["result"]
        return original(*args, **kwargs)

    return wrapper


def _with_managed_run(
    integration: str, patch_function: Callable[..., Any], extra_tags: dict[str, Any] | None
) -> Callable[..., Any]:
    tags = resolve_tags(integration, extra_tags)

    def managed(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from traza import fluent

        started = None
        if fluent.active_run() is None and not TrainingSession.is_active():
            started = fluent.start_run(tags=tags)
            _logger.info(
                "Created Traza autologging run with ID '%s' for the current %s workflow",
                started.info.run_id,
                integration,
            )
        try:
            result = patch_function(original, *args, **kwargs)
        except BaseException:
            if started is not None:
                fluent.end_run("FAILED")
            raise
        if started is not None:
            fluent.end_run("FINISHED")
        return result

    return managed


def release_numbers(text: str) -> tuple[int, ...]:
    """The leading release numbers of a version string: '2.13.0+cpu' → (2, 13, 0)."""
    numbers = []
    for part in text.split("+")[0].split("."):
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        numbers.append(int(digits))
        if not part.isdigit():
            break
    return tuple(numbers)


def resolve_tags(integration: str, extra_tags: dict[str, Any] | None) -> dict[str, Any]:
    """The tags of a run autologging starts: ``mlflow.autologging`` plus the user's extras."""
    tags: dict[str, Any] = {AUTOLOGGING_TAG: integration}
    if extra_tags is None:
        return tags
    if not isinstance(extra_tags, dict):
        from traza.exceptions import invalid

        raise invalid(
            f"Invalid `extra_tags` type: expecting dictionary, received "
            f"`{type(extra_tags).__name__}`"
        )
    if AUTOLOGGING_TAG in extra_tags:
        _logger.warning("Tag `%s` is reserved by autologging and is ignored.", AUTOLOGGING_TAG)
    tags.update({k: v for k, v in extra_tags.items() if k != AUTOLOGGING_TAG})
    return tags


def resolve_input_example_and_signature(
    get_input_example: Callable[[], Any],
    infer_signature: Callable[[Any], Any],
    log_input_example: bool,
    log_model_signature: bool,
) -> tuple[Any, Any]:
    """The input example and signature to log with a model, warning about what failed.

    The example is gathered even when only the signature is wanted, since the signature is
    inferred from it. A signature of ``False`` tells ``log_model`` not to infer one itself.
    """
    example = None
    example_error: str | None = None
    if log_input_example or log_model_signature:
        try:
            example = get_input_example()
        except Exception as e:
            example_error = str(e)
    signature: Any = None
    signature_error: str | None = None
    if log_model_signature:
        try:
            if example is None:
                raise ValueError(f"could not sample data to infer model signature: {example_error}")
            signature = infer_signature(example)
        except Exception as e:
            signature_error = str(e)
    if signature is None and example is not None and (not log_model_signature or signature_error):
        signature = False
    if log_input_example and example_error is not None:
        _logger.warning("Failed to gather input example: %s", example_error)
    if log_model_signature and signature_error is not None:
        _logger.warning("Failed to infer model signature: %s", signature_error)
    return (example if log_input_example else None), signature


# -- traza.autolog() ---------------------------------------------------------------------------
#: Library (top-level module name) → the Traza module whose ``autolog`` covers it.
LIBRARY_TO_AUTOLOG_MODULE = {
    "sklearn": "traza.sklearn",
    "xgboost": "traza.xgboost",
    "lightgbm": "traza.lightgbm",
    "lightning": "traza.pytorch",
    "pytorch_lightning": "traza.pytorch",
}

_import_hooks: dict[str, Callable[[ModuleType], None]] = {}


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Runs a hook right after a watched module finishes importing."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _import_hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _HookedLoader(spec.loader, fullname)
                return spec
        return None


class _HookedLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        hook = _import_hooks.pop(self._name, None)
        if hook is not None:
            hook(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


_finder = _PostImportFinder()


def _on_import(module_name: str, hook: Callable[[ModuleType], None]) -> None:
    """Call ``hook(module)`` now if ``module_name`` is imported, else right after its import."""
    module = sys.modules.get(module_name)
    if module is not None:
        _import_hooks.pop(module_name, None)
        hook(module)
        return
    _import_hooks[module_name] = hook
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    log_traces: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: dict[str, str] | None = None,
    exclude_flavors: list[str] | None = None,
) -> None:
    """Enable (or disable) autologging for every supported library, as ``mlflow.autolog``.

    A library is set up when it is imported (at once if it already is), so nothing heavy is
    imported here and a library that is not installed is skipped. An integration the user
    configured with its own ``autolog()`` keeps that configuration.
    """
    arguments = dict(locals())
    excluded = {f"traza.{flavor}" for flavor in exclude_flavors or ()}

    def setup(module_name: str, autolog_module: str) -> Callable[[ModuleType], None]:
        def hook(module: ModuleType) -> None:
            with _lock:
                try:
                    fn = getattr(importlib.import_module(autolog_module), "autolog", None)
                    name = getattr(fn, "integration_name", None)
                    if fn is None or name is None:
                        _logger.debug("%s has no autolog integration yet.", autolog_module)
                        return
                    previous = _configs.get(name)
                    if previous and not previous.get(GLOBALLY_CONFIGURED, False):
                        return
                    wanted = inspect.signature(fn).parameters
                    fn(**{k: v for k, v in arguments.items() if k in wanted})
                    _configs[name][GLOBALLY_CONFIGURED] = True
                    if not is_disabled(name) and not silent:
                        _logger.info("Autologging successfully enabled for %s.", module_name)
                except Exception as e:
                    if not silent:
                        _logger.warning(
                            "Exception raised while enabling autologging for %s: %s",
                            module_name,
                            e,
                        )

        return hook

    for library, autolog_module in LIBRARY_TO_AUTOLOG_MODULE.items():
        if autolog_module in excluded:
            continue
        _on_import(library, setup(library, autolog_module))


__all__ = [
    "AUTOLOGGING_TAG",
    "INPUT_EXAMPLE_SAMPLE_ROWS",
    "TrainingSession",
    "autolog",
    "autologging_integration",
    "disable_autologging",
    "get_config",
    "is_disabled",
    "resolve_input_example_and_signature",
    "resolve_tags",
    "revert_patches",
    "safe_patch",
]
