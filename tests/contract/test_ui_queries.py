"""What the web UI reads (column keys, sampled histories, metric summaries), on every store."""

from __future__ import annotations

import math
import random

import pytest

from traza.entities import Metric, Param, RunTag
from traza.exceptions import TrazaException
from traza.store.base import Store


def _log(store: Store, run_id: str, points: list[Metric]) -> None:
    for i in range(0, len(points), 1000):
        store.log_batch(run_id, metrics=points[i : i + 1000])


def _run(store: Store, experiment_id: str = "0") -> str:
    return store.create_run(experiment_id, "u", 1000, [], None).info.run_id


def test_experiment_keys_over_several_experiments(store: Store) -> None:
    a, b, other = (store.create_experiment(n) for n in ("a", "b", "other"))
    r1, r2, gone, elsewhere = _run(store, a), _run(store, b), _run(store, a), _run(store, other)
    store.log_batch(r1, [Metric("loss", 1.0, 1, 0)], [Param("lr", "0.1")], [RunTag("team", "x")])
    store.log_batch(r2, [Metric("acc", 1.0, 1, 0), Metric("loss", 2, 1, 0)], [Param("depth", "3")])
    store.log_batch(gone, [Metric("deleted_metric", 1.0, 1, 0)], [Param("deleted_param", "1")])
    store.log_batch(elsewhere, [Metric("other_metric", 1.0, 1, 0)], [Param("other", "1")])
    store.delete_run(gone)
    keys = store.get_experiment_keys([a, b])
    assert keys.params == ("depth", "lr")
    assert keys.metrics == ("acc", "loss")
    assert keys.tags == ("mlflow.runName", "team")
    assert store.get_experiment_keys([b]).params == ("depth",)
    assert store.get_experiment_keys([]).params == ()


def test_experiment_summaries(store: Store) -> None:
    a, b, empty = (store.create_experiment(n) for n in ("sum-a", "sum-b", "sum-empty"))
    store.create_run(a, "u", 1_000, [], None)
    store.create_run(a, "u", 5_000, [], None)
    store.delete_run(store.create_run(a, "u", 9_000, [], None).info.run_id)
    store.create_run(b, "u", 2_000, [], None)
    got = store.get_experiment_summaries([b, empty, a])
    assert [(s.experiment_id, s.run_count, s.last_run_start_time) for s in got] == [
        (b, 1, 2_000),
        (empty, 0, None),
        (a, 2, 5_000),
    ]
    assert store.get_experiment_summaries([]) == []
    with pytest.raises(TrazaException):
        store.get_experiment_summaries(["not-an-id"])


def test_sampled_history_keeps_extremes(store: Store) -> None:
    run_id = _run(store)
    rng = random.Random(7)
    values = [rng.gauss(0.0, 1.0) for _ in range(100_000)]
    values[31_337], values[77_001] = 50.0, -50.0  # single-point spikes
    _log(store, run_id, [Metric("noisy", v, 1_000 + i, i) for i, v in enumerate(values)])
    history = store.get_metric_history_sampled(run_id, "noisy", max_points=500)
    assert history.total == 100_000 and history.sampled
    assert 0 < len(history.points) <= 500
    drawn = [v for _, v in history.points]
    assert max(drawn) == 50.0 and min(drawn) == -50.0
    assert (31_337, 50.0) in history.points and (77_001, -50.0) in history.points
    assert (history.min, history.max) == (-50.0, 50.0)
    xs = [x for x, _ in history.points]
    assert xs == sorted(xs) and xs[0] == 0 and xs[-1] == 99_999
    assert history.points[-1] == (99_999, values[-1])


def test_sampled_history_exact_when_it_fits(store: Store) -> None:
    run_id = _run(store)
    points = [Metric("m", float(i * i), 5_000 + 10 * i, i) for i in range(50)]
    _log(store, run_id, points)
    history = store.get_metric_history_sampled(run_id, "m", max_points=50)
    assert not history.sampled and history.total == 50
    assert history.points == tuple((i, float(i * i)) for i in range(50))
    by_time = store.get_metric_history_sampled(run_id, "m", max_points=100, x_axis="timestamp")
    assert by_time.points[0] == (5_000, 0.0) and by_time.x_axis == "timestamp"
    relative = store.get_metric_history_sampled(run_id, "m", max_points=100, x_axis="relative")
    assert relative.points[:3] == ((0, 0.0), (10, 1.0), (20, 4.0))


def test_sampled_history_relative_axis_when_sampled(store: Store) -> None:
    run_id = _run(store)
    _log(store, run_id, [Metric("m", float(i % 7), 10_000 + 2 * i, i) for i in range(3_000)])
    history = store.get_metric_history_sampled(run_id, "m", max_points=100, x_axis="relative")
    assert history.sampled and len(history.points) <= 100
    xs = [x for x, _ in history.points]
    assert xs[0] == 0 and xs[-1] == 2 * 2_999 and xs == sorted(xs)
    assert {0.0, 6.0} <= {v for _, v in history.points}


def test_sampled_history_non_finite(store: Store) -> None:
    run_id = _run(store)
    points = [Metric("m", float(i), 1, i) for i in range(200)]
    points[10] = Metric("m", math.inf, 1, 10)
    points[20] = Metric("m", -math.inf, 1, 20)
    points[30] = Metric("m", math.nan, 1, 30)
    _log(store, run_id, points)
    exact = store.get_metric_history_sampled(run_id, "m", max_points=1000)
    assert exact.points[10] == (10, math.inf) and exact.points[20] == (20, -math.inf)
    assert exact.points[30][0] == 30 and math.isnan(exact.points[30][1])
    assert (exact.min, exact.max) == (-math.inf, math.inf)
    sampled = store.get_metric_history_sampled(run_id, "m", max_points=20)
    assert sampled.sampled and len(sampled.points) <= 20
    assert (10, math.inf) in sampled.points and (20, -math.inf) in sampled.points
    run_id = _run(store)
    _log(store, run_id, [Metric("nan", math.nan, 1, i) for i in range(30)])
    only_nan = store.get_metric_history_sampled(run_id, "nan", max_points=10)
    assert only_nan.total == 30 and 0 < len(only_nan.points) <= 10
    assert all(math.isnan(v) for _, v in only_nan.points)
    assert (only_nan.min, only_nan.max) == (None, None)


def test_sampled_histories_of_several_runs(store: Store) -> None:
    runs = [_run(store) for _ in range(3)]
    for n, run_id in enumerate(runs):
        _log(store, run_id, [Metric("m", float(n), 1, i) for i in range(10 * (n + 1))])
    series = store.get_metric_histories_sampled(runs[::-1], "m", max_points=15)
    assert [s.run_id for s in series] == runs[::-1]
    assert [s.total for s in series] == [30, 20, 10]
    assert [s.sampled for s in series] == [True, True, False]
    missing_key = store.get_metric_history_sampled(runs[0], "absent")
    assert (missing_key.total, missing_key.points) == (0, ())


def test_sampled_history_refuses_bad_requests(store: Store) -> None:
    run_id = _run(store)
    with pytest.raises(TrazaException) as e:
        store.get_metric_history_sampled(run_id, "m", max_points=1)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(TrazaException) as e:
        store.get_metric_history_sampled(run_id, "m", x_axis="wall")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(TrazaException) as e:
        store.get_metric_history_sampled("0" * 32, "m")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_metric_summaries_match_points(store: Store) -> None:
    run_id = _run(store)
    _log(
        store,
        run_id,
        [
            Metric("loss", 3.0, 100, 0),
            Metric("loss", 1.0, 200, 1),
            Metric("loss", 2.0, 300, 2),
            Metric("acc", 0.5, 100, 0),
            Metric("acc", math.nan, 150, 5),
        ],
    )
    summaries = {s.key: s for s in store.get_metric_summaries(run_id)}
    assert list(summaries) == ["acc", "loss"]
    loss = summaries["loss"]
    assert (loss.latest, loss.min, loss.max, loss.count) == (2.0, 1.0, 3.0, 3)
    assert (loss.last_step, loss.last_timestamp) == (2, 300)
    acc = summaries["acc"]
    assert math.isnan(acc.latest) and (acc.min, acc.max, acc.count) == (0.5, 0.5, 2)
    assert (acc.last_step, acc.last_timestamp) == (5, 150)
    assert store.get_metric_summaries(_run(store)) == []
    with pytest.raises(TrazaException) as e:
        store.get_metric_summaries("0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_sampled_history_without_steps_by_time(store: Store) -> None:
    """Points logged without a step (all step 0) are bucketed by time on the time axes."""
    run_id = _run(store)
    values = [float(i % 10) for i in range(3_000)]
    values[1_234] = 99.0
    _log(store, run_id, [Metric("m", v, 50_000 + 3 * i, 0) for i, v in enumerate(values)])
    history = store.get_metric_history_sampled(run_id, "m", max_points=200, x_axis="timestamp")
    assert history.sampled and 100 < len(history.points) <= 200
    assert (50_000 + 3 * 1_234, 99.0) in history.points
    xs = [x for x, _ in history.points]
    assert xs == sorted(xs) and xs[0] == 50_000 and xs[-1] == 50_000 + 3 * 2_999


def test_sampled_history_in_an_x_range_gets_the_detail_back(store: Store) -> None:
    """A zoomed chart asks for its x range: every point there when it fits, sampled when not."""
    run_id = _run(store)
    rng = random.Random(3)
    values = [rng.random() for _ in range(20_000)]
    _log(store, run_id, [Metric("m", v, 100_000 + 5 * i, i) for i, v in enumerate(values)])
    whole = store.get_metric_history_sampled(run_id, "m", max_points=200)
    assert whole.sampled and len(whole.points) <= 200
    zoomed = store.get_metric_history_sampled(run_id, "m", max_points=200, x_range=(1_000, 1_150))
    assert not zoomed.sampled and zoomed.total == 20_000
    assert zoomed.points == tuple((i, values[i]) for i in range(1_000, 1_151))
    wider = store.get_metric_history_sampled(run_id, "m", max_points=200, x_range=(5_000, 9_999))
    assert wider.sampled and len(wider.points) <= 200
    assert wider.points[0] == (5_000, values[5_000]) and wider.points[-1] == (9_999, values[9_999])
    peak = max(range(5_000, 10_000), key=lambda i: values[i])
    assert (peak, values[peak]) in wider.points
    by_time = store.get_metric_history_sampled(
        run_id,
        "m",
        max_points=200,
        x_axis="timestamp",
        x_range=(100_000 + 5 * 50, 100_000 + 5 * 60),
    )
    assert by_time.points == tuple((100_000 + 5 * i, values[i]) for i in range(50, 61))
    relative = store.get_metric_history_sampled(
        run_id, "m", max_points=200, x_axis="relative", x_range=(5 * 50, 5 * 60)
    )
    assert relative.points == tuple((5 * i, values[i]) for i in range(50, 61))
    empty = store.get_metric_history_sampled(run_id, "m", x_range=(50_000, 60_000))
    assert (empty.points, empty.total) == ((), 20_000)
    with pytest.raises(TrazaException) as e:
        store.get_metric_history_sampled(run_id, "m", x_range=(10, 5))
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
