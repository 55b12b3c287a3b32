"""log_model and load_model of a PyTorch MLP of 98,945 parameters: Traza against MLflow, side by
side, each library in its own fresh process and folder (Traza on ``./mlruns``, MLflow on
``sqlite:///mlflow.db``), as in ``benchmarks/models.py``.

Two rows: the whole model pickled (``pytorch pickle``: ``torch.save``, Traza's default) and
``torch.export`` (``pytorch pt2``, MLflow 3.17's default), the same format on both sides, with
an ndarray input example (a tensor signature is inferred) and requirements found as users get
them (MLflow infers them by loading the model in a subprocess). ``load_model`` is
``pyfunc.load_model``, checked by a prediction outside the timing.

    python benchmarks/models_pytorch.py            # 9 repeats
    python benchmarks/models_pytorch.py --quick    # 2 repeats
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness import RATIO_HEADER, ratio_row, run_worker, time_load_model, time_log_model

HERE = Path(__file__).resolve()
PYTORCH = ("pytorch pickle", "pytorch pt2")


def pytorch_worker(library: str, kind: str, repeats: int) -> dict[str, Any]:
    """Runs in the child: build the MLP once, then time log_model and pyfunc load_model."""
    import importlib

    import numpy as np
    import torch
    from torch import nn

    lib = importlib.import_module("traza" if library == "traza" else "mlflow")
    pyfunc = importlib.import_module(f"{lib.__name__}.pyfunc")
    flavor = importlib.import_module(f"{lib.__name__}.pytorch")
    if library == "mlflow":
        lib.set_tracking_uri("sqlite:///mlflow.db")
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 1),
    ).eval()  # fmt: skip
    X = np.random.default_rng(0).normal(size=(1000, 64)).astype(np.float32)
    fmt = kind.partition(" ")[2]
    log_seconds, uris = time_log_model(
        repeats,
        lib.start_run,
        lambda: flavor.log_model(
            model, name="model", input_example=X[:5], serialization_format=fmt
        ),
    )
    with torch.no_grad():
        expected = model(torch.from_numpy(X[:3])).numpy()

    def check(loaded: Any, uri: str) -> None:
        assert np.allclose(loaded.predict(X[:3]), expected, atol=1e-6)

    return {"log_model": log_seconds, "load_model": time_load_model(uris, pyfunc.load_model, check)}


def measure(library: str, kind: str, repeats: int) -> dict[str, float]:
    args = ["--worker", library, kind, str(repeats)]
    prefix, label = f"bench-pytorch-{library}-", f"{library} {kind}"
    return run_worker(HERE, args, prefix, label, MLFLOW_DISABLE_TELEMETRY="true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, kind, repeats = args.worker
        print(json.dumps(pytorch_worker(library, kind, int(repeats))))
        return
    repeats = 2 if args.quick else 9
    print(f"log_model + load_model, a PyTorch MLP of 98,945 parameters, median of {repeats}")
    print(RATIO_HEADER)
    results: dict[str, Any] = {}
    for kind in PYTORCH:
        ours, theirs = measure("traza", kind, repeats), measure("mlflow", kind, repeats)
        ratio_row(results, kind, ours, theirs)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
