"""Moving data between stores: ``traza import`` (MLflow → Traza) and ``traza sync`` (Traza → Traza).

One portable record model (:mod:`.records`), one reader per kind of source (:mod:`.mlflow_sql`,
:mod:`.mlflow_files`, :mod:`.mlflow_rest`, :mod:`.traza_source`), and one writer: the target
store's ``ingest`` (SQL stores write rows directly, in bulk; a Traza server takes the same records
at ``POST /api/traza/v1/ingest``). :mod:`.pipeline` drives a source into a target in batches and
tallies what happened (:mod:`.summary`).
"""
