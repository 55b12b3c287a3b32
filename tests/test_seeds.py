"""The seeds' tracking script runs on Traza with only its imports renamed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

import traza

SEED = Path(__file__).parent / "seeds" / "stage_1_2_train_evaluate.py"


def renamed(source: str) -> str:
    source = re.sub(r"^import mlflow$", "import traza as mlflow", source, flags=re.M)
    source = re.sub(r"^from mlflow\.(\w+) import", r"from traza.\1 import", source, flags=re.M)
    return re.sub(r"^import mlflow\.(\w+)$", r"import traza.\1", source, flags=re.M)


def test_seed_tracking_script_runs_on_traza(isolated: Path) -> None:
    script = isolated / "stage_1_2_train_evaluate.py"
    script.write_text(renamed(SEED.read_text()))
    assert "import traza as mlflow" in script.read_text()
    subprocess.run([sys.executable, str(script)], cwd=isolated, check=True)
    assert (isolated / "mlruns" / "traza.db").is_file()
    (experiment,) = [e for e in traza.search_experiments() if e.name.startswith("salary_model_")]
    assert re.fullmatch(r"salary_model_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", experiment.name)
    (run,) = traza.search_runs([experiment.experiment_id], output_format="list")
    assert run.info.status == "FINISHED"
    assert run.data.params == {"fit_intercept": "True", "n_jobs": "1"}
    assert set(run.data.metrics) == {"mae", "mse", "r2"}
    assert 0.9 < run.data.metrics["r2"] <= 1.0
    assert run.data.tags["mlflow.source.name"] == str(script)
    # The model was logged with the signature inferred from the test split, and loads back.
    (model,) = traza.search_logged_models([experiment.experiment_id], output_format="list")
    assert model.name == "model" and model.source_run_id == run.info.run_id
    loaded = traza.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    inputs = loaded.metadata.signature.inputs
    assert inputs.input_names() == ["experience", "age", "interview_score"]
    frame = {"experience": [10], "age": [35], "interview_score": [5]}
    (salary,) = loaded.predict(pd.DataFrame(frame)).ravel()
    assert 58000 < salary < 61500  # the data follows 30000 + 2000 exp + 150 age + 900 score
