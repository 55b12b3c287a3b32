"""Write MLflow stores with the real ``mlflow`` (``python mlflow_writer.py URI [URI ...]``).

Covers what ``traza import`` must carry: experiments with tags (one deleted), runs with params,
metric histories (a NaN among them), tags, a dataset input, a deleted run, a nested run, an
MLflow 3 logged model with params, tags and a metric linked to it, and a registered model with
two versions, tags and an alias, and a run that used that logged model (a model input).
Prints a JSON line with the ids it made.
"""

from __future__ import annotations

import json
import math
import sys
import warnings

warnings.simplefilter("ignore")


def main(uri: str, prefix: str = "") -> dict[str, str]:
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelInput
    from mlflow.tracking import _tracking_service, fluent

    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri, registry_uri=uri)
    client.create_experiment(f"{prefix}exp-a", tags={"team": "vision"})
    mlflow.set_experiment(f"{prefix}exp-a")
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    with mlflow.start_run(run_name="first") as first:
        mlflow.log_params({"lr": "0.1", "layers": 3})
        for step in range(6):
            mlflow.log_metric("loss", 1 / (step + 1), step=step)
        mlflow.log_metric("nan_metric", math.nan)
        mlflow.set_tags({"stage": "dev", "note": "héllo"})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
        mlflow.log_text("hello", "notes/readme.txt")
        model = mlflow.initialize_logged_model(
            name="clf", model_type="classifier", tags={"k": "v"}, params={"depth": "4"}
        )
        mlflow.log_metric("acc", 0.91, step=1, model_id=model.model_id)
        mlflow.finalize_logged_model(model.model_id, "READY")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("inner", 2.5, step=3)
            # The child used the parent's model (run.inputs.model_inputs).
            client.log_inputs(child.info.run_id, models=[LoggedModelInput(model.model_id)])
    with mlflow.start_run(run_name="doomed") as doomed:
        mlflow.log_metric("loss", 0.5)
    client.delete_run(doomed.info.run_id)
    client.create_registered_model("reg", tags={"owner": "ana"}, description="a model")
    client.create_model_version(
        "reg", f"runs:/{first.info.run_id}/model", run_id=first.info.run_id, tags={"vt": "1"}
    )
    client.create_model_version("reg", f"models:/{model.model_id}", model_id=model.model_id)
    client.set_registered_model_alias("reg", "champion", "1")
    gone = client.create_experiment(f"{prefix}gone")
    with mlflow.start_run(experiment_id=gone, run_name="in-gone"):
        mlflow.log_param("p", "1")
    client.delete_experiment(gone)
    fluent._active_experiment_id = None
    _tracking_service.utils._tracking_uri = None
    return {"run_id": first.info.run_id, "model_id": model.model_id}


if __name__ == "__main__":
    # python mlflow_writer.py URI [URI ...]: one JSON object, URI -> the ids made there.
    print(json.dumps({uri: main(uri) for uri in sys.argv[1:]}))
