"""The Lightning callbacks behind ``traza.pytorch.autolog``: metrics, params and checkpoints.

They are built for whichever Lightning package the trainer comes from (``lightning`` or
``pytorch_lightning``, two copies of the same classes), so this module imports neither. Every
hook is guarded: a failure to log warns and training goes on, as MLflow's callbacks do.
"""

from __future__ import annotations

import functools
import importlib
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traza.autologging import get_logger
from traza.entities import Metric, Param, RunTag

_logger = get_logger(__name__)

MAX_PARAM_VAL_LENGTH = 6000
#: Writing metrics may take at most this share of the training time between two flushes.
_LOGGING_SHARE = 0.002
#: ... and no more than this many metrics wait to be written.
_MAX_PENDING = 10_000
#: MLflow's names (mlflow.utils.checkpoint_utils) for checkpoint artifacts and their tag.
LATEST_CHECKPOINT_TAG = "mlflow.latest_checkpoint_artifact"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_SUFFIX = ".pth"


def guarded(hook: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``hook`` on the global-zero process only, turning its errors into warnings."""

    @functools.wraps(hook)
    def run(self: Any, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if not getattr(trainer, "is_global_zero", True):
            return
        try:
            hook(self, trainer, *args, **kwargs)
        except Exception as e:
            _logger.warning(
                "Encountered unexpected error during pytorch autologging (%s): %s",
                hook.__name__,
                e,
            )

    return run


class _PicklesByURI:
    """Pickles with the client's tracking URI instead of the client, so a trainer whose
    strategy starts worker processes (``ddp_spawn``) can still send its callbacks there."""

    client: Any

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["client"] = self.client.tracking_uri
        if state.get("writer") is not None:
            state["writer"] = True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from traza.client import TrazaClient

        state["client"] = TrazaClient(state["client"])
        if state.get("writer") is not None:
            state["writer"] = BackgroundWriter()
        self.__dict__.update(state)


class MetricsBuffer(_PicklesByURI):
    """Metrics gathered during training, written in batches.

    A flush happens once the training time since the last one is long enough that writing
    costs at most ``_LOGGING_SHARE`` of it, so logging every step stays cheap; with
    ``background``, batches are written on a thread so training does not wait for the store.
    ``close`` writes the rest and waits for it.
    """

    def __init__(
        self, client: Any, run_id: str, model_id: str | None, background: bool = False
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.model_id = model_id
        self.writer = BackgroundWriter() if background else None
        self._pending: list[Metric] = []
        self._since = time.perf_counter()
        self._flush_cost = 0.0

    def record(self, metrics: dict[str, float], step: int = 0) -> None:
        now_ms = int(time.time() * 1000)
        self._pending.extend(
            Metric(key, value, now_ms, step, self.model_id) for key, value in metrics.items()
        )
        elapsed = time.perf_counter() - self._since
        if elapsed * _LOGGING_SHARE >= self._flush_cost or len(self._pending) >= _MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._since = time.perf_counter()

        def write() -> None:
            start = time.perf_counter()
            self.client.log_batch(self.run_id, metrics=pending)
            self._flush_cost = time.perf_counter() - start

        if self.writer is None:
            write()
        else:
            self.writer.submit(write)

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.wait()


def log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    """Log params as MLflow's autologging does: ``str()`` of each value, long ones cut."""
    entities = []
    for key, value in params.items():
        text = str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            text = text[: MAX_PARAM_VAL_LENGTH - 3] + "..."
            _logger.warning("Truncated the value of the key `%s`. Truncated value: `%s`", key, text)
        entities.append(Param(str(key), text))
    client.log_batch(run_id, params=entities)


def set_tag(client: Any, run_id: str, key: str, value: str) -> None:
    client.log_batch(run_id, tags=[RunTag(key, value)])


def optimizer_name(optimizer: Any) -> str:
    """The class of ``optimizer``, seen through Lightning's ``LightningOptimizer`` wrapper."""
    inner = getattr(optimizer, "_optimizer", None)
    return type(inner if inner is not None else optimizer).__name__


class AutologHooks(_PicklesByURI):
    """Params at the start of training, metrics per epoch (and per step), tags; mixed into
    the trainer's package's ``Callback`` by :func:`callback_classes`."""

    def __init__(
        self,
        client: Any,
        metrics: MetricsBuffer,
        run_id: str,
        log_every_n_epoch: int,
        log_every_n_step: int | None,
        capture_example: bool,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.run_id = run_id
        self.log_every_n_epoch = log_every_n_epoch
        self.log_every_n_step = log_every_n_step
        self.capture_example = capture_example
        #: The first training batch's (input, output) tensors, for the model's signature.
        self.example: tuple[Any, Any] | None = None
        self._steps_per_training_step = 1
        self._step_metrics: set[str] = set()
        self._epoch_metrics: set[str] = set()
        self._forward_owner: Any = None

    # -- params and tags -----------------------------------------------------------------
    @guarded
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        set_tag(self.client, self.run_id, "Mode", "training")
        params: dict[str, Any] = {"epochs": trainer.max_epochs}
        optimizers = getattr(trainer, "optimizers", None)
        if optimizers:
            # Lightning counts one global step per optimizer step; all are assumed to step.
            self._steps_per_training_step = len(optimizers)
            first = optimizers[0]
            params["optimizer_name"] = optimizer_name(first)
            params.update(getattr(first, "defaults", None) or {})
        log_params(self.client, self.run_id, params)
        if self.capture_example:
            self._capture_first_forward(trainer.strategy.lightning_module)

    def _capture_first_forward(self, module: Any) -> None:
        """Wrap ``module.forward`` until it has run once, keeping its input and output."""
        import torch

        original = module.forward

        def forward(*inputs: Any, **kwargs: Any) -> Any:
            result = original(*inputs, **kwargs)
            self.restore_forward()
            try:
                if (
                    len(inputs) == 1
                    and not kwargs
                    and isinstance(inputs[0], torch.Tensor)
                    and isinstance(result, torch.Tensor)
                ):
                    self.example = (inputs[0].detach().cpu(), result.detach().cpu())
            except Exception:  # an example is optional; the model is logged without one
                _logger.debug("Could not keep the first batch as an example", exc_info=True)
            return result

        module.forward = forward
        self._forward_owner = module

    def restore_forward(self) -> None:
        owner, self._forward_owner = self._forward_owner, None
        if owner is not None and "forward" in vars(owner):
            del owner.forward

    # -- metrics -------------------------------------------------------------------------
    @guarded
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        # Metrics already logged per step stay per step: epochs and steps are not mixed.
        items = {
            name: value
            for name, value in trainer.callback_metrics.items()
            if name not in self._step_metrics
        }
        self._epoch_metrics.update(items)
        epoch = pl_module.current_epoch
        if (epoch + 1) % self.log_every_n_epoch == 0 and not trainer.sanity_checking:
            self.metrics.record({k: float(v) for k, v in items.items()}, epoch)

    @guarded
    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        if not self.log_every_n_step:
            return
        metrics = trainer.callback_metrics
        # A metric Lightning forks into ``x_step`` and ``x_epoch`` is logged per step as
        # ``x_step`` only; plain ``x`` is left to the epoch.
        names = [
            name
            for name in metrics
            if name not in self._epoch_metrics and f"{name}_step" not in metrics
        ]
        self._step_metrics.update(names)
        step = trainer.global_step
        if ((step // self._steps_per_training_step) + 1) % self.log_every_n_step != 0:
            return
        if trainer.sanity_checking:
            return
        self.metrics.record({name: float(metrics[name]) for name in names}, step)

    @guarded
    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.restore_forward()
        self.metrics.close()

    @guarded
    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        set_tag(self.client, self.run_id, "Mode", "testing")
        self.metrics.record({k: float(v) for k, v in trainer.callback_metrics.items()})
        self.metrics.close()


def check_checkpoint_options(
    monitor: str | None, mode: str, save_best_only: bool, save_freq: str | int
) -> None:
    """Refuse checkpoint options MLflow refuses, and a ``save_freq`` it could not use."""
    from traza.exceptions import invalid

    if save_best_only and monitor is None:
        raise invalid(
            "If checkpoint 'save_best_only' config is set to True, you need to set "
            "'monitor' config as well."
        )
    if save_best_only and mode not in ("min", "max"):
        raise invalid(
            "If checkpoint 'save_best_only' config is set to True, you need to set 'mode' "
            f"config and available modes includes 'min' and 'max', but you set 'mode' to "
            f"'{mode}'."
        )
    if save_freq != "epoch" and (
        isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
    ):
        raise invalid(
            f"checkpoint_save_freq must be 'epoch' or a positive integer, got {save_freq!r}."
        )


def snapshot(value: Any) -> Any:
    """``value`` with every tensor copied to the CPU, so training can go on changing the
    originals while the copy is written."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return type(value)((k, snapshot(v)) for k, v in value.items())
    if type(value) in (list, tuple):
        return type(value)(snapshot(v) for v in value)
    return value


class BackgroundWriter:
    """Runs writes (checkpoints, metric batches) one at a time on a thread, so training does
    not wait for disk or network. At most one write waits behind the running one (a bound on
    the memory it holds); a failed write warns."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="traza-lightning-autolog", daemon=True
            )
            self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                job()
            except Exception as e:
                _logger.warning("Failed to log to the run in pytorch autologging: %s", e)
            finally:
                self._jobs.task_done()

    def wait(self) -> None:
        """Return once every submitted write is done, and stop the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        self._thread = None


class CheckpointHooks(_PicklesByURI):
    """MLflow's automatic checkpointing: the model's checkpoint and its metrics, logged under
    ``checkpoints/`` every epoch (or every ``save_freq`` steps), or only when the monitored
    metric improves (``save_best_only``, then overwriting ``latest_checkpoint.pth``)."""

    def __init__(
        self,
        client: Any,
        run_id: str,
        monitor: str | None = "val_loss",
        mode: str = "min",
        save_best_only: bool = True,
        save_weights_only: bool = False,
        save_freq: str | int = "epoch",
    ) -> None:
        check_checkpoint_options(monitor, mode, save_best_only, save_freq)
        self.client = client
        self.run_id = run_id
        self.monitor = monitor
        self.mode = mode
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._best: float | None = None
        self.writer = BackgroundWriter()

    @guarded
    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        step = trainer.global_step
        if isinstance(self.save_freq, int) and step > 0 and step % self.save_freq == 0:
            self._save_if_needed(trainer)

    @guarded
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.save_freq == "epoch":
            self._save_if_needed(trainer)

    def _improves(self, value: float) -> bool:
        if self._best is None:
            return True
        return value < self._best if self.mode == "min" else value > self._best

    def _save_if_needed(self, trainer: Any) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if self.save_best_only:
            if self.monitor not in metrics:
                _logger.warning(
                    "Checkpoint logging is skipped, because checkpoint 'save_best_only' config "
                    "is True, it requires to compare the monitored metric value, but the "
                    "provided monitored metric value is not available."
                )
                return
            if not self._improves(metrics[self.monitor]):
                return
            self._best = metrics[self.monitor]
        folder, model_file, metrics_file = self._names(trainer)
        summary = {**metrics, "epoch": trainer.current_epoch, "global_step": trainer.global_step}
        # Not trainer.save_checkpoint: its barrier would wait forever for the other ranks.
        state = snapshot(trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only))
        strategy = trainer.strategy

        def write() -> None:
            set_tag(self.client, self.run_id, LATEST_CHECKPOINT_TAG, f"{folder}/{model_file}")
            self.client.log_dict(self.run_id, summary, f"{folder}/{metrics_file}")
            with tempfile.TemporaryDirectory(prefix="traza-ckpt-") as tmp:
                path = Path(tmp) / model_file
                strategy.save_checkpoint(state, str(path))
                self.client.log_artifact(self.run_id, path, folder)

        self.writer.submit(write)

    @guarded
    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.writer.wait()

    def _names(self, trainer: Any) -> tuple[str, str, str]:
        """The artifact folder, checkpoint file and metrics file names MLflow uses."""
        weights = ".weights" if self.save_weights_only else ""
        if self.save_best_only:
            return (
                CHECKPOINT_DIR,
                f"latest_checkpoint{weights}{CHECKPOINT_SUFFIX}",
                "latest_checkpoint_metrics.json",
            )
        if self.save_freq == "epoch":
            folder = f"{CHECKPOINT_DIR}/epoch_{trainer.current_epoch}"
        else:
            folder = f"{CHECKPOINT_DIR}/global_step_{trainer.global_step}"
        return folder, f"checkpoint{weights}{CHECKPOINT_SUFFIX}", "checkpoint_metrics.json"


@functools.lru_cache(maxsize=4)
def callback_classes(package: str) -> tuple[type, type]:
    """The autolog and checkpoint callbacks as subclasses of ``package``'s ``Callback``."""
    callbacks = (
        "pytorch_lightning.callbacks"
        if package == "pytorch_lightning"
        else ("lightning.pytorch.callbacks")
    )
    base = importlib.import_module(callbacks).Callback
    made = []
    for index, (name, hooks) in enumerate(
        (("TrazaAutologCallback", AutologHooks), ("TrazaModelCheckpointCallback", CheckpointHooks))
    ):

        def reduce(self: Any, index: int = index) -> tuple[Any, ...]:
            return (_rebuild, (package, index, self.__getstate__()))

        made.append(type(name, (hooks, base), {"__module__": __name__, "__reduce__": reduce}))
    return made[0], made[1]


def _rebuild(package: str, index: int, state: dict[str, Any]) -> Any:
    """Unpickle a callback of :func:`callback_classes` (a class made at run time)."""
    klass = callback_classes(package)[index]
    callback: Any = object.__new__(klass)
    callback.__setstate__(state)
    return callback


__all__ = [
    "AutologHooks",
    "CheckpointHooks",
    "MetricsBuffer",
    "callback_classes",
    "check_checkpoint_options",
    "guarded",
    "log_params",
    "optimizer_name",
    "set_tag",
]
