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
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    log_times, load_times, uris = [], [], []
    for i in range(repeats + 1):  # the first of each is a warm-up
        with lib.start_run():
            start = time.perf_counter()
            info = flavor.log_model(
                model, name="model", input_example=X[:5], serialization_format=fmt
            )
            elapsed = time.perf_counter() - start
        uris.append(info.model_uri)
        if i:
            log_times.append(elapsed)
    with torch.no_grad():
        expected = model(torch.from_numpy(X[:3])).numpy()
    for i, uri in enumerate(uris):
        start = time.perf_counter()
        loaded = pyfunc.load_model(uri)
        elapsed = time.perf_counter() - start
        assert np.allclose(loaded.predict(X[:3]), expected, atol=1e-6)
        if i:
            load_times.append(elapsed)
    return {"log_model": statistics.median(log_times), "load_model": statistics.median(load_times)}


def measure(library: str, kind: str, repeats: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAZA_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    with tempfile.TemporaryDirectory(prefix=f"bench-pytorch-{library}-") as folder:
        done = subprocess.run(
            [sys.executable, str(HERE), "--worker", library, kind, str(repeats)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"{library} {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


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
    print(f"{'operation':<38}{'traza ms':>10}{'mlflow ms':>11}{'ratio':>8}")
    results: dict[str, Any] = {}
    for kind in PYTORCH:
        ours, theirs = measure("traza", kind, repeats), measure("mlflow", kind, repeats)
        for op in ("log_model", "load_model"):
            ratio = theirs[op] / ours[op]
            results[f"{op} ({kind})"] = {"traza": ours[op], "mlflow": theirs[op], "ratio": ratio}
            print(
                f"{op + ' (' + kind + ')':<38}{ours[op] * 1000:>10.1f}"
                f"{theirs[op] * 1000:>11.1f}{ratio:>7.1f}x"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
