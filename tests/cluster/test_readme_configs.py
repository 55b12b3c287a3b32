"""The README's "Running on a cluster" config examples are accepted by the backends' checks
(the section's commands need a cluster, so tests/test_readme.py does not run them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from traza.projects.backends import ray, slurm

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _section() -> str:
    start = README.index("\n## Running on a cluster")
    return README[start : README.index("\n## ", start + 1)]


def test_the_slurm_example_is_valid() -> None:
    (block,) = re.findall(r"^```yaml\n(.*?)^```", _section(), re.MULTILINE | re.DOTALL)
    config = yaml.safe_load(block)
    options, resources = slurm.sbatch_options(config)
    assert options == [
        "--partition=gpu", "--account=ml-team", "--time=02:00:00", "--cpus-per-task=8",
        "--mem=32G", "--gpus=a100:1", "--nodes=1", "--constraint=avx2", "--exclusive",
    ]  # fmt: skip
    assert resources["gpus"] == "a100:1"
    assert config["modules"] == ["cuda/12.2"] and config["stage_project"] is True


def test_the_ray_example_is_valid() -> None:
    (block,) = re.findall(r"^```json\n(.*?)^```", _section(), re.MULTILINE | re.DOTALL)
    config = ray.parse_config(json.loads(block))
    assert config["address"] == "http://ray-head:8265"
    assert (config["num_cpus"], config["num_gpus"], config["memory"]) == (2, 1, 8e9)
    assert config["resources"] == {"TPU": 1.0} and config["pending_timeout"] == 900
