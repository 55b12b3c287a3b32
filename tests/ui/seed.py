"""The data the UI tests look at, logged through Traza's fluent API into a live server."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

# A 2x2 PNG (red, green / blue, white).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)
CSV = 'feature,importance\nage,0.41\n"income, yearly",0.35\nregion,0.24\n'
LONG, SPIKE = 20_000, 12_345
HTML = "<html><body><h1 id='report'>Model report</h1><p>All good.</p></body></html>"


@dataclass
class Seeded:
    url: str
    experiment_id: str
    other_experiment_id: str
    runs: dict[str, str] = field(default_factory=dict)
    model_name: str = "ui-model"


def seed(url: str, workdir: Path) -> Seeded:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    import traza
    import traza.sklearn
    from traza.entities import Dataset, DatasetInput, InputTag, Metric
    from traza.models import infer_signature

    traza.set_tracking_uri(url)
    experiment_id = traza.create_experiment("ui-tests")
    other = traza.create_experiment("other experiment")
    seeded = Seeded(url, experiment_id, other)
    traza.set_experiment(experiment_id=experiment_id)

    specs = [
        ("rf-small", "rf", 10, 0.9),
        ("rf-large", "rf", 100, 0.5),
        ("linear", "linear", 1, 1.4),
    ]
    for name, model, trees, scale in specs:
        with traza.start_run(run_name=name) as run:
            seeded.runs[name] = run.info.run_id
            traza.log_params({"model": model, "n_estimators": trees, "seed": 7})
            traza.set_tag("team", "vision")
            for step in range(60):
                traza.log_metric("rmse", scale * math.exp(-step / 20) + 0.05, step=step)
                traza.log_metric("accuracy", 1 - scale * math.exp(-step / 15) / 2, step=step)

    rid = seeded.runs["rf-small"]
    client = traza.MlflowClient()
    client.log_text(rid, "first line\nsecond line\n", "notes.txt")
    client.log_dict(rid, {"lr": 0.1, "layers": [64, 32]}, "config.json")
    client.log_text(rid, "lr: 0.1\nlayers:\n  - 64\n  - 32\n", "params.yaml")
    client.log_text(rid, CSV, "data/importance.csv")
    client.log_text(rid, HTML, "report.html")
    image = workdir / "plot.png"
    image.write_bytes(PNG)
    client.log_artifact(rid, str(image), "images")
    x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [4.0, 3.0]])
    fitted = LinearRegression().fit(x, np.array([1.0, 2.0, 3.0, 4.0]))
    signature = infer_signature(x, fitted.predict(x))
    with traza.start_run(run_id=rid):
        # MLflow 3's way: a logged model (version 1, source models:/m-...).
        traza.sklearn.log_model(
            fitted, name="model", signature=signature, registered_model_name=seeded.model_name
        )
    # MLflow 2's way: the model's files among the run's artifacts (version 2, runs:/...).
    traza.sklearn.save_model(fitted, workdir / "sk-model", signature=signature)
    client.log_artifacts(rid, str(workdir / "sk-model"), "model")

    with traza.start_run(run_name="sweep") as parent:
        seeded.runs["sweep"] = parent.info.run_id
        traza.log_param("model", "sweep")
        for i in range(2):
            with traza.start_run(run_name=f"trial-{i}", nested=True) as child:
                seeded.runs[f"trial-{i}"] = child.info.run_id
                traza.log_params({"model": "trial", "n_estimators": 5 + i})
                traza.log_metric("rmse", 0.7 - i / 10)

    client.set_registered_model_tag(seeded.model_name, "owner", "ui")
    version = client.create_model_version(
        seeded.model_name, f"runs:/{rid}/model", run_id=rid, tags={"stage": "test"}
    )
    client.set_registered_model_alias(seeded.model_name, "champion", version.version)

    traza.set_experiment(experiment_id=other)
    with traza.start_run(run_name="elsewhere") as run:
        seeded.runs["elsewhere"] = run.info.run_id
        traza.log_metric("rmse", 2.0)
        # A history longer than a chart draws, with one spike: sampled, then zoomed into.
        loss = [Metric("loss", 1.0 + (i % 7) / 10, 0, i) for i in range(LONG)]
        loss[SPIKE] = Metric("loss", 50.0, 0, SPIKE)
        for i in range(0, LONG, 1000):
            client.log_batch(run.info.run_id, metrics=loss[i : i + 1000])
        # What traza.lineage records for a run started by a DVC stage.
        traza.set_tags(
            {
                "traza.dvc.stage": "entrenamiento_evaluacion",
                "traza.dvc.cmd": "python src/model_eng/stage_1_2_train_evaluate.py",
                "mlflow.source.git.commit": "0123456789abcdef0123456789abcdef01234567",
                "traza.source.git.dirty": "true",
                "traza.source.git.changes": "params.yaml",
                "traza.python.version": "3.11.7",
            }
        )
        source = {"path": "data/processed", "repo_path": "data/processed", "size": 2_048_000}
        source["nfiles"] = 2
        dataset = Dataset("data/processed", "0" * 32 + ".dir", "dvc", json.dumps(source))
        client.log_inputs(
            run.info.run_id,
            [DatasetInput(dataset, (InputTag("mlflow.data.context", "data"),))],
        )
        # ... and the environment files it logs beside them (the Lineage table links to them).
        client.log_text(run.info.run_id, "scikit-learn==1.5.2\n", "environment/requirements.txt")
    with traza.start_run(run_name="reproduction") as run:
        seeded.runs["reproduction"] = run.info.run_id
        traza.set_tag("traza.reproduced_from", seeded.runs["elsewhere"])
    return seeded
