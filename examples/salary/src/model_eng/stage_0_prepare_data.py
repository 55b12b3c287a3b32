"""Stage ``preparacion_datos``: the synthetic salary dataset, split into train and test.

    python src/model_eng/stage_0_prepare_data.py      # from the project folder (DVC's wdir)

Reads ``params.yaml`` (``data:``) and ``model_eng.yaml`` (where to write), and writes
``train.csv`` and ``test.csv`` into ``data/processed``. Deterministic: the same parameters give
the same bytes, so DVC's md5 of the folder only changes when the data does.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from generate_data import rows  # noqa: E402  (the project's generator, beside MLproject)

FIELDS = ["experience", "age", "interview_score", "Salary"]


def prepare(root: Path = ROOT) -> Path:
    params = yaml.safe_load((root / "params.yaml").read_text())["data"]
    config = yaml.safe_load((root / "model_eng.yaml").read_text())["data"]
    data = rows(int(params["rows"]), int(params["seed"]))
    order = list(range(len(data)))
    random.Random(int(params["split_seed"])).shuffle(order)
    n_test = round(len(data) * float(params["test_size"]))
    parts = {"test.csv": sorted(order[:n_test]), "train.csv": sorted(order[n_test:])}
    out = root / config["processed"]
    out.mkdir(parents=True, exist_ok=True)
    for name, indexes in parts.items():
        with (out / name).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(data[i] for i in indexes)
    print(f"Wrote {len(data) - n_test} training and {n_test} test rows to {out}")
    return out


if __name__ == "__main__":
    prepare()
