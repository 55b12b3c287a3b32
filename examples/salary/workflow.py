"""The seeds' two-step workflow: train (``step_1``), then evaluate that run's model (``step_2``).

    python workflow.py [--env-manager local|virtualenv|uv]

Each step is a run of its own; ``step_2`` gets ``step_1``'s run id as its parameter, which is
the lineage the seeds describe.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import traza as mlflow

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-manager", default="local")
    parser.add_argument("--experiment-name", default="Salary Model")
    args = parser.parse_args()
    common = {"experiment_name": args.experiment_name, "env_manager": args.env_manager}

    step_1 = mlflow.projects.run(uri=str(HERE), entry_point="step_1", **common)
    step_1.wait()
    print(f"step_1: run {step_1.run_id} {step_1.get_status()}")

    step_2 = mlflow.projects.run(
        uri=str(HERE), entry_point="step_2", parameters={"run_id": step_1.run_id}, **common
    )
    step_2.wait()
    print(f"step_2: run {step_2.run_id} {step_2.get_status()}")


if __name__ == "__main__":
    main()
