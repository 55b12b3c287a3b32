#!/usr/bin/env bash
# The main job: the seeds' DVC pipeline (examples/salary) tracked by Traza, end to end.
#
#   1. set up .venv with DVC, scikit-learn and uv (scripts/setup.sh dvc,sklearn,envs: uv builds
#      the environments of `traza run --env-manager virtualenv|uv` and `traza reproduce`);
#   2. copy the example into a fresh Git+DVC repository in .demo/salary (the example in the
#      clone stays clean) and commit it;
#   3. dvc repro: prepare the data (preparacion_datos), train and evaluate
#      (entrenamiento_evaluacion), each run logged into ./mlruns with its lineage;
#   4. change the data (more rows in params.yaml), dvc repro again: a second run records the
#      new data version;
#   5. traza reproduce the first run (its commit, data and params) and compare the metrics;
#   6. list what was recorded and say how to open `traza ui`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

echo "== setting up .venv (Traza with DVC, scikit-learn and uv)"
bash scripts/setup.sh dvc,sklearn,envs

export PATH="$root/.venv/bin:$PATH"          # the stages' `python` and the `dvc` command
export TRAZA_TRACKING_URI="$root/mlruns"     # runs land in ./mlruns of the clone
export DVC_NO_ANALYTICS=1
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-Traza demo}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@traza.invalid}"
export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME}" GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}"
unset MLFLOW_TRACKING_URI DVC_ROOT DVC_STAGE

work="$root/.demo/salary"
echo "== a Git+DVC repository with the pipeline in ${work#"$root"/}"
rm -rf "$work"
mkdir -p "$work"
(cd examples/salary && tar --exclude=./mlruns --exclude=./data --exclude=./models \
  --exclude=./reports --exclude=__pycache__ -cf - .) | (cd "$work" && tar -xf -)
cd "$work"
git -c init.defaultBranch=main init -q
dvc init -q
git add -A && git commit -qm "Salary pipeline (dvc.yaml, params.yaml, model_eng.yaml)"

echo "== dvc repro: prepare the data, then train and evaluate (logged to Traza)"
dvc repro
git add -A && git commit -qm "dvc.lock of the first data version"
first_run=$(python -c 'import traza; print(traza.search_runs(search_all_experiments=True, output_format="list", max_results=1)[0].info.run_id)')

echo "== more data (params.yaml data.rows: 300 -> 400), dvc repro again"
sed -i.bak 's/rows: 300 /rows: 400 /' params.yaml && rm -f params.yaml.bak
dvc repro
git add -A && git commit -qm "400 rows"

echo "== traza reproduce $first_run (its commit, data version and params; this interpreter)"
traza reproduce "$first_run" --env-manager local

cd "$root"
echo
echo "== what was recorded"
traza experiments list
traza runs describe --run-id "$first_run" | grep -E "traza\.dvc\.stage|git\.commit|git\.dirty|^ *(fit_intercept|train\.|r2|mae)" || true
echo
echo "Runs are in $root/mlruns. Activate the environment and open them in the web UI with:"
echo "    source .venv/bin/activate"
echo "    traza ui                    # then browse http://127.0.0.1:5000"
echo "Each run's page shows its dataset inputs (the md5 of each DVC dependency), its DVC params,"
echo "its Git commit and the environment/ artifact; reproduce any of them with:"
echo "    traza reproduce <run id>    # from $root"
