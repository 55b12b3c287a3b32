"""``traza.pytorch.autolog`` with real PyTorch Lightning (CPU, a small MLP on a few hundred rows)
on a real store, and side by side with the real ``mlflow.pytorch.autolog`` for the same fits."""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import traza
import traza as mlflow
from conftest import served_store
from traza import autologging
from traza.entities import Run

pytestmark = [
    # Lightning's own advice about workers, logging intervals and torch's pytree deprecation.
    pytest.mark.filterwarnings("ignore::UserWarning:lightning.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:pytorch_lightning.*"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:.*log_every_n_steps.*"),
    pytest.mark.filterwarnings("ignore:.*was called without a model.*"),
]

ROWS, FEATURES, BATCH = 240, 8, 32
ADAM_DEFAULT_KEYS = {
    "lr",
    "betas",
    "eps",
    "weight_decay",
    "amsgrad",
    "maximize",
    "foreach",
    "capturable",
    "differentiable",
    "fused",
    "decoupled_weight_decay",
}


@pytest.fixture(autouse=True)
def reset_autologging() -> Iterator[None]:
    """Each test starts and ends with nothing patched and no autologging configuration."""
    yield
    for name in list(autologging._configs):
        autologging.revert_patches(name)
    autologging._configs.clear()
    autologging._import_hooks.clear()


@functools.lru_cache(maxsize=2)
def net_class(package: str) -> type:
    """A two-layer MLP as a LightningModule of ``package`` (``lightning`` or
    ``pytorch_lightning``): train/val/test losses, the train loss logged per step and epoch."""
    pl = importlib.import_module("lightning" if package == "lightning" else "pytorch_lightning")

    class Net(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self, fail_at_step: int | None = None) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, 1))
            self.fail_at_step = fail_at_step

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)  # type: ignore[no-any-return]

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            if self.fail_at_step is not None and self.global_step == self.fail_at_step:
                raise ValueError("the user's training_step failed")
            x, y = batch
            loss = nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            self.log("train_constant", 0.5)
            return loss

        def validation_step(self, batch: Any, index: int) -> None:
            x, y = batch
            self.log("val_loss", nn.functional.mse_loss(self(x), y))

        def test_step(self, batch: Any, index: int) -> None:
            x, y = batch
            self.log("test_loss", nn.functional.mse_loss(self(x), y))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=0.01)

    Net.__qualname__ = Net.__name__ = f"Net_{package}"
    globals()[Net.__name__] = Net  # picklable by reference for log_model
    return Net


def data() -> tuple[DataLoader[Any], DataLoader[Any]]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS + 64, FEATURES, generator=generator)
    y = 2 * x[:, :1] + 0.1 * torch.randn(ROWS + 64, 1, generator=generator)
    train = DataLoader(TensorDataset(x[:ROWS], y[:ROWS]), batch_size=BATCH)
    val = DataLoader(TensorDataset(x[ROWS:], y[ROWS:]), batch_size=BATCH)
    return train, val


def trainer(root: Path, package: str = "lightning", **kwargs: Any) -> Any:
    pl = importlib.import_module("lightning" if package == "lightning" else "pytorch_lightning")
    options: dict[str, Any] = {
        "max_epochs": 3,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": str(root),
        "num_sanity_val_steps": 0,
    }
    options.update(kwargs)
    return pl.Trainer(**options)


def fit(root: Path, package: str = "lightning", validate: bool = True, **kwargs: Any) -> Any:
    torch.manual_seed(0)
    model = net_class(package)()
    train, val = data()
    t = trainer(root, package, **kwargs)
    t.fit(model, train, val if validate else None)
    return t


def early_stopping(package: str = "lightning", **kwargs: Any) -> Any:
    module = (
        "lightning.pytorch.callbacks" if package == "lightning" else "pytorch_lightning.callbacks"
    )
    options = {"monitor": "val_loss", "patience": 1, "min_delta": 0.5}
    options.update(kwargs)
    return importlib.import_module(module).EarlyStopping(**options)


def runs() -> list[Run]:
    return list(mlflow.search_runs(experiment_ids=["0"], output_format="list"))


def only_run() -> Run:
    found = runs()
    assert len(found) == 1, len(found)
    return found[0]


def history(run_id: str, key: str, client: Any = None) -> list[tuple[int, float]]:
    client = client or mlflow.MlflowClient()
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def artifact_tree(run_id: str, client: Any = None, path: str | None = None) -> set[str]:
    client = client or mlflow.MlflowClient()
    found: set[str] = set()
    for f in client.list_artifacts(run_id, path):
        found.add(f.path)
        if f.is_dir:
            found |= artifact_tree(run_id, client, f.path)
    return found


STEPS_PER_EPOCH = ROWS // BATCH + (ROWS % BATCH > 0)  # 8


# -- what a fit logs -----------------------------------------------------------------------------
def test_epoch_metrics_params_tags_summary_and_model(tmp_path: Path) -> None:
    mlflow.pytorch.autolog()
    t = fit(tmp_path)

    assert mlflow.active_run() is None  # the run autologging started is ended
    run = only_run()
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert set(params) == {"epochs", "optimizer_name"} | ADAM_DEFAULT_KEYS
    assert params["epochs"] == "3"
    assert params["optimizer_name"] == "Adam"
    assert params["lr"] == "0.01"
    assert params["betas"] == "(0.9, 0.999)"
    assert params["weight_decay"] == "0"
    tags = run.data.tags
    assert tags["mlflow.autologging"] == "pytorch"
    assert tags["Mode"] == "training"
    assert tags["mlflow.latest_checkpoint_artifact"] == "checkpoints/latest_checkpoint.pth"

    # Epoch metrics at steps 0, 1, 2; the forked train loss's plain name is the epoch value.
    # Without step logging, the last step's value of a per-step metric is logged per epoch.
    assert set(run.data.metrics) == {
        "train_loss",
        "train_loss_epoch",
        "train_loss_step",
        "train_constant",
        "val_loss",
    }
    run_id = run.info.run_id
    for key in run.data.metrics:
        assert [s for s, _ in history(run_id, key)] == [0, 1, 2], key
    final = {k: float(v) for k, v in t.callback_metrics.items()}
    for key in ("train_loss_epoch", "val_loss"):
        assert history(run_id, key)[-1][1] == pytest.approx(final[key], rel=1e-6)
    assert history(run_id, "train_loss") == history(run_id, "train_loss_epoch")

    assert artifact_tree(run_id) == {
        "model_summary.txt",
        "checkpoints",
        "checkpoints/latest_checkpoint.pth",
        "checkpoints/latest_checkpoint_metrics.json",
    }
    client = mlflow.MlflowClient()
    summary = Path(client.download_artifacts(run_id, "model_summary.txt")).read_text()
    assert "net.0 | Linear" in summary and "161       Total params" in summary
    checkpoint_metrics = Path(
        client.download_artifacts(run_id, "checkpoints/latest_checkpoint_metrics.json")
    ).read_text()
    import json

    saved = json.loads(checkpoint_metrics)
    best_epoch = min(history(run_id, "val_loss"), key=lambda sv: sv[1])[0]
    assert saved["epoch"] == best_epoch
    assert saved["global_step"] == (best_epoch + 1) * STEPS_PER_EPOCH

    # The model: logged once, linked to the run, with a tensor signature from the first batch.
    [output] = run.outputs.model_outputs
    model = mlflow.get_logged_model(output.model_id)
    assert model.name == "model" and str(model.status).endswith("READY")
    for key in run.data.metrics:
        assert {m.model_id for m in client.get_metric_history(run_id, key)} == {output.model_id}
    loaded = mlflow.pytorch.load_model(f"models:/{output.model_id}")
    x = torch.randn(5, FEATURES)
    t.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), t.model(x))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{output.model_id}")
    signature = pyfunc.metadata.signature
    assert signature is not None
    assert list(signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, FEATURES]
    np.testing.assert_allclose(pyfunc.predict(x.numpy()), t.model(x).detach().numpy(), rtol=1e-6)


def test_step_metrics_every_n_steps(tmp_path: Path) -> None:
    mlflow.pytorch.autolog(log_every_n_step=3, log_models=False, checkpoint=False)
    fit(tmp_path, max_epochs=2)
    run = only_run()
    run_id = run.info.run_id
    total = 2 * STEPS_PER_EPOCH
    expected_steps = [s for s in range(1, total + 1) if (s + 1) % 3 == 0]
    # Step metrics: the forked loss as train_loss_step, a step-only metric under its own name.
    assert [s for s, _ in history(run_id, "train_loss_step")] == expected_steps
    assert [s for s, _ in history(run_id, "train_constant")] == expected_steps
    assert {v for _, v in history(run_id, "train_constant")} == {0.5}
    # Epoch metrics leave out what was logged per step.
    for key in ("train_loss", "train_loss_epoch", "val_loss"):
        assert [s for s, _ in history(run_id, key)] == [0, 1], key
    assert run.outputs.model_outputs == ()
    assert artifact_tree(run_id) == {"model_summary.txt"}
    assert "mlflow.latest_checkpoint_artifact" not in run.data.tags


def test_every_n_epochs_and_without_validation(tmp_path: Path) -> None:
    mlflow.pytorch.autolog(log_every_n_epoch=2, log_models=False, checkpoint=False)
    fit(tmp_path, validate=False, max_epochs=5)
    run_id = only_run().info.run_id
    assert [s for s, _ in history(run_id, "train_loss_epoch")] == [1, 3]
    assert "val_loss" not in only_run().data.metrics


def test_early_stopping_params_metrics_and_restored_checkpoint(tmp_path: Path) -> None:
    mlflow.pytorch.autolog()
    stop = early_stopping()
    t = fit(tmp_path, max_epochs=20, callbacks=[stop])
    assert 0 < stop.stopped_epoch < 19
    run = only_run()
    params = run.data.params
    assert params["monitor"] == "val_loss"
    assert params["mode"] == "min"
    assert params["patience"] == "1"
    assert params["min_delta"] == "-0.5"  # Lightning stores it signed by mode, MLflow logs that
    assert params["stopped_epoch"] == "0"  # as it was before training, as MLflow logs it
    metrics = run.data.metrics
    assert metrics["stopped_epoch"] == stop.stopped_epoch
    assert metrics["restored_epoch"] == stop.stopped_epoch - 1
    assert metrics["best_score"] == pytest.approx(float(stop.best_score))
    assert metrics["wait_count"] == stop.wait_count
    best = Path(t.checkpoint_callback.best_model_path).name
    assert f"restored_model_checkpoint/{best}" in artifact_tree(run.info.run_id)


def test_test_after_fit_logs_test_metrics_and_mode(tmp_path: Path) -> None:
    mlflow.pytorch.autolog(log_models=False)
    t = fit(tmp_path, max_epochs=1)
    _, val = data()
    t.test(t.lightning_module, dataloaders=val, verbose=False)
    run = only_run()
    assert run.data.tags["Mode"] == "testing"
    assert history(run.info.run_id, "test_loss") == [
        (0, pytest.approx(float(t.callback_metrics["test_loss"])))
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"checkpoint_save_best_only": False},
            {
                "checkpoints/epoch_0/checkpoint.pth",
                "checkpoints/epoch_0/checkpoint_metrics.json",
                "checkpoints/epoch_1/checkpoint.pth",
                "checkpoints/epoch_1/checkpoint_metrics.json",
            },
        ),
        (
            {"checkpoint_save_best_only": False, "checkpoint_save_freq": 5},
            {
                "checkpoints/global_step_5/checkpoint.pth",
                "checkpoints/global_step_5/checkpoint_metrics.json",
                "checkpoints/global_step_10/checkpoint.pth",
                "checkpoints/global_step_10/checkpoint_metrics.json",
                "checkpoints/global_step_15/checkpoint.pth",
                "checkpoints/global_step_15/checkpoint_metrics.json",
            },
        ),
        (
            {"checkpoint_save_weights_only": True, "checkpoint_monitor": "train_loss_epoch"},
            {
                "checkpoints/latest_checkpoint.weights.pth",
                "checkpoints/latest_checkpoint_metrics.json",
            },
        ),
    ],
)
def test_checkpoint_options(tmp_path: Path, options: dict[str, Any], expected: set[str]) -> None:
    mlflow.pytorch.autolog(log_models=False, **options)
    fit(tmp_path, max_epochs=2)
    run = only_run()
    files = {p for p in artifact_tree(run.info.run_id) if "." in p.rsplit("/", 1)[-1]}
    assert files == expected | {"model_summary.txt"}
    latest = max(
        (p for p in expected if p.endswith(".pth")),
        key=lambda p: int("".join(c for c in p.split("/")[1] if c.isdigit()) or 0),
    )
    assert run.data.tags["mlflow.latest_checkpoint_artifact"] == latest


def test_load_checkpoint(tmp_path: Path) -> None:
    mlflow.pytorch.autolog(log_models=False, checkpoint_save_best_only=False)
    t = fit(tmp_path, max_epochs=2)
    run_id = only_run().info.run_id
    Net = net_class("lightning")
    latest = mlflow.pytorch.load_checkpoint(Net, run_id)
    for name, value in t.model.state_dict().items():
        torch.testing.assert_close(latest.state_dict()[name], value)
    first = mlflow.pytorch.load_checkpoint(Net, run_id, epoch=0)
    assert any(not torch.equal(first.state_dict()[n], v) for n, v in t.model.state_dict().items())
    with pytest.raises(traza.TrazaException, match="Only one of 'epoch' and 'global_step'"):
        mlflow.pytorch.load_checkpoint(Net, run_id, epoch=0, global_step=8)


def test_registered_model_name_and_extra_tags(tmp_path: Path) -> None:
    mlflow.pytorch.autolog(
        registered_model_name="lightning-mlp", extra_tags={"team": "vision"}, checkpoint=False
    )
    fit(tmp_path, max_epochs=1)
    run = only_run()
    assert run.data.tags["team"] == "vision"
    [version] = mlflow.MlflowClient().search_model_versions("name='lightning-mlp'")
    assert version.version in ("1", 1)
    assert version.run_id == run.info.run_id


# -- arguments and patching ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"log_every_n_epoch": 0}, "log_every_n_epoch"),
        ({"log_every_n_step": -2}, "log_every_n_step"),
        ({"checkpoint_mode": "lowest"}, "'mode' to 'lowest'"),
        ({"checkpoint_monitor": None}, "'monitor' config"),
        ({"checkpoint_save_freq": "daily"}, "checkpoint_save_freq"),
        ({"extra_tags": ["not", "a", "dict"]}, "extra_tags"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(traza.TrazaException, match=message):
        mlflow.pytorch.autolog(**kwargs)


def test_disable_unpatches_both_packages_and_stops_logging(tmp_path: Path) -> None:
    import lightning
    import pytorch_lightning

    originals = (lightning.Trainer.__dict__["fit"], pytorch_lightning.Trainer.__dict__["fit"])
    mlflow.pytorch.autolog()
    assert lightning.Trainer.__dict__["fit"] is not originals[0]
    assert pytorch_lightning.Trainer.__dict__["fit"] is not originals[1]
    mlflow.pytorch.autolog(disable=True)
    assert lightning.Trainer.__dict__["fit"] is originals[0]
    assert pytorch_lightning.Trainer.__dict__["fit"] is originals[1]
    fit(tmp_path, max_epochs=1)
    assert runs() == []


def test_calling_autolog_twice_patches_once_and_refits_log_apart(tmp_path: Path) -> None:
    import lightning

    mlflow.pytorch.autolog(log_models=False, checkpoint=False)
    mlflow.pytorch.autolog(log_models=False)
    patched = lightning.Trainer.__dict__["fit"]
    assert not hasattr(patched.__traza_autolog_original__, "__traza_autolog_original__")
    t = fit(tmp_path, max_epochs=1)
    torch.manual_seed(0)
    train, val = data()
    t.fit_loop.max_epochs = 2
    t.fit(net_class("lightning")(), train, val)
    found = runs()
    assert len(found) == 2
    names = [type(cb).__name__ for cb in t.callbacks]
    assert names.count("TrazaAutologCallback") == 1
    assert names.count("TrazaModelCheckpointCallback") == 1
    for run in found:  # each fit logged into its own run only
        assert [s for s, _ in history(run.info.run_id, "val_loss")] in ([0], [1])


def test_autolog_inside_user_run_uses_it_and_leaves_it_open(tmp_path: Path) -> None:
    mlflow.pytorch.autolog(log_models=False)
    with mlflow.start_run() as run:
        fit(tmp_path, max_epochs=1)
        assert mlflow.active_run().info.run_id == run.info.run_id  # type: ignore[union-attr]
    logged = only_run()
    assert "val_loss" in logged.data.metrics
    assert "mlflow.autologging" not in logged.data.tags


def test_exclusive_keeps_out_of_user_runs(tmp_path: Path) -> None:
    mlflow.pytorch.autolog(exclusive=True)
    with mlflow.start_run():
        fit(tmp_path, max_epochs=1)
    run = only_run()
    assert run.data.metrics == {} and run.data.params == {}


@pytest.mark.parametrize("silent", [False, True])
def test_logging_failures_never_break_training(
    silent: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from traza.pytorch import _lightning_callbacks, lightning_autolog

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("logging exploded")

    monkeypatch.setattr(_lightning_callbacks, "set_tag", boom)  # inside Lightning's hooks
    monkeypatch.setattr(lightning_autolog, "_log_summary", boom)  # after training
    mlflow.pytorch.autolog(silent=silent)
    with caplog.at_level(logging.DEBUG, logger="traza"):
        t = fit(tmp_path, max_epochs=2)
    assert t.current_epoch == 2  # trained to the end
    run = only_run()
    assert run.info.status == "FINISHED"
    assert [s for s, _ in history(run.info.run_id, "val_loss")] == [0, 1]
    assert len(run.outputs.model_outputs) == 1
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("traza")]
    if silent:
        assert messages == []
    else:
        assert sum("logging exploded" in m for m in messages) >= 2


def test_user_errors_propagate_and_fail_the_run_and_model(tmp_path: Path) -> None:
    mlflow.pytorch.autolog()
    torch.manual_seed(0)
    train, val = data()
    t = trainer(tmp_path)
    with pytest.raises(ValueError, match="the user's training_step failed"):
        t.fit(net_class("lightning")(fail_at_step=3), train, val)
    run = only_run()
    assert run.info.status == "FAILED"
    [model] = mlflow.search_logged_models(output_format="list")
    assert str(model.status).endswith("FAILED")
    assert "forward" not in vars(t.lightning_module)  # the example capture is undone


def test_callbacks_pickle_for_spawned_workers(tmp_path: Path) -> None:
    """Strategies that spawn processes pickle the trainer's callbacks: they travel as the
    tracking URI and log to the same run from the copy."""
    import pickle

    mlflow.pytorch.autolog(log_models=False)
    t = fit(tmp_path, max_epochs=1)
    run_id = only_run().info.run_id
    [hooks] = [cb for cb in t.callbacks if type(cb).__name__ == "TrazaAutologCallback"]
    [checkpoint] = [cb for cb in t.callbacks if type(cb).__name__ == "TrazaModelCheckpointCallback"]
    copy, checkpoint_copy = pickle.loads(pickle.dumps((hooks, checkpoint)))
    assert copy.run_id == run_id and checkpoint_copy.writer is not checkpoint.writer
    copy.metrics.record({"from_a_worker": 1.5}, 7)
    copy.metrics.close()  # written on its own background thread, waited for here
    assert history(run_id, "from_a_worker") == [(7, 1.5)]


def test_unsupported_versions_can_disable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from traza.pytorch import lightning_autolog

    monkeypatch.setattr(lightning_autolog, "LIGHTNING_VERSIONS", ("1.0.0", "1.1.0"))
    mlflow.pytorch.autolog(disable_for_unsupported_versions=True)
    fit(tmp_path, max_epochs=1)
    assert runs() == []
    mlflow.pytorch.autolog(log_models=False)  # only warns by default
    fit(tmp_path, max_epochs=1)
    assert "val_loss" in only_run().data.metrics


def test_step_metrics_reach_a_tracking_server(tmp_path: Path) -> None:
    from traza.store.uri import open_store

    with served_store(open_store(str(tmp_path / "served")), tmp_path / "artifacts") as url:
        mlflow.set_tracking_uri(url)
        mlflow.pytorch.autolog(log_every_n_step=1, log_models=False)
        fit(tmp_path, max_epochs=2)
        mlflow.flush_async_logging()
        run_id = only_run().info.run_id
        steps = [s for s, _ in history(run_id, "train_loss_step")]
        assert steps == list(range(1, 2 * STEPS_PER_EPOCH + 1))
        assert "checkpoints/latest_checkpoint.pth" in artifact_tree(run_id)


def test_top_level_autolog_enables_lightning(tmp_path: Path) -> None:
    mlflow.autolog(log_models=False)
    fit(tmp_path, max_epochs=1)
    assert "val_loss" in only_run().data.metrics


# -- side by side with MLflow --------------------------------------------------------------------
CASES = {
    # name: (package, autolog kwargs, early stopping, run trainer.test after fit)
    "lightning-steps": ("lightning", {"log_every_n_step": 3}, False, False),
    "pytorch_lightning-early-stopping": ("pytorch_lightning", {}, True, True),
    "lightning-every-2-epochs-all-checkpoints": (
        "lightning",
        {"log_every_n_epoch": 2, "checkpoint_save_best_only": False, "log_models": False},
        False,
        False,
    ),
}


def _script(package: str, stop: bool, test: bool, root: Path) -> None:
    callbacks = [early_stopping(package)] if stop else []
    t = fit(root, package, max_epochs=6, callbacks=callbacks)
    if test:
        _, val = data()
        t.test(t.lightning_module, dataloaders=val, verbose=False)


def _snapshot(client: Any, run: Any) -> dict[str, Any]:
    run_id = run.info.run_id
    return {
        "params": run.data.params,
        "metrics": {
            key: [
                (m.step, m.value)
                for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
            ]
            for key in run.data.metrics
        },
        # Git tags depend on where the test runs from (and on GitPython for MLflow).
        "tags": {
            k: v
            for k, v in run.data.tags.items()
            if not k.startswith("mlflow.source.git.") and k != "mlflow.runName"
        },
        "artifacts": artifact_tree(run_id, client),
        "models": len(run.outputs.model_outputs),
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_params_metrics_tags_and_artifacts_as_mlflow(case: str, tmp_path: Path) -> None:
    real_mlflow = importlib.import_module("mlflow")
    importlib.import_module("mlflow.pytorch")  # a plain import would rebind the name ``mlflow``

    package, kwargs, stop, test = CASES[case]
    real_mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    real_mlflow.pytorch.autolog(silent=True, **kwargs)
    try:
        _script(package, stop, test, tmp_path / "theirs")
        [theirs_run] = real_mlflow.search_runs(experiment_ids=["0"], output_format="list")
        theirs = _snapshot(real_mlflow.MlflowClient(), theirs_run)
    finally:
        real_mlflow.pytorch.autolog(disable=True)
    mlflow.set_tracking_uri(tmp_path / "traza")  # mlflow exported MLFLOW_TRACKING_URI
    mlflow.pytorch.autolog(silent=True, **kwargs)
    _script(package, stop, test, tmp_path / "ours")
    ours = _snapshot(mlflow.MlflowClient(), only_run())

    assert ours["params"] == theirs["params"]
    assert ours["tags"] == theirs["tags"]
    assert ours["artifacts"] == theirs["artifacts"]
    assert ours["models"] == theirs["models"]
    assert set(ours["metrics"]) == set(theirs["metrics"])
    for key, values in theirs["metrics"].items():
        assert [s for s, _ in ours["metrics"][key]] == [s for s, _ in values], key
        assert [v for _, v in ours["metrics"][key]] == pytest.approx(
            [v for _, v in values], rel=1e-5
        ), key
    if stop:
        assert {"monitor", "patience", "min_delta"} <= set(ours["params"])
        assert {"stopped_epoch", "restored_epoch", "best_score"} <= set(ours["metrics"])


def test_early_stopping_of_the_lightning_package_is_logged_unlike_mlflow(tmp_path: Path) -> None:
    """MLflow 3.17 looks for ``pytorch_lightning``'s EarlyStopping only, so a ``lightning``
    script's early stopping goes unlogged there; Traza logs it for both packages. Everything
    else matches."""
    real_mlflow = importlib.import_module("mlflow")
    importlib.import_module("mlflow.pytorch")  # a plain import would rebind the name ``mlflow``

    real_mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    real_mlflow.pytorch.autolog(silent=True, log_models=False)
    try:
        _script("lightning", True, False, tmp_path / "theirs")
        [theirs_run] = real_mlflow.search_runs(experiment_ids=["0"], output_format="list")
        theirs = _snapshot(real_mlflow.MlflowClient(), theirs_run)
    finally:
        real_mlflow.pytorch.autolog(disable=True)
    mlflow.set_tracking_uri(tmp_path / "traza")
    mlflow.pytorch.autolog(silent=True, log_models=False)
    _script("lightning", True, False, tmp_path / "ours")
    ours = _snapshot(mlflow.MlflowClient(), only_run())
    early = {"monitor", "mode", "patience", "min_delta", "stopped_epoch"}
    assert set(ours["params"]) - set(theirs["params"]) == early
    assert {k: v for k, v in ours["params"].items() if k not in early} == theirs["params"]
    assert set(ours["metrics"]) - set(theirs["metrics"]) == {
        "stopped_epoch",
        "restored_epoch",
        "best_score",
        "wait_count",
    }
    assert ours["tags"] == theirs["tags"]
