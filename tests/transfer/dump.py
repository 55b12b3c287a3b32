"""Everything a store holds, read through a client with MLflow's API, as comparable JSON.

``dump(mlflow)`` reads with the real MLflow client, ``dump(traza)`` with Traza's; run as a script
(``python dump.py mlflow URI``) it prints the JSON, so the real ``mlflow`` is only imported in a
child process.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any


def _value(v: float) -> str:
    return repr(float(v))


def dump(module: Any, uri: str) -> dict[str, Any]:
    client = module.MlflowClient(tracking_uri=uri, registry_uri=uri)
    all_view = module.entities.ViewType.ALL
    out: dict[str, Any] = {"experiments": {}, "runs": {}, "logged_models": {}, "models": {}}
    experiments = client.search_experiments(view_type=all_view, max_results=1000)
    ids = [e.experiment_id for e in experiments]
    for e in experiments:
        out["experiments"][e.name] = {
            "id": e.experiment_id,
            "artifact_location": e.artifact_location,
            "lifecycle_stage": e.lifecycle_stage,
            "tags": dict(e.tags),
            "creation_time": e.creation_time,
            "last_update_time": e.last_update_time,
        }
    for run in client.search_runs(ids, run_view_type=all_view, max_results=1000):
        info = run.info
        histories = {
            key: [
                (_value(m.value), m.timestamp, m.step)
                for m in client.get_metric_history(info.run_id, key)
            ]
            for key in run.data.metrics
        }
        out["runs"][info.run_id] = {
            "experiment_id": info.experiment_id,
            "run_name": info.run_name,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "lifecycle_stage": info.lifecycle_stage,
            "artifact_uri": info.artifact_uri,
            "params": dict(run.data.params),
            "tags": dict(run.data.tags),
            "metrics": {k: _value(v) for k, v in run.data.metrics.items()},
            "histories": histories,
            "inputs": sorted(
                [
                    d.dataset.name,
                    d.dataset.digest,
                    d.dataset.source_type,
                    d.dataset.source,
                    d.dataset.schema,
                    d.dataset.profile,
                    sorted((t.key, t.value) for t in d.tags),
                ]
                for d in (run.inputs.dataset_inputs if run.inputs else [])
            ),
            "outputs": sorted(
                (o.model_id, o.step) for o in (run.outputs.model_outputs if run.outputs else [])
            ),
            # MLflow's search_runs leaves model inputs out; get_run has them.
            "model_inputs": sorted(
                m.model_id for m in client.get_run(info.run_id).inputs.model_inputs or []
            ),
        }
    for m in client.search_logged_models(experiment_ids=ids, max_results=1000):
        out["logged_models"][m.model_id] = {
            "name": m.name,
            "experiment_id": m.experiment_id,
            "status": str(getattr(m.status, "value", m.status)),
            "model_type": m.model_type,
            "source_run_id": m.source_run_id,
            "artifact_location": m.artifact_location,
            "creation_timestamp": m.creation_timestamp,
            "tags": dict(m.tags),
            "params": dict(m.params),
            "metrics": sorted(
                (x.key, _value(x.value), x.step, x.timestamp, x.run_id) for x in m.metrics or ()
            ),
        }
    for rm in client.search_registered_models(max_results=1000):
        found = client.search_model_versions(f"name = '{rm.name}'", max_results=1000)
        # MLflow's search leaves aliases out; get_model_version has them.
        versions = [client.get_model_version(rm.name, v.version) for v in found]
        out["models"][rm.name] = {
            "description": rm.description,
            "creation_timestamp": rm.creation_timestamp,
            "tags": dict(rm.tags),
            "aliases": {k: str(v) for k, v in rm.aliases.items()},
            "versions": {
                str(v.version): {
                    "source": v.source,
                    "run_id": v.run_id,
                    "status": str(v.status),
                    "current_stage": v.current_stage,
                    "tags": dict(v.tags),
                    "aliases": sorted(v.aliases),
                    "creation_timestamp": v.creation_timestamp,
                    "description": v.description,
                }
                for v in versions
            },
        }
    return out


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    import mlflow

    # python dump.py mlflow URI [URI ...]: one JSON object, URI -> its dump.
    print(json.dumps({uri: dump(mlflow, uri) for uri in sys.argv[2:]}))
