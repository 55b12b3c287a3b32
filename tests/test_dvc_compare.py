"""``traza reproduce``'s verdict on metrics: equal, within the tolerance, different, missing."""

from __future__ import annotations

import math

from traza.reproduce import Reproduction, compare_metrics, format_report


def test_each_metric_gets_a_verdict() -> None:
    original = {"r2": 0.9, "mae": 100.0, "zero": 0.0, "nan": math.nan, "gone": 1.0, "far": 1.0}
    again = {"r2": 0.9, "mae": 100.0 + 1e-7, "zero": 1e-12, "nan": math.nan, "far": 1.1, "x": 2.0}
    verdicts = {c.key: c.result for c in compare_metrics(original, again, tolerance=1e-6)}
    assert verdicts == {
        "r2": "equal",
        "mae": "within tolerance",  # relative: 1e-9 of the value
        "zero": "within tolerance",  # absolute near zero
        "nan": "equal",
        "gone": "missing",
        "far": "different",
        "x": "new",
    }
    strict = {c.key: c.result for c in compare_metrics(original, again, tolerance=0.0)}
    assert strict["mae"] == strict["zero"] == "different"


def test_the_report_counts_the_original_metrics() -> None:
    comparisons = compare_metrics({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0, "c": 3.0}, 1e-9)
    result = Reproduction("old", "new", comparisons)
    assert result.matches  # a metric only the reproduction logged does not fail it
    report = format_report(result)
    assert report.splitlines()[0].split() == ["metric", "original", "reproduced", "result"]
    assert "c       -         3.0         new" in report
    assert report.splitlines()[-1] == (
        "Run new reproduced run old: 2 of 2 metrics match (equal or within the tolerance)."
    )
    assert not Reproduction("old", "new", compare_metrics({"a": 1.0}, {"a": 2.0}, 0.1)).matches
