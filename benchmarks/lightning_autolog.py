"""What autologging adds to a PyTorch Lightning epoch: Traza against MLflow, side by side.

An MLP of 98,945 parameters (64 → 256 → 256 → 64 → 1, as ``models_pytorch.py``) trains on
10,000 rows (batch 64, 157 steps) and validates on 2,000 per epoch, on one CPU thread, in a
fresh process per library and setting (Traza on ``./mlruns``, MLflow on ``sqlite:///mlflow.db``,
each in its own empty folder). Two figures per row:

- epoch: the median wall time from one epoch's start to the next (training, validation and
  every callback), against the same training without autolog, in processes run alternately;
- hooks: the time spent inside the autolog callbacks per epoch (metrics, params, checkpoints),
  measured directly, so it does not drown in the noise of a loaded machine; also as the
  training thread's CPU time in the hooks against its CPU time per epoch without autolog, the
  figure least disturbed by other processes.

The one-off work at the end of ``fit`` (early stopping, model summary; ``log_model`` is off
here, ``models_pytorch.py`` times it) is reported apart.

    python benchmarks/lightning_autolog.py            # 3 rounds of 8 epochs
    python benchmarks/lightning_autolog.py --quick    # 1 round
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

from harness import run_worker

HERE = Path(__file__).resolve()
EPOCHS = 8
#: Setting name → the autolog arguments (None: no autolog, the baseline).
#: The model logged at the end of fit is left out: models_pytorch.py times log_model itself.
SETTINGS: dict[str, dict[str, Any] | None] = {
    "no autolog": None,
    "defaults": {"log_models": False},
    "checkpoint=False": {"log_models": False, "checkpoint": False},
    "log_every_n_step=1": {"log_models": False, "log_every_n_step": 1},
}
HOOKS = ("on_train_start", "on_train_batch_end", "on_train_epoch_end", "on_train_end")


def _timed_hooks(classes: list[type], spent: list[float]) -> None:
    """Wrap the autolog callbacks' hooks so the time inside them adds up in ``spent``: wall
    time in ``spent[0]``, the training thread's CPU time in ``spent[1]``."""
    import functools

    for klass in classes:
        for name in HOOKS:
            hook = klass.__dict__.get(name)
            if hook is None:
                continue

            def timed(*args: Any, __hook: Any = hook, **kwargs: Any) -> Any:
                start, cpu = time.perf_counter(), time.thread_time()
                try:
                    return __hook(*args, **kwargs)
                finally:
                    spent[0] += time.perf_counter() - start
                    spent[1] += time.thread_time() - cpu

            setattr(klass, name, functools.wraps(hook)(timed))


def worker(library: str, setting: str) -> dict[str, Any]:
    """Runs in the child: train EPOCHS epochs, return epoch times and time in autolog hooks."""
    import importlib
    import logging

    import lightning as L
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    logging.disable(logging.WARNING)
    torch.set_num_threads(1)
    options = SETTINGS[setting]
    spent = [0.0, 0.0]
    if options is not None:
        lib = importlib.import_module(library)
        importlib.import_module(f"{library}.pytorch")
        if library == "mlflow":
            lib.set_tracking_uri("sqlite:///mlflow.db")
            module = importlib.import_module("mlflow.pytorch._lightning_autolog")
            classes = [getattr(module, "__MlflowPLCallback"), module.MlflowModelCheckpointCallback]
        else:
            module = importlib.import_module("traza.pytorch._lightning_callbacks")
            classes = [module.AutologHooks, module.CheckpointHooks]
        _timed_hooks(classes, spent)
        lib.pytorch.autolog(silent=True, **options)

    class MLP(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 1),
            )  # fmt: skip

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers(x)  # type: ignore[no-any-return]

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, index: int) -> None:
            x, y = batch
            self.log("val_loss", nn.functional.mse_loss(self(x), y))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    class EpochClock(L.Callback):
        def __init__(self) -> None:
            self.starts: list[float] = []
            self.cpu_starts: list[float] = []
            self.hooks_at_start: list[tuple[float, float]] = []

        def tick(self) -> None:
            self.starts.append(time.perf_counter())
            self.cpu_starts.append(time.thread_time())
            self.hooks_at_start.append((spent[0], spent[1]))

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.tick()

        def on_train_end(self, trainer: Any, module: Any) -> None:
            self.tick()

    torch.manual_seed(0)
    x = torch.randn(12_000, 64)
    y = x[:, :8].sum(dim=1, keepdim=True) + 0.1 * torch.randn(12_000, 1)
    train = DataLoader(TensorDataset(x[:10_000], y[:10_000]), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x[10_000:], y[10_000:]), batch_size=256)
    clock = EpochClock()
    trainer = L.Trainer(
        max_epochs=EPOCHS,
        callbacks=[clock],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir="lightning",
    )
    start = time.perf_counter()
    trainer.fit(MLP(), train, val)
    total = time.perf_counter() - start

    def deltas(values: list[float]) -> list[float]:
        return [b - a for a, b in itertools.pairwise(values)][1:]  # not the 1st epoch

    marks = clock.hooks_at_start
    return {
        "epochs": deltas(clock.starts),
        "hooks": deltas([wall for wall, _ in marks]),
        "cpu_epochs": deltas(clock.cpu_starts),
        "cpu_hooks": deltas([cpu for _, cpu in marks]),
        "after_fit": total - (clock.starts[-1] - start),
    }


def measure(library: str, setting: str) -> dict[str, Any]:
    args = ["--worker", library, setting]
    prefix, label = f"bench-lightning-{library}-", f"{library} {setting}"
    return run_worker(HERE, args, prefix, label, MLFLOW_DISABLE_TELEMETRY="true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    rounds = 1 if args.quick else 3
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(rounds):  # alternate, so a busy spell hits every setting alike
        for setting, options in SETTINGS.items():
            for library in ("traza",) if options is None else ("traza", "mlflow"):
                runs.setdefault((library, setting), []).append(measure(library, setting))

    def median(key: tuple[str, str], field: str) -> float:
        return statistics.median(v for r in runs[key] for v in r[field])

    base = median(("traza", "no autolog"), "epochs")
    cpu_base = median(("traza", "no autolog"), "cpu_epochs")
    print(
        f"Lightning epoch, MLP of 98,945 parameters on 10,000 rows (157 steps) + 2,000 validation"
        f" rows, 1 thread; {rounds} process(es) x {EPOCHS} epochs per row; no autolog: "
        f"{base * 1000:.0f} ms/epoch wall, {cpu_base * 1000:.0f} ms CPU"
    )
    print(
        f"{'setting':<20}{'library':<8}{'epoch ms':>9}{'vs none':>9}{'hooks ms':>10}"
        f"{'hooks %':>9}{'hooks CPU %':>13}{'end of fit ms':>15}"
    )
    results: dict[str, Any] = {"no autolog epoch": base, "no autolog epoch cpu": cpu_base}
    for library, setting in runs:
        if setting == "no autolog":
            continue
        key = (library, setting)
        epoch, hooks = median(key, "epochs"), median(key, "hooks")
        cpu_share = median(key, "cpu_hooks") / cpu_base
        after = statistics.median(r["after_fit"] for r in runs[key])
        results[f"{setting} {library}"] = {
            "epoch": epoch,
            "vs_none": epoch / base - 1,
            "hooks": hooks,
            "hooks_share": hooks / base,
            "hooks_cpu_share": cpu_share,
            "after_fit": after,
        }
        print(
            f"{setting:<20}{library:<8}{epoch * 1000:>9.0f}{(epoch / base - 1) * 100:>8.1f}%"
            f"{hooks * 1000:>10.2f}{hooks / base * 100:>8.2f}%{cpu_share * 100:>12.2f}%"
            f"{after * 1000:>15.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
