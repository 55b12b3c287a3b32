"""Traza: experiment tracking with MLflow's API, fast and local-first.

``import traza as mlflow`` gives the fluent API below. Submodules (``traza.sklearn``,
``traza.models``, ``traza.pyfunc``, ``traza.data``, ``traza.artifacts`` ...) load on first
attribute access, so importing Traza stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from traza._version import __version__
from traza.client import MlflowClient, TrazaClient
from traza.entities import RunStatus, ViewType
from traza.exceptions import MlflowException, TrazaException
from traza.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_experiment_tag,
    delete_run,
    delete_tag,
    end_run,
    flush_async_logging,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_parent_run,
    get_run,
    get_tracking_uri,
    is_tracking_uri_set,
    last_active_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_input,
    log_inputs,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    rename_experiment,
    restore_experiment,
    search_experiments,
    search_runs,
    set_experiment,
    set_experiment_tag,
    set_experiment_tags,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from traza.logged_model_fluent import (
    delete_logged_model_tag,
    finalize_logged_model,
    get_logged_model,
    last_logged_model,
    log_model_params,
    search_logged_models,
    set_logged_model_tags,
)
from traza.registry_fluent import register_model, search_model_versions, search_registered_models

_LAZY_SUBMODULES = frozenset(
    {
        "artifacts",
        "client",
        "config",
        "data",
        "entities",
        "exceptions",
        "lightgbm",
        "models",
        "projects",
        "pyfunc",
        "pytorch",
        "sklearn",
        "store",
        "tracking",
        "xgboost",
    }
)


#: MLflow's ``mlflow.<name>`` system metrics settings, from a module loaded on first use.
_SYSTEM_METRICS_FUNCTIONS = frozenset(
    {
        "disable_system_metrics_logging",
        "enable_system_metrics_logging",
        "set_system_metrics_node_id",
        "set_system_metrics_samples_before_logging",
        "set_system_metrics_sampling_interval",
    }
)


def __getattr__(name: str) -> Any:
    if name in _SYSTEM_METRICS_FUNCTIONS:
        return getattr(importlib.import_module("traza.system_metrics"), name)
    if name == "autolog":  # lazily, like the submodules: it is rarely called
        from traza.autologging import autolog

        return autolog
    if name == "evaluate":  # model evaluation, loaded on first use (pandas, scikit-learn)
        from traza.models.evaluation import evaluate

        return evaluate
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"traza.{name}")
    raise AttributeError(f"module 'traza' has no attribute {name!r}")


__all__ = [
    "ActiveRun",
    "MlflowClient",
    "MlflowException",
    "RunStatus",
    "TrazaClient",
    "TrazaException",
    "ViewType",
    "__version__",
    "active_run",
    "autolog",
    "create_experiment",
    "delete_experiment",
    "delete_experiment_tag",
    "delete_logged_model_tag",
    "delete_run",
    "delete_tag",
    "disable_system_metrics_logging",
    "enable_system_metrics_logging",
    "end_run",
    "evaluate",
    "finalize_logged_model",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_logged_model",
    "get_parent_run",
    "get_run",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "last_active_run",
    "last_logged_model",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_inputs",
    "log_metric",
    "log_metrics",
    "log_model_params",
    "log_param",
    "log_params",
    "log_text",
    "register_model",
    "rename_experiment",
    "restore_experiment",
    "search_experiments",
    "search_logged_models",
    "search_model_versions",
    "search_registered_models",
    "search_runs",
    "set_experiment",
    "set_experiment_tag",
    "set_experiment_tags",
    "set_logged_model_tags",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
