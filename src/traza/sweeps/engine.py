"""``traza.projects.sweep``: the parent run, its trials as child runs, and their scheduling.

Everything that can be refused (the values, the strategy, the project, the entry point and
its parameter types) is checked before the parent run exists. Trials run through
``traza.projects.run`` on the chosen backend with at most ``max_parallel`` in flight; each is
a child run created first (``mlflow.parentRunId``, its params), then handed to the backend by
its run id. The parent is always ended: FINISHED, FAILED or KILLED.
"""

from __future__ import annotations

import json
import math
import queue
import secrets
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traza.sweeps import definition as defs
from traza.sweeps import pruning, strategies
from traza.sweeps import space as spaces
from traza.sweeps.pruning import PRUNED_TAG
from traza.sweeps.space import SweepDefinitionError

PARENT_TAG = "mlflow.parentRunId"
HASH_TAG = "traza.sweep.hash"
DEFINITION_TAG = "traza.sweep.definition"
TRIAL_TAG = "traza.sweep.trial"
SEED_TAG = "traza.sweep.seed"
BEST_RUN_TAG = "traza.sweep.best_run_id"
BEST_VALUE_TAG = "traza.sweep.best_value"
ERROR_TAG = "traza.sweep.error"
DEFINITION_ARTIFACT = "sweep.json"
_ENDED = ("FINISHED", "FAILED", "KILLED")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Trial:
    """One trial: its index in the sweep, its values and, once started, its child run."""

    index: int
    params: dict[str, str]
    run_id: str | None = None
    status: str = "PENDING"  # PENDING, RUNNING, FINISHED, FAILED, KILLED
    value: float | None = None
    pruned: bool = False
    resumed: bool = False  # kept from the sweep being resumed
    submitted: Any = field(default=None, repr=False)


class Sweep:
    """A running or ended sweep: ``trials``, ``best``, ``wait()``, ``cancel()``."""

    def __init__(
        self,
        client: Any,
        parent_run_id: str,
        definition: defs.Definition,
        strategy: strategies.Strategy,
        trials: list[Trial],
        launch: Any,
        max_parallel: int,
        poll_seconds: float,
    ) -> None:
        self.parent_run_id = parent_run_id
        self.definition = definition
        self.trials = trials
        self.max_parallel = max_parallel
        self._client = client
        self._strategy = strategy
        self._launch = launch
        self._poll = poll_seconds
        self._cancelled = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._status = "RUNNING"
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- the public face ---------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """The parent run's id (as a SubmittedRun's ``run_id``)."""
        return self.parent_run_id

    @property
    def best(self) -> Trial | None:
        """The finished trial with the best value of the metric (``None`` without one)."""
        scored = [
            t
            for t in self.trials
            if t.status == "FINISHED" and t.value is not None and not math.isnan(t.value)
        ]
        if not scored:
            return None
        pick = min if self.definition.goal == "minimize" else max
        return pick(scored, key=lambda t: float(t.value or 0.0))

    @property
    def study(self) -> Any:
        """With ``strategy="optuna"``, the Optuna study every trial was told to (else None)."""
        return getattr(self._strategy, "study", None)

    def get_status(self) -> str:
        return self._status

    def wait(self) -> bool:
        """Wait for every trial; ``True`` when the sweep ended FINISHED."""
        if self._thread is not None:
            self._thread.join()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._status == "FINISHED"

    def cancel(self) -> None:
        """Stop every running trial (children KILLED) and end the parent KILLED."""
        self._cancelled.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._done.wait()

    # -- the scheduler -----------------------------------------------------------------------
    def _start_background(self) -> None:
        def body() -> None:
            try:
                self._run()
            except BaseException as e:  # reported by wait()
                self._error = e

        self._thread = threading.Thread(target=body, name=f"traza-sweep-{self.run_id[:8]}")
        self._thread.start()

    def _run(self) -> None:
        finished: queue.Queue[int] = queue.Queue()
        pending = [t for t in self.trials if t.status == "PENDING"]
        running: dict[int, Trial] = {}
        try:
            while (pending or running) and not self._cancelled.is_set():
                self._fill(pending, running, finished)
                if not running:
                    continue
                try:
                    index = finished.get(timeout=self._poll if self._strategy.prunes else 0.5)
                except queue.Empty:
                    if self._strategy.prunes:
                        for trial in list(running.values()):
                            pruning.report(self._client, self._strategy,
                                           self.definition.metric, trial)  # fmt: skip
                    continue
                trial = running.pop(index)
                self._ended(trial)
        except BaseException as e:
            self._cancelled.set()
            try:
                self._stop()
            finally:
                # Ctrl+C is a cancel; any other error (the store gone, say) fails the sweep.
                self._end("KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
            raise
        if self._cancelled.is_set():
            self._stop()
            self._end("KILLED")
            return
        ok = any(t.status == "FINISHED" for t in self.trials) or not self.trials
        self._end("FINISHED" if ok else "FAILED")

    def _fill(self, pending: list[Trial], running: dict[int, Trial], finished: queue.Queue[int]
              ) -> None:  # fmt: skip
        """Start pending trials while fewer than ``max_parallel`` run (arrays.py: all at once)."""
        while pending and len(running) < self.max_parallel:
            trial = pending.pop(0)
            if self._start_trial(trial, finished):
                running[trial.index] = trial
            else:
                self._ended(trial)
            if self._cancelled.is_set():
                break

    def _start_trial(self, trial: Trial, finished: queue.Queue[int]) -> bool:
        try:
            trial.run_id, trial.submitted = self._launch(trial)
        except Exception as e:
            message = getattr(e, "message", None) or str(e)
            _say(f"Trial {trial.index} could not start: {message}")
            trial.status = "FAILED"
            if trial.run_id:
                self._client.set_tag(trial.run_id, ERROR_TAG, message[:5000])
                if self._client.get_run(trial.run_id).info.status not in _ENDED:
                    self._client.set_terminated(trial.run_id, "FAILED")
            return False
        trial.status = "RUNNING"
        submitted = trial.submitted

        def waiter() -> None:
            try:
                submitted.wait()
            finally:
                finished.put(trial.index)

        threading.Thread(target=waiter, daemon=True, name=f"traza-trial-{trial.index}").start()
        return True

    def _ended(self, trial: Trial) -> None:
        """Record how a trial ended, tell the strategy, and keep the parent's best current."""
        if trial.run_id is not None:
            if self._strategy.prunes and not trial.pruned and not self._cancelled.is_set():
                pruning.report(
                    self._client, self._strategy, self.definition.metric, trial, may_prune=False
                )  # logged since the last look
            run = self._client.get_run(trial.run_id)
            trial.status = run.info.status
            metric = self.definition.metric
            value = run.data.metrics.get(metric) if metric else None
            trial.value = None if value is None else float(value)
        if trial.status == "KILLED" and not trial.pruned:
            return  # cancelled: the sweep is stopping
        state = _state(trial, self.definition.metric)
        self._strategy.seen(trial.index, trial.params, state, trial.value)
        shown = f" {self.definition.metric}={trial.value}" if trial.value is not None else ""
        label = "PRUNED" if trial.pruned else trial.status
        _say(f"Trial {trial.index} {label}{shown} (run {trial.run_id})")
        self._record_best()

    def _record_best(self) -> None:
        best = self.best
        if best is None or best.run_id is None:
            return
        from traza.entities import RunTag

        self._client.log_batch(
            self.parent_run_id,
            tags=[RunTag(BEST_RUN_TAG, best.run_id), RunTag(BEST_VALUE_TAG, repr(best.value))],
        )

    def _stop(self) -> None:
        """Cancel every started trial that has not ended, at once (each waits for its process
        group); a child run whose launch was interrupted is marked KILLED."""
        started = [t for t in self.trials if t.run_id is not None and t.status in ("PENDING",
                   "RUNNING")]  # fmt: skip
        threads = []
        for trial in started:
            if trial.submitted is None:
                continue
            thread = threading.Thread(target=trial.submitted.cancel, daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        for trial in started:
            if trial.submitted is None:
                self._client.set_terminated(trial.run_id, "KILLED")
                trial.status = "KILLED"
            else:  # as recorded: one that ended just before the cancel keeps its status
                trial.status = self._client.get_run(trial.run_id).info.status

    def _end(self, status: str) -> None:
        try:
            self._client.set_terminated(self.parent_run_id, status)
        finally:
            self._status = status
            self._done.set()


def _state(trial: Trial, metric: str | None) -> str:
    if trial.pruned:
        return "PRUNED"
    if trial.status != "FINISHED":
        return "FAIL"
    if metric is not None and (trial.value is None or math.isnan(trial.value)):
        return "FAIL"  # Optuna cannot learn from a trial that did not log the metric
    return "COMPLETE"


# -- building a sweep --------------------------------------------------------------------------
def sweep(
    uri: str = ".",
    entry_point: str | None = None,
    parameters: dict[str, Any] | None = None,
    *,
    strategy: str | None = None,
    trials: int | None = None,
    max_parallel: int | None = None,
    metric: str | None = None,
    goal: str | None = None,
    backend: str | None = None,
    backend_config: dict[str, Any] | str | None = None,
    seed: int | None = None,
    config: str | Path | None = None,
    new: bool = False,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    env_manager: str | None = None,
    version: str | None = None,
    run_name: str | None = None,
    pruner: str | None = None,
    pruner_startup_trials: int | None = None,
    pruner_warmup_steps: int | None = None,
    synchronous: bool = True,
    poll_seconds: float = 0.5,
) -> Sweep:
    """Run a hyperparameter sweep of the project at ``uri`` as a parent run with a child run
    per trial, and return it (after every trial ended, unless ``synchronous=False``).

    ``parameters`` maps each name to its values: a string in the sweep grammar
    (``"0.1,0.5"``, ``"range(0.1, 0.9, 5)"``, ``"uniform(0, 1)"``...) or a list of literal
    values. ``config`` is a YAML file with ``parameters:`` and any of these settings;
    arguments win over it. The same sweep run again resumes (``new=True`` starts afresh).
    """
    settings = defs.load_config(config) if config is not None else {}

    def pick(name: str, given: Any, default: Any) -> Any:
        return given if given is not None else settings.get(name, default)

    parameters = defs.merge_parameters(parameters, settings.get("parameters") or {})
    entry = str(pick("entry_point", entry_point, "main"))
    strategy_name = str(pick("strategy", strategy, "grid"))
    trial_count = pick("trials", trials, None)
    trial_count = None if trial_count is None else defs.positive("--trials", trial_count)
    parallel = defs.positive("--max-parallel", pick("max_parallel", max_parallel, 1))
    metric_name = pick("metric", metric, None)
    goal_name = str(pick("goal", goal, "minimize"))
    seed_value = pick("seed", seed, None)
    seed_value = None if seed_value is None else defs.positive("--seed", seed_value, 0)
    pruner_name = str(pick("pruner", pruner, "median"))
    startup = defs.positive("pruner_startup_trials", pick("pruner_startup_trials",
                            pruner_startup_trials, 2), 0)  # fmt: skip
    warmup = defs.positive("pruner_warmup_steps", pick("pruner_warmup_steps",
                           pruner_warmup_steps, 0), 0)  # fmt: skip
    backend_name = str(pick("backend", backend, "local"))
    config_backend = pick("backend_config", backend_config, None)
    manager = pick("env_manager", env_manager, None)
    version = pick("version", version, None)
    experiment_name = pick("experiment_name", experiment_name, None)
    experiment_id = pick("experiment_id", experiment_id, None)

    if goal_name not in defs.GOALS:
        raise SweepDefinitionError(f"--goal must be minimize or maximize, got {goal_name!r}.")
    if pruner_name not in defs.PRUNERS:
        raise SweepDefinitionError(f"The pruner must be median or none, got {pruner_name!r}.")
    if metric_name is not None and not str(metric_name).strip():
        raise SweepDefinitionError("--metric is empty; name the metric the trials log.")
    if strategy_name == "optuna" and metric_name is None:
        raise SweepDefinitionError("--strategy optuna needs --metric (the value it optimizes).")
    if experiment_name and experiment_id:
        raise SweepDefinitionError("Specify only one of 'experiment_name' or 'experiment_id'.")
    space = spaces.space(parameters)
    total = spaces.check_strategy(space, strategy_name, trial_count)
    if strategy_name == "optuna":
        strategies.strategy("optuna", space, 0, goal_name)  # Optuna installed? say so now
    definition = defs.Definition(
        uri=_canonical_uri(uri), version=version, entry_point=entry, space=space,
        strategy=strategy_name, trials=total, seed=seed_value,
        metric=None if metric_name is None else str(metric_name), goal=goal_name,
        pruner=pruner_name,
    )  # fmt: skip
    defaults = _check_project(uri, version, entry, space)
    from traza.projects.backends import load_backend

    load_backend(backend_name)  # an unknown backend is refused before any run exists

    from traza.client import TrazaClient

    client = TrazaClient()
    exp_id = _experiment_id(client, experiment_name, experiment_id)
    digest = definition.digest(exp_id)
    parent = None if new else _find_parent(client, exp_id, digest)
    kept: dict[int, Trial] = {}
    if parent is not None:
        parent_id = str(parent.info.run_id)
        drawn_seed = int(parent.data.tags.get(SEED_TAG, seed_value or 0))
        kept = _kept_trials(client, exp_id, parent_id, space, definition.metric)
        client.update_run(parent_id, status="RUNNING")
        _say(f"=== Resuming sweep (run '{parent_id}'): {len(kept)} of {total} trials kept ===")
    else:
        drawn_seed = seed_value if seed_value is not None else secrets.randbits(31)
        parent_id = _create_parent(client, exp_id, definition, digest, drawn_seed, run_name,
                                   backend_name)  # fmt: skip
        _say(f"=== Sweep '{parent_id}': {strategy_name}, {total} trials, {parallel} at a time ===")
    try:
        chosen = strategies.strategy(
            strategy_name, space, drawn_seed, goal_name, pruner_name, startup, warmup
        )
        for trial in sorted(kept.values(), key=lambda t: t.index):
            chosen.seen(trial.index, trial.params, _state(trial, definition.metric), trial.value)
    except BaseException:
        client.set_terminated(parent_id, "FAILED")
        raise
    trials_list: list[Trial] = []
    for index in range(total):
        trials_list.append(kept.get(index) or Trial(index, {}))

    def launch(trial: Trial) -> tuple[str, Any]:
        if not trial.params:
            trial.params = chosen.params(trial.index)
        return _launch_trial(
            client, trial, uri, version, entry, exp_id, parent_id, backend_name,
            config_backend, manager, defaults,
        )  # fmt: skip

    from traza.sweeps.arrays import sweep_class  # Slurm job arrays where they fit

    kind = sweep_class(strategy_name, backend_name, config_backend)
    result = kind(client, parent_id, definition, chosen, trials_list, launch, parallel,
                  poll_seconds)  # fmt: skip
    if synchronous:
        result._run()
    else:
        result._start_background()
    return result


def _canonical_uri(uri: str) -> str:
    """A local folder by its absolute path (the same project from another folder is the same)."""
    path, sep, sub = uri.partition("#")
    local = Path(path).expanduser()
    if "://" not in path and local.exists():
        return str(local.resolve()) + sep + sub
    return uri


def _check_project(
    uri: str, version: str | None, entry: str, space: spaces.Space
) -> dict[str, str]:
    """The project, its entry point and every finite value checked against its declared type;
    returns the defaults of the declared parameters the sweep does not set (logged on each
    trial, as ``traza run`` logs them)."""
    from traza.projects import params, sources
    from traza.projects.spec import load_project

    work = Path(tempfile.mkdtemp(prefix="traza-sweep-"))
    try:
        source = sources.fetch(uri, version, work / "project")
        entry_point = load_project(source.directory).entry_point(entry)
        for dimension in space.dimensions:
            declared = entry_point.parameters.get(dimension.name)
            if declared is None:
                continue
            kind = declared.type.lower()
            if dimension.kind in ("uniform", "loguniform") and kind in ("int", "bool"):
                raise SweepDefinitionError(
                    f"Parameter '{dimension.name}' is declared {kind}; {dimension.spec!r} draws "
                    "decimals (use int(lo, hi) or a list)."
                )
            for value in dimension.values:
                params.check_value(declared, value, source.directory)
        missing = [
            name
            for name, p in entry_point.parameters.items()
            if p.default is None and name not in {d.name for d in space.dimensions}
        ]
        if missing:
            raise SweepDefinitionError(
                "No values given for the entry point's required parameters: "
                + ", ".join(f"'{n}'" for n in missing)
                + " (add -P name=value)."
            )
        swept = {d.name for d in space.dimensions}
        return {
            name: str(p.default)
            for name, p in entry_point.parameters.items()
            if name not in swept and p.default is not None
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _experiment_id(client: Any, name: str | None, experiment_id: str | None) -> str:
    if experiment_id:
        return str(client.get_experiment(str(experiment_id)).experiment_id)
    if name:
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        _say(f"'{name}' does not exist. Creating a new experiment")
        from traza.exceptions import TrazaException

        try:
            return str(client.create_experiment(name))
        except TrazaException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return str(client.get_experiment_by_name(name).experiment_id)
    from traza.fluent import _resolve_experiment_id

    return _resolve_experiment_id()


def _search_all(client: Any, experiment_id: str, filter_string: str) -> list[Any]:
    from traza.entities import ViewType

    found: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string, ViewType.ACTIVE_ONLY, 1000, None, token
        )
        found.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return found


def _find_parent(client: Any, experiment_id: str, digest: str) -> Any:
    """The latest parent run with this sweep's hash in the experiment, if any."""
    runs = _search_all(client, experiment_id, f"tags.`{HASH_TAG}` = '{digest}'")
    return max(runs, key=lambda r: r.info.start_time or 0) if runs else None


def _kept_trials(
    client: Any, experiment_id: str, parent_id: str, space: spaces.Space, metric: str | None
) -> dict[int, Trial]:
    """The trials of the sweep being resumed that finished or were pruned; failed and
    cancelled ones run again (a failure is often the environment, fixed before rerunning)."""
    kept: dict[int, Trial] = {}
    names = [d.name for d in space.dimensions]
    for run in _search_all(client, experiment_id, f"tags.`{PARENT_TAG}` = '{parent_id}'"):
        tags = run.data.tags
        try:
            index = int(tags.get(TRIAL_TAG, ""))
        except ValueError:
            continue
        status = run.info.status
        if status not in _ENDED:
            client.set_terminated(run.info.run_id, "KILLED")  # left running by a dead sweep
            continue
        pruned = tags.get(PRUNED_TAG) == "true"
        if status != "FINISHED" and not pruned:
            continue  # failed or cancelled: run again
        value = run.data.metrics.get(metric) if metric else None
        trial = Trial(
            index,
            {n: run.data.params[n] for n in names if n in run.data.params},
            run_id=str(run.info.run_id),
            status=status,
            value=None if value is None else float(value),
            pruned=pruned,
            resumed=True,
        )
        if index not in kept or kept[index].status != "FINISHED":
            kept[index] = trial
    return kept


def _common_tags(definition_uri: str, entry: str, backend: str) -> dict[str, str]:
    from traza import context
    from traza.config import current_user

    return {
        context.USER: current_user(),
        context.SOURCE_NAME: definition_uri,
        context.SOURCE_TYPE: "PROJECT",
        "mlflow.project.entryPoint": entry,
        "mlflow.project.backend": backend,
    }


def _definition_tag(data: dict[str, Any]) -> str:
    """The definition as JSON within a tag's 8,000 characters: long value lists are cut to
    their first values and a count (``sweep.json`` keeps them whole)."""
    text = json.dumps(data, sort_keys=True)
    if len(text) <= 8000:
        return text
    short = {**data, "parameters": {}}
    for name, dim in data["parameters"].items():
        values = dim.get("values")
        if values is not None and len(values) > 5:
            dim = {**dim, "values": values[:5], "count": len(values)}
        short["parameters"][name] = dim
    text = json.dumps(short, sort_keys=True)
    if len(text) <= 8000:
        return text
    return json.dumps({k: v for k, v in short.items() if k != "parameters"} | {
        "parameters": {n: {"kind": d["kind"]} for n, d in data["parameters"].items()}
    }, sort_keys=True)[:8000]  # fmt: skip


def _create_parent(
    client: Any,
    experiment_id: str,
    definition: defs.Definition,
    digest: str,
    seed: int,
    run_name: str | None,
    backend: str,
) -> str:
    text = json.dumps(definition.to_dict(), indent=2, sort_keys=True)
    tags = {
        **_common_tags(definition.uri, definition.entry_point, backend),
        HASH_TAG: digest,
        DEFINITION_TAG: _definition_tag(definition.to_dict()),
        SEED_TAG: str(seed),
        "traza.sweep.strategy": definition.strategy,
        "traza.sweep.trials": str(definition.trials),
        "traza.sweep.goal": definition.goal,
    }
    if definition.metric:
        tags["traza.sweep.metric"] = definition.metric
    name = run_name or f"sweep-{definition.entry_point}-{digest[:6]}"
    run = client.create_run(experiment_id, tags=tags, run_name=name)
    parent_id = str(run.info.run_id)
    try:
        client.log_text(parent_id, text, DEFINITION_ARTIFACT)
    except BaseException:
        client.set_terminated(parent_id, "FAILED")
        raise
    return parent_id


def _launch_trial(
    client: Any,
    trial: Trial,
    uri: str,
    version: str | None,
    entry: str,
    experiment_id: str,
    parent_id: str,
    backend: str,
    backend_config: Any,
    env_manager: str | None,
    defaults: dict[str, str],
) -> tuple[str, Any]:
    """Create the trial's child run (its values and the entry point's other defaults logged),
    then hand it to the backend by its id."""
    from traza.entities import Param
    from traza.projects import run as run_project

    tags = {
        **_common_tags(_canonical_uri(uri), entry, backend),
        PARENT_TAG: parent_id,
        TRIAL_TAG: str(trial.index),
    }
    child = client.create_run(experiment_id, tags=tags, run_name=f"trial-{trial.index}")
    trial.run_id = str(child.info.run_id)
    logged = {**defaults, **trial.params}
    client.log_batch(trial.run_id, params=[Param(k, v) for k, v in logged.items()])
    submitted = run_project(
        uri,
        entry,
        version,
        parameters=dict(trial.params),
        experiment_id=experiment_id,
        backend=backend,
        backend_config=backend_config,
        synchronous=False,
        run_id=trial.run_id,
        env_manager=env_manager,
    )
    return trial.run_id, submitted
