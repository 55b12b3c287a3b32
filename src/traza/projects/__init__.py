"""``traza.projects``: run MLflow projects (``MLproject`` folders and Git repositories).

``traza.projects.run(uri, entry_point, parameters=..., env_manager=...)`` returns a
:class:`SubmittedRun` whose ``run_id`` chains multi-step workflows, as ``mlflow.projects.run``.
"""

from __future__ import annotations

from traza.exceptions import ExecutionException
from traza.projects.runner import run
from traza.projects.submitted import LocalSubmittedRun, SubmittedRun
from traza.sweeps.engine import sweep

__all__ = ["ExecutionException", "LocalSubmittedRun", "SubmittedRun", "run", "sweep"]
