"""Scenario 5, fuzzing: generated filters and order_by clauses, and schemathesis on the REST API.

**Search grammar.** A generator of its own builds filter strings from the grammar's pieces
(entities and their aliases, quoted and bare keys, every comparator, numbers, strings, lists,
AND/OR, parentheses) mixed with hostile ones (SQL fragments, NUL, unicode, huge numbers, very
long keys), and mutates a share of them character by character. Each string (and an order_by
list beside it) goes through the grammar (runs and experiments) and into ``search_runs`` and
``search_experiments`` of a seeded SQLite store and a seeded PostgreSQL store (a database of its
own on the machine's server, dropped after). The only acceptable outcomes are a result or the
store's clear error (``INVALID_PARAMETER_VALUE``); anything else is a failure, reported with the
input that caused it. Where both stores answer, their run ids must agree.

**REST API.** schemathesis reads the server's own description (``/api/traza/v1/openapi.json``)
and sends generated requests to a live ``traza server`` on a seeded store: no 5xx, and every
answer of the declared content type and schema. The multipart and presigned-URL operations are
left out: over a local artifact folder they answer 501 Not Implemented by design (as MLflow's
server does; ``server-info`` says so).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torture._support import Server, scratch
from torture.result import Result


@dataclass(frozen=True)
class Scale:
    inputs: int
    #: How many of the inputs also go into each store's searches.
    sqlite_inputs: int
    postgres_inputs: int
    schemathesis_examples: int
    schemathesis_seconds: int
    schemathesis_mode: str


SCALES = {
    "ci": Scale(20_000, 20_000, 10_000, 5, 60, "positive"),
    "full": Scale(1_000_000, 1_000_000, 1_000_000, 100, 600, "all"),
}

# -- the generator --------------------------------------------------------------------------------
_ENTITIES = [
    "metrics", "metric", "params", "param", "parameters", "tags", "tag", "attributes",
    "attribute", "attr", "run", "datasets", "dataset", "METRICS", "Params", "foo", "", "metrics.",
]  # fmt: skip
_KEYS = [
    "rmse", "loss", "acc", "model", "lr", "mlflow.runName", "run_id", "run_name", "status",
    "user_id", "start_time", "end_time", "artifact_uri", "created", "Created", "name",
    "digest", "context", "experiment_id", "creation_time", "last_update_time", "a b", "x.y.z",
    "ключ", "🙂", "k" * 300, "1abc", "_", "select", "and", "AND", "null", "in",
]  # fmt: skip
_OPS = [
    "=", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "like", "ILIKE", "IN", "NOT IN", "not in",
    "IS NULL", "IS NOT NULL", "is null", "==", "~", "=<", "LIKE LIKE", "IS", "NOT",
]  # fmt: skip
_NUMBERS = [
    "0", "1", "-1", "0.5", "-0.0", "1e10", "1e400", "-1e400", "1E-5", "123456789012345678901234",
    ".5", "5.", "+3", "9223372036854775808", "-9223372036854775809", "nan", "inf", "1e", "0x10",
]  # fmt: skip
_STRINGS = [
    "rf", "%", "_", "%r%", "a%b_c", "", "it''s", "it\\'s", "\\", "\\\\", "😀", "\x00",
    "'; DROP TABLE runs; --", "FINISHED", "RUNNING", "a" * 2000, "ü", "\n", "\t", "%%%_%",
]  # fmt: skip
_HOSTILE = [
    "", " ", "(", ")", "()", "'", '"', "`", "``", "AND", "and and", ",", "metrics.", "metrics.`",
    "metrics.rmse", "metrics.rmse <", "metrics.rmse < 1 AND", "OR", "1 = 1", "'a' = 'a'",
    "metrics.rmse < 1; DELETE FROM runs", "params.model = 'rf' -- ", "\x00", "\ud800",
    "metrics.\"rmse\" = 1", "tags.`mlflow.runName` LIKE '%'", "attributes.run_id IN ()",
]  # fmt: skip


def _key(rng: random.Random) -> str:
    key = rng.choice(_KEYS)
    style = rng.random()
    if style < 0.15:
        return f"`{key}`"
    if style < 0.25:
        return '"' + key.replace('"', '\\"') + '"'
    if style < 0.3:
        return "'" + key.replace("'", "''") + "'"
    return key


def _string(rng: random.Random) -> str:
    text = rng.choice(_STRINGS)
    if rng.random() < 0.1:
        return '"' + text.replace('"', '\\"') + '"'
    return "'" + text.replace("'", "''") + "'"


def _value(rng: random.Random, op: str) -> str:
    if op.upper() in ("IS NULL", "IS NOT NULL"):
        return ""
    if op.upper() in ("IN", "NOT IN") and rng.random() < 0.8:
        items = [_string(rng) if rng.random() < 0.8 else rng.choice(_NUMBERS)]
        items += [_string(rng) for _ in range(rng.randrange(3))]
        return "(" + ", ".join(items) + ")" if rng.random() < 0.9 else ", ".join(items)
    return rng.choice(_NUMBERS) if rng.random() < 0.5 else _string(rng)


#: (entities, keys, comparators, value kind) of comparisons the grammar accepts.
_TYPED = [
    (["metrics", "metric"], ["rmse", "loss", "acc", "`a b`", '"x.y"'],
     ["=", "!=", "<", "<=", ">", ">="], "n"),
    (["params", "param", "tags", "tag"], ["model", "lr", "team", "`mlflow.runName`", "version",
     "name", "status"], ["=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"], "s"),
    (["attributes", "attribute", "attr", "run", ""], ["run_name", "status", "user_id",
     "artifact_uri", "name", "experiment_id", "source_run_id", "model_type"],
     ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"], "s"),
    (["attributes", ""], ["run_id"], ["=", "IN", "NOT IN", "LIKE"], "s"),
    (["attributes", ""], ["start_time", "end_time", "created", "creation_time",
     "last_update_time", "version_number", "creation_timestamp"], ["=", "<", ">=", "!="], "n"),
    (["datasets", "dataset"], ["name", "digest", "context"], ["=", "!=", "LIKE", "IN"], "s"),
]  # fmt: skip


def _typed(rng: random.Random) -> str:
    entities, keys, ops, kind = rng.choice(_TYPED)
    entity, key, op = rng.choice(entities), rng.choice(keys), rng.choice(ops)
    ident = f"{entity}.{key}" if entity else key
    if op in ("IS NULL", "IS NOT NULL"):
        value = ""
    elif op in ("IN", "NOT IN"):
        value = "(" + ", ".join(_string(rng) for _ in range(rng.randrange(1, 4))) + ")"
    else:
        value = rng.choice(_NUMBERS[:9]) if kind == "n" else _string(rng)
    return " ".join(p for p in (ident, op, value) if p)


def _comparison(rng: random.Random) -> str:
    if rng.random() < 0.85:
        return _typed(rng)
    entity = rng.choice(_ENTITIES)
    key = _key(rng)
    ident = f"{entity}.{key}" if entity and rng.random() < 0.9 else key
    op = rng.choice(_OPS)
    return " ".join(p for p in (ident, op, _value(rng, op)) if p)


def _filter(rng: random.Random) -> str:
    if rng.random() < 0.03:
        return rng.choice(_HOSTILE)
    parts = [_comparison(rng) for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3, 5)))] or [""]
    joins = ["AND"] * 30 + ["and", "OR", "&&", ",", ""]
    text = parts[0]
    for part in parts[1:]:
        text += f" {rng.choice(joins)} {part}"
    if rng.random() < 0.03:
        text = f"({text})"
    return text


def _order_by(rng: random.Random) -> list[str]:
    clauses = []
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        if rng.random() < 0.7:
            entities, keys, _, _ = rng.choice(_TYPED)
            entity, key = rng.choice(entities), rng.choice(keys)
        else:
            entity, key = rng.choice(_ENTITIES), _key(rng)
        clause = f"{entity}.{key}" if entity else key
        clause += rng.choice(["", "", " ASC", " DESC", " desc", " asc", " DOWN", "  DESC  ", ","])
        clauses.append(clause)
    if rng.random() < 0.02:
        clauses.append(rng.choice(["", " ", "DESC", "metrics.rmse DESC DESC", "`", "\x00"]))
    return clauses


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randrange(1, 4)):
        action = rng.randrange(5)
        at = rng.randrange(len(chars) + 1)
        if action == 0:
            chars.insert(at, rng.choice("'\"`()., =<>!%_\\\x00é😀-+eE0123456789aAnN"))
        elif action == 1 and chars:
            del chars[min(at, len(chars) - 1)]
        elif action == 2 and chars:
            chars[min(at, len(chars) - 1)] = rng.choice("'\"` ().")
        elif action == 3:
            chars = chars[:at]
        elif chars:
            lo = rng.randrange(len(chars))
            chars[at:at] = chars[lo : lo + rng.randrange(1, 12)]
    return "".join(chars)


def inputs(seed: int, count: int) -> Iterator[tuple[str, list[str]]]:
    """``count`` (filter, order_by) pairs; a third of them mutated; reproducible by seed."""
    rng = random.Random(seed)
    for _ in range(count):
        text = _filter(rng)
        order = _order_by(rng)
        if rng.random() < 0.25:
            text = _mutate(rng, text)
        if order and rng.random() < 0.1:
            i = rng.randrange(len(order))
            order[i] = _mutate(rng, order[i])
        yield text, order


# -- the stores -----------------------------------------------------------------------------------
def seed_store(store: Any) -> list[str]:
    """A few runs with every kind of field the grammar reaches; their experiment ids."""
    from traza.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

    rng = random.Random(7)
    experiments = [store.create_experiment(f"fuzz-{i}", None, []) for i in range(2)]
    for i in range(24):
        exp = experiments[i % 2]
        run = store.create_run(exp, f"user{i % 3}", 1_000 + i, [], f"run-{i}")
        rid = run.info.run_id
        metrics = [Metric(k, rng.choice([rng.random(), float("nan"), -1.0, 1e300]), 5, 0)
                   for k in ("rmse", "loss", "acc")[: 1 + i % 3]]  # fmt: skip
        params = [Param("model", rng.choice(["rf", "xgb", "a%b_c", "it's"])), Param("lr", str(i))]
        tags = [RunTag("team", rng.choice(["a", "b", "ü"])), RunTag("k" * 250, "long")]
        store.log_batch(rid, metrics, params, tags)
        if i % 4 == 0:
            dataset = Dataset(f"ds{i % 8}", f"d{i}", "local", "/tmp/x")
            store.log_inputs(
                rid, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))]
            )
        if i % 5 == 0:
            store.update_run_info(rid, "FINISHED", 2_000 + i, None)
        if i % 6 == 0:
            model = store.create_logged_model(exp, f"model-{i}", rid, model_type="fuzz")
            name = f"registered-{i % 12}"
            if i < 12:
                store.create_registered_model(name, description="fuzz")
            store.create_model_version(
                name, f"models:/{model.model_id}", rid, model_id=model.model_id
            )
    return experiments


@dataclass
class Outcome:
    """What one store did with the inputs."""

    answered: int = 0
    refused: int = 0
    failures: Counter[str] | None = None
    examples: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.failures = Counter()
        self.examples = {}

    def fail(self, what: str, example: str) -> None:
        assert self.failures is not None and self.examples is not None
        self.failures[what] += 1
        self.examples.setdefault(what, example)


def _classify(outcome: Outcome, call: Callable[[], Any], example: str) -> Any:
    from traza.exceptions import TrazaException

    try:
        value = call()
    except TrazaException as e:
        if e.error_code == "INVALID_PARAMETER_VALUE":
            outcome.refused += 1
        else:
            outcome.fail(f"{e.error_code}: {_shape(e.message)}", example)
        return None
    except Exception as e:  # every other exception is a finding
        outcome.fail(f"{type(e).__name__}: {_shape(str(e))}", example)
        return None
    outcome.answered += 1
    return value


def _shape(message: str) -> str:
    """A message with its quoted parts and numbers blanked, so one bug counts once."""
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message))[:160]


def grammar_pass(pairs: list[tuple[str, list[str]]]) -> Outcome:
    from traza.search import grammar, logged_models, registry

    parsers = [
        grammar.parse_run_filter, grammar.parse_experiment_filter,
        registry.parse_registered_model_filter, registry.parse_model_version_filter,
        logged_models.parse_logged_model_filter,
    ]  # fmt: skip
    orderers = [
        grammar.parse_run_order_by, grammar.parse_experiment_order_by,
        registry.parse_registered_model_order_by, registry.parse_model_version_order_by,
        logged_models.parse_logged_model_order_by,
    ]  # fmt: skip
    outcome = Outcome()
    for text, order in pairs:
        example = f"filter={text!r} order_by={order!r}"
        for parse in parsers:
            _classify(outcome, lambda: parse(text), example)  # noqa: B023 - called at once
        for parse_order in orderers:
            _classify(outcome, lambda: parse_order(order), example)  # noqa: B023
    return outcome


def store_pass(
    store: Any, experiments: list[str], pairs: list[tuple[str, list[str]]]
) -> tuple[Outcome, list[Any]]:
    """Every pair into search_runs and search_experiments; the run ids each answer gave."""
    outcome = Outcome()
    answers: list[Any] = []
    others: list[Callable[[str, list[str]], Any]] = [
        lambda f, o: store.search_experiments(max_results=50, filter_string=f, order_by=o),
        lambda f, o: store.search_registered_models(f, max_results=50, order_by=o),
        lambda f, o: store.search_model_versions(f, max_results=50, order_by=o),
        lambda f, o: store.search_logged_models(experiments, f, max_results=50, order_by=o),
    ]
    for text, order in pairs:
        example = f"filter={text!r} order_by={order!r}"
        page = _classify(
            outcome,
            lambda: store.search_runs(experiments, text, max_results=50, order_by=order),  # noqa: B023
            example,
        )
        answers.append(None if page is None else [r.info.run_id for r in page])
        other = others[len(answers) % len(others)]
        _classify(outcome, lambda: other(text, order), example)  # noqa: B023 - called at once
    return outcome, answers


def _record(result: Result, name: str, outcome: Outcome) -> None:
    assert outcome.failures is not None and outcome.examples is not None
    result.figures[f"{name} answered"] = outcome.answered
    result.figures[f"{name} refused (clear error)"] = outcome.refused
    for what, n in outcome.failures.most_common(10):
        result.failures.append(f"{name}: {n} x {what} — e.g. {outcome.examples[what][:300]}")


def fuzz_stores(result: Result, scale: Scale, root: Path) -> None:
    """All inputs through the grammar; the first ``sqlite_inputs``/``postgres_inputs`` of them
    into each store too (a search costs a thousand times a parse)."""
    from torture.server_load import postgres_database
    from traza.store.uri import open_store

    chunk = 10_000
    seconds: Counter[str] = Counter()
    grammar, sqlite_out, pg_out = Outcome(), Outcome(), Outcome()
    examples: list[str] = []
    disagreements = 0
    with postgres_database() as url:
        sqlite = open_store(f"sqlite:///{root / 'fuzz.db'}")
        pg = open_store(url)
        exps = [seed_store(s) for s in (sqlite, pg)]
        done = 0
        while done < scale.inputs:
            n = min(chunk, scale.inputs - done)
            pairs = list(inputs(seed=done + 1, count=n))
            started = time.monotonic()
            _merge(grammar, grammar_pass(pairs))
            seconds["grammar"] += time.monotonic() - started
            answers = []
            for name, store, exp, limit, total in (
                ("sqlite", sqlite, exps[0], scale.sqlite_inputs, sqlite_out),
                ("postgresql", pg, exps[1], scale.postgres_inputs, pg_out),
            ):
                started = time.monotonic()
                part, got = store_pass(store, exp, pairs[: max(0, limit - done)])
                seconds[name] += time.monotonic() - started
                _merge(total, part)
                answers.append(got)
            for pair, x, y in zip(pairs, *answers, strict=False):
                if x is not None and y is not None and not _agree(sqlite, x, pg, y, *pair):
                    disagreements += 1
                    if len(examples) < 3:
                        examples.append(f"filter={pair[0]!r} order_by={pair[1]!r}")
            done += n
        sqlite.close()
        pg.close()
    for name, count, total in (
        ("grammar", scale.inputs, grammar),
        ("sqlite", min(scale.inputs, scale.sqlite_inputs), sqlite_out),
        ("postgresql", min(scale.inputs, scale.postgres_inputs), pg_out),
    ):
        result.figures[f"{name} inputs"] = count
        result.figures[f"{name} inputs/s"] = round(count / max(seconds[name], 1e-9), 1)
        _record(result, name, total)
    result.figures["sqlite/postgresql disagreements"] = disagreements
    result.check(
        disagreements == 0,
        f"SQLite and PostgreSQL answered {disagreements} searches differently, e.g. "
        f"{'; '.join(examples)}",
    )


def _agree(a: Any, ids_a: list[str], b: Any, ids_b: list[str], text: str, order: list[str]) -> bool:
    """Same runs; in the same order too unless ordered by what differs between the stores."""
    if any(word in text for word in ("run_id", "artifact_uri")):
        return True  # ids are random per store: a filter on them selects different runs
    names_a, names_b = _names(a, ids_a), _names(b, ids_b)
    if any(word in " ".join(order) for word in ("run_id", "artifact_uri")):
        return sorted(names_a) == sorted(names_b)
    return names_a == names_b


_NAME_CACHE: dict[tuple[int, str], str] = {}


def _names(store: Any, run_ids: list[str]) -> list[str]:
    """Run names (equal across the two seeded stores) in the order a search returned them."""
    out = []
    for run_id in run_ids:
        key = (id(store), run_id)
        if key not in _NAME_CACHE:
            _NAME_CACHE[key] = store.get_run(run_id).info.run_name
        out.append(_NAME_CACHE[key])
    return out


def _merge(total: Outcome, part: Outcome) -> None:
    assert total.failures is not None and part.failures is not None
    assert total.examples is not None and part.examples is not None
    total.answered += part.answered
    total.refused += part.refused
    total.failures.update(part.failures)
    for k, v in part.examples.items():
        total.examples.setdefault(k, v)


# -- schemathesis ---------------------------------------------------------------------------------
def fuzz_api(result: Result, scale: Scale, root: Path) -> None:
    from traza.store.uri import open_store

    db = root / "api.db"
    store = open_store(f"sqlite:///{db}")
    seed_store(store)
    store.close()
    with Server(f"sqlite:///{db}", root / "api-artifacts") as server:
        command = [
            str(Path(sys.executable).with_name("schemathesis")), "run",
            f"{server.url}/api/traza/v1/openapi.json",
            "--checks", "not_a_server_error,content_type_conformance,response_schema_conformance",
            "--phases", "examples,coverage,fuzzing", "--mode", scale.schemathesis_mode,
            "-n", str(scale.schemathesis_examples), "--max-time", str(scale.schemathesis_seconds),
            "--seed", "19", "--no-shrink", "--workers", "2", "--warnings", "off",
            "--exclude-path-regex", "mpu/|presigned", "--request-timeout", "60",
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=root,
            timeout=scale.schemathesis_seconds + 300,
            env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        result.figures["schemathesis seconds"] = round(time.monotonic() - started, 1)
    out = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", out)
    result.figures["schemathesis requests generated"] = int(generated.group(1)) if generated else 0
    operations = re.search(r"Tested: (\d+)", out)
    result.figures["schemathesis operations"] = int(operations.group(1)) if operations else 0
    if done.returncode != 0:
        failures = out[out.find("FAILURES") :] if "FAILURES" in out else out[-3000:]
        result.failures.append(f"schemathesis found problems:\n{failures[:4000]}")


def run(scale: str) -> Result:
    s = SCALES[scale]
    result = Result(
        "fuzz",
        f"{s.inputs:,} filter/order_by inputs through the grammar, SQLite and PostgreSQL; "
        f"schemathesis ({s.schemathesis_mode}, {s.schemathesis_examples} examples/operation)",
    )
    with scratch("fuzz") as root:
        fuzz_stores(result, s, root)
        fuzz_api(result, s, root)
    return result
