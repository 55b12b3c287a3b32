"""``traza.pytorch.autolog()``: log a PyTorch Lightning ``Trainer.fit`` as MLflow 3.17 does.

``Trainer.fit`` of ``lightning`` and of ``pytorch_lightning`` (whichever are installed) is
patched. A fit logs the epochs and the first optimizer's name and settings as params, the
metrics Lightning logs (per epoch, and per step with ``log_every_n_step``), EarlyStopping's
settings and outcome, checkpoints under ``checkpoints/``, ``model_summary.txt`` and the trained
model, under MLflow's names. Nothing heavy is imported until ``autolog()`` is called.
"""

from __future__ import annotations

import functools
import importlib
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traza import autologging
from traza.autologging import (
    autologging_integration,
    get_logger,
    release_numbers,
    rerouted_warnings,
    safe_patch,
)

_logger = get_logger(__name__)

FLAVOR_NAME = "pytorch"
#: Versions MLflow 3.17.2 tests autologging with (its ml_package_versions).
LIGHTNING_VERSIONS = ("2.4.0", "2.6.6")
TORCH_VERSIONS = ("2.5.0", "2.14.0")
#: Lightning's two distributions: the unified ``lightning`` and the older ``pytorch_lightning``.
PACKAGES = ("pytorch_lightning", "lightning")


@dataclass(frozen=True)
class _Options:
    log_every_n_epoch: int
    log_every_n_step: int | None
    log_models: bool
    registered_model_name: str | None
    checkpoint: bool
    checkpoint_monitor: str | None
    checkpoint_mode: str
    checkpoint_save_best_only: bool
    checkpoint_save_weights_only: bool
    checkpoint_save_freq: str | int
    log_model_signatures: bool


@autologging_integration(FLAVOR_NAME)
def autolog(
    log_every_n_epoch: int = 1,
    log_every_n_step: int | None = None,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, Any] | None = None,
    checkpoint: bool = True,
    checkpoint_monitor: str | None = "val_loss",
    checkpoint_mode: str = "min",
    checkpoint_save_best_only: bool = True,
    checkpoint_save_weights_only: bool = False,
    checkpoint_save_freq: str | int = "epoch",
    log_model_signatures: bool = True,
) -> None:
    """Enable (or with ``disable=True`` disable) autologging for PyTorch Lightning.

    Arguments are MLflow's: metrics are logged every ``log_every_n_epoch`` epochs and, when
    given, every ``log_every_n_step`` training steps; ``checkpoint*`` configure the checkpoints
    logged during training; ``exclusive`` keeps autologging out of runs the user started;
    ``extra_tags`` are set on every run it starts. ``log_datasets`` is accepted for MLflow's
    signature; MLflow's Lightning autologging logs no datasets either.
    """
    from traza.exceptions import invalid

    for name, value in (
        ("log_every_n_epoch", log_every_n_epoch),
        ("log_every_n_step", log_every_n_step),
    ):
        if value is None and name == "log_every_n_step":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(f"`{name}` must be a positive integer, got {value!r}.")
    autologging.resolve_tags(FLAVOR_NAME, extra_tags)  # a bad extra_tags fails here, not in fit
    if checkpoint:
        from traza.pytorch._lightning_callbacks import check_checkpoint_options

        check_checkpoint_options(
            checkpoint_monitor, checkpoint_mode, checkpoint_save_best_only, checkpoint_save_freq
        )
    options = _Options(
        log_every_n_epoch,
        log_every_n_step,
        log_models,
        registered_model_name,
        checkpoint,
        checkpoint_monitor,
        checkpoint_mode,
        checkpoint_save_best_only,
        checkpoint_save_weights_only,
        checkpoint_save_freq,
        log_model_signatures,
    )
    patched = functools.partial(_patched_fit, options)
    for package in PACKAGES:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        if disable_for_unsupported_versions and not _supported(module):
            _logger.warning(
                "Autologging is disabled for %s %s (with torch %s): MLflow supports "
                "Lightning %s to %s and torch %s to %s.",
                package,
                module.__version__,
                _torch_version(),
                *LIGHTNING_VERSIONS,
                *TORCH_VERSIONS,
            )
            continue
        safe_patch(
            FLAVOR_NAME, module.Trainer, "fit", patched, manage_run=True, extra_tags=extra_tags
        )


def _in_range(version: str, bounds: tuple[str, str]) -> bool:
    return release_numbers(bounds[0]) <= release_numbers(version) <= release_numbers(bounds[1])


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def _supported(module: Any) -> bool:
    return _in_range(module.__version__, LIGHTNING_VERSIONS) and _in_range(
        _torch_version(), TORCH_VERSIONS
    )


def _package_of(trainer: Any) -> str:
    """``lightning`` or ``pytorch_lightning``: where the trainer's class comes from."""
    for klass in type(trainer).__mro__:
        package = klass.__module__.split(".", 1)[0]
        if package in PACKAGES:
            return package
    return "lightning"


def _early_stopping_classes() -> tuple[type, ...]:
    """EarlyStopping of each Lightning package loaded (a trainer may mix them)."""
    classes = []
    for name in ("pytorch_lightning.callbacks", "lightning.pytorch.callbacks"):
        module = sys.modules.get(name)
        if module is not None:
            classes.append(module.EarlyStopping)
    return tuple(classes)


# -- the patched fit ---------------------------------------------------------------------------
def _patched_fit(
    options: _Options, original: Callable[..., Any], trainer: Any, *args: Any, **kwargs: Any
) -> Any:
    from traza import fluent

    silent = bool(autologging.get_config(FLAVOR_NAME, "silent", False))
    run = fluent.active_run()
    assert run is not None, "autologging runs inside an active run"
    run_id = run.info.run_id
    client = fluent._client()
    with rerouted_warnings(silent):
        module = sys.modules[_package_of(trainer)]
        if not _in_range(module.__version__, LIGHTNING_VERSIONS):
            _logger.warning(
                "Autologging is known to be compatible with pytorch-lightning versions between "
                "%s and %s and may not succeed with packages outside this range.",
                *LIGHTNING_VERSIONS,
            )
        model_id = _start_logged_model(client, run) if options.log_models else None
        early_stopping = _early_stopping(trainer)
        if early_stopping is not None:
            _log_early_stopping_params(client, run_id, early_stopping)
        hooks = _install_callbacks(options, client, run_id, model_id, trainer)
    try:
        result = original(trainer, *args, **kwargs)
    except BaseException:
        _finish_callbacks(trainer)
        if model_id is not None:
            client.finalize_logged_model(model_id, "FAILED")
        raise
    with rerouted_warnings(silent):
        _finish_callbacks(trainer)
        _log_after_fit(options, client, run_id, model_id, trainer, hooks, early_stopping)
    return result


def _start_logged_model(client: Any, run: Any) -> str:
    """A pending logged model, so the metrics of training can name it (as MLflow's do)."""
    from traza.models import log_model

    logged = client.create_logged_model(
        run.info.experiment_id, name="model", source_run_id=run.info.run_id
    )
    log_model.last_model_id = logged.model_id
    return str(logged.model_id)


def _early_stopping(trainer: Any) -> Any:
    classes = _early_stopping_classes()
    found = [cb for cb in trainer.callbacks if isinstance(cb, classes)]
    return found[-1] if found else None


def _log_early_stopping_params(client: Any, run_id: str, callback: Any) -> None:
    from traza.pytorch._lightning_callbacks import log_params

    names = ("monitor", "mode", "patience", "min_delta", "stopped_epoch")
    log_params(client, run_id, {n: getattr(callback, n) for n in names if hasattr(callback, n)})


def _install_callbacks(
    options: _Options, client: Any, run_id: str, model_id: str | None, trainer: Any
) -> Any:
    """Fresh autolog (and checkpoint) callbacks for this fit, replacing an earlier fit's.

    They stay on the trainer after ``fit`` so a following ``trainer.test`` logs its metrics.
    """
    from traza.pytorch._lightning_callbacks import (
        AutologHooks,
        CheckpointHooks,
        MetricsBuffer,
        callback_classes,
    )

    autolog_class, checkpoint_class = callback_classes(_package_of(trainer))
    hooks = autolog_class(
        client,
        MetricsBuffer(client, run_id, model_id, background=True),
        run_id,
        options.log_every_n_epoch,
        options.log_every_n_step,
        options.log_models and options.log_model_signatures,
    )
    kept = [cb for cb in trainer.callbacks if not isinstance(cb, AutologHooks | CheckpointHooks)]
    added = [hooks]
    if options.checkpoint:
        added.append(
            checkpoint_class(
                client,
                run_id,
                monitor=options.checkpoint_monitor,
                mode=options.checkpoint_mode,
                save_best_only=options.checkpoint_save_best_only,
                save_weights_only=options.checkpoint_save_weights_only,
                save_freq=options.checkpoint_save_freq,
            )
        )
    trainer.callbacks[:] = kept + added
    return hooks


def _finish_callbacks(trainer: Any) -> None:
    """Undo the example capture, write the metrics left and wait for the background writes,
    however ``fit`` ended."""
    from traza.pytorch._lightning_callbacks import AutologHooks, CheckpointHooks

    for callback in trainer.callbacks:
        try:
            if isinstance(callback, AutologHooks):
                callback.restore_forward()
                callback.metrics.close()
            elif isinstance(callback, CheckpointHooks):
                callback.writer.wait()
        except Exception as e:  # the user's own error, if any, is what fit raises
            _logger.warning("Failed to finish pytorch autologging: %s", e)


def _log_after_fit(
    options: _Options,
    client: Any,
    run_id: str,
    model_id: str | None,
    trainer: Any,
    hooks: Any,
    early_stopping: Any,
) -> None:
    """Early stopping's outcome, the model summary and the model, each failure only warning."""
    steps: list[tuple[str, Callable[[], None]]] = []
    if early_stopping is not None:
        steps.append(
            (
                "early stopping metrics",
                lambda: _log_early_stopping(client, run_id, model_id, early_stopping),
            )
        )
    steps.append(("model summary", lambda: _log_summary(client, run_id, trainer)))
    if options.log_models and model_id is not None:
        steps.append(("model", lambda: _log_model(options, model_id, trainer, hooks)))
        if early_stopping is not None:
            steps.append(("restored checkpoint", lambda: _log_restored(client, run_id, trainer)))
    for what, step in steps:
        try:
            step()
        except Exception as e:
            _logger.warning("Failed to log the %s of pytorch autologging: %s", what, e)


def _log_early_stopping(client: Any, run_id: str, model_id: str | None, callback: Any) -> None:
    from traza.pytorch._lightning_callbacks import MetricsBuffer

    stopped = callback.stopped_epoch
    if stopped == 0:
        return
    values: dict[str, float] = {
        "stopped_epoch": stopped,
        "restored_epoch": stopped - max(1, callback.patience),
    }
    if hasattr(callback, "best_score"):
        values["best_score"] = float(callback.best_score)
    if hasattr(callback, "wait_count"):
        values["wait_count"] = callback.wait_count
    buffer = MetricsBuffer(client, run_id, model_id)
    buffer.record({k: float(v) for k, v in values.items()})
    buffer.flush()


def _log_summary(client: Any, run_id: str, trainer: Any) -> None:
    package = _package_of(trainer)
    prefix = "lightning.pytorch" if package == "lightning" else package
    summary = importlib.import_module(f"{prefix}.utilities.model_summary").ModelSummary
    client.log_text(run_id, str(summary(trainer.model, max_depth=-1)), "model_summary.txt")


def _log_model(options: _Options, model_id: str, trainer: Any, hooks: Any) -> None:
    from traza.pytorch.flavor import log_model

    signature = None
    if hooks.example is not None:
        try:
            from traza.models import infer_signature

            inputs, outputs = hooks.example
            signature = infer_signature(inputs.numpy(), outputs.numpy())
        except Exception as e:
            _logger.warning(
                "Inferring model signature failed, skip logging signature. You need to "
                "manually log the model with a provided signature after training. root cause: %r.",
                e,
            )
    log_model(
        trainer.model,
        name="model",
        registered_model_name=options.registered_model_name,
        model_id=model_id,
        signature=signature,
        serialization_format="pickle",
    )


def _log_restored(client: Any, run_id: str, trainer: Any) -> None:
    """The checkpoint Lightning's ModelCheckpoint kept as best, when early stopping ran."""
    checkpoint = getattr(trainer, "checkpoint_callback", None)
    best = getattr(checkpoint, "best_model_path", "") if checkpoint is not None else ""
    if best:
        client.log_artifact(run_id, Path(best), "restored_model_checkpoint")


def load_checkpoint(
    model_class: Any,
    run_id: str | None = None,
    epoch: int | None = None,
    global_step: int | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """Load a checkpoint autologging logged (the latest, or that of ``epoch``/``global_step``)
    with ``model_class.load_from_checkpoint``, as ``mlflow.pytorch.load_checkpoint``."""
    from traza import fluent
    from traza.exceptions import invalid
    from traza.pytorch._lightning_callbacks import CHECKPOINT_DIR, LATEST_CHECKPOINT_TAG

    client = fluent._client()
    if run_id is None:
        active = fluent.active_run()
        if active is None:
            raise invalid(
                "There is no active run, please provide the 'run_id' argument for "
                "'load_checkpoint' invocation."
            )
        run_id = active.info.run_id
    latest = client.get_run(run_id).data.tags.get(LATEST_CHECKPOINT_TAG)
    if latest is None:
        raise invalid("There is no logged checkpoint artifact in the current run.")
    filename = latest.rsplit("/", 1)[-1]
    if epoch is not None and global_step is not None:
        raise invalid("Only one of 'epoch' and 'global_step' can be set for 'load_checkpoint'.")
    if global_step is not None:
        path = f"{CHECKPOINT_DIR}/global_step_{global_step}/{filename}"
    elif epoch is not None:
        path = f"{CHECKPOINT_DIR}/epoch_{epoch}/{filename}"
    else:
        path = latest
    with tempfile.TemporaryDirectory(prefix="traza-ckpt-") as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return model_class.load_from_checkpoint(local, **(kwargs or {}))


__all__ = ["FLAVOR_NAME", "autolog", "load_checkpoint"]
