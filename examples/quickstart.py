"""Log a small hyperparameter sweep into ./mlruns with MLflow's API, then show how to look at it.

Run with: bash scripts/demo.sh   (or: .venv/bin/python examples/quickstart.py)
"""

import math
import random

import traza as mlflow


def train(learning_rate: float, epochs: int) -> None:
    """A stand-in for training: a loss curve that depends on the learning rate."""
    rng = random.Random(f"{learning_rate}-{epochs}")
    with mlflow.start_run(run_name=f"lr-{learning_rate}"):
        mlflow.log_params({"learning_rate": learning_rate, "epochs": epochs, "model": "demo"})
        loss = 1.0
        for epoch in range(epochs):
            loss *= 1 - learning_rate * (0.5 + rng.random() / 2)
            mlflow.log_metric("loss", loss, step=epoch)
        mlflow.log_metric("accuracy", 1 - loss / 2)
        mlflow.set_tag("stage", "demo")
        mlflow.log_dict({"learning_rate": learning_rate, "epochs": epochs}, "config.json")


def main() -> None:
    experiment = mlflow.set_experiment("quickstart")
    for learning_rate in (0.01, 0.05, 0.1, 0.2):
        train(learning_rate, epochs=20)
    (best,) = mlflow.search_runs(
        filter_string="params.model = 'demo'",
        order_by=["metrics.accuracy DESC"],
        max_results=1,
        output_format="list",  # the default, a pandas DataFrame, needs pandas installed
    )
    accuracy = best.data.metrics["accuracy"]
    assert not math.isnan(accuracy)
    print(f"Logged 4 runs to experiment {experiment.name!r} in {mlflow.get_tracking_uri()}")
    print(
        f"Best run: {best.info.run_name} (accuracy {accuracy:.3f}, "
        f"learning_rate {best.data.params['learning_rate']})"
    )
    print("Look at them with:")
    print("  .venv/bin/traza runs list -n quickstart --order-by 'metrics.accuracy DESC'")
    print(f"  .venv/bin/traza runs describe --run-id {best.info.run_id}")


if __name__ == "__main__":
    main()
