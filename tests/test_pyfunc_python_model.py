"""Custom Python models (``traza.pyfunc.PythonModel``): save, log, load, predict, signatures from
type hints, artifacts, code paths, models from code, serving, and both ways with MLflow 3.17.2
(each load in a subprocess where the other library cannot be imported)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import cloudpickle
import pandas as pd
import pytest
import urllib3
import yaml
from tests.pyfunc_support import models

import traza as mlflow
import traza.pyfunc
from traza.exceptions import TrazaException
from traza.models import Model

# The classes are pickled by value, as those of a user's script or notebook are: the pickle
# then needs neither the test suite nor (thanks to the portable base class) Traza itself.
cloudpickle.register_pickle_by_value(models)

CODE_MODEL = Path(models.__file__).with_name("code_model.py")
FRAME = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, -1.0]})
ROWS = [{"x": 1.0, "y": 2.5}, {"x": -1.0, "y": 0.25}]
FLOATS = [1.0, 2.5, -3.0]


def _artifacts(root: Path) -> dict[str, str]:
    (root / "factor.txt").write_text("2.5")
    (root / "vocab").mkdir()
    (root / "vocab" / "words.txt").write_text("a b c")
    (root / "other").mkdir()
    (root / "other" / "factor.txt").write_text("same name, different file")
    return {
        "factor": str(root / "factor.txt"),
        "vocab": str(root / "vocab"),
        "clash": str(root / "other" / "factor.txt"),
    }


def _helper(root: Path) -> Path:
    helper = root / "pyfunc_helper.py"
    helper.write_text("def triple(v):\n    return v * 3\n")
    return helper


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One model of each kind, saved by Traza."""
    root = tmp_path_factory.mktemp("traza-models")
    artifacts = _artifacts(root)
    paths = {name: root / name for name in ("scaler", "shout", "totals", "code", "from_code")}
    traza.pyfunc.save_model(
        paths["scaler"],
        python_model=models.Scaler(),
        artifacts=artifacts,
        model_config={"offset": 1.0},
        input_example=FRAME,
    )
    traza.pyfunc.save_model(paths["shout"], python_model=models.Shout(), input_example=["a"])
    traza.pyfunc.save_model(paths["totals"], python_model=models.Totals())
    traza.pyfunc.save_model(
        paths["code"], python_model=models.UsesCode(), code_paths=[str(_helper(root))]
    )
    traza.pyfunc.save_model(
        paths["from_code"], python_model=str(CODE_MODEL), model_config={"factor": 4}
    )
    paths["function"] = root / "function"
    traza.pyfunc.save_model(paths["function"], python_model=models.halve, input_example=[1.0])
    return paths


def _flavor(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((path / "MLmodel").read_text())["flavors"]["python_function"])


def test_save_writes_mlflows_layout(saved: dict[str, Path]) -> None:
    scaler = saved["scaler"]
    conf = _flavor(scaler)
    assert conf["loader_module"] == "mlflow.pyfunc.model"
    assert conf["python_model"] == "python_model.pkl"
    assert conf["cloudpickle_version"] == cloudpickle.__version__
    assert conf["code"] is None and conf["streamable"] is False
    assert conf["config"] == {"offset": 1.0}
    assert conf["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    # Artifacts keep their file names; two of the same name go to numbered folders, as MLflow.
    assert {k: v["path"] for k, v in conf["artifacts"].items()} == {
        "factor": "artifacts/0/factor.txt",
        "vocab": "artifacts/vocab",
        "clash": "artifacts/1/factor.txt",
    }
    assert conf["artifacts"]["factor"]["uri"].endswith("factor.txt")
    assert (scaler / "artifacts" / "vocab" / "words.txt").read_text() == "a b c"
    for name in ("python_env.yaml", "conda.yaml", "input_example.json"):
        assert (scaler / name).is_file(), name
    requirements = (scaler / "requirements.txt").read_text().splitlines()
    assert f"cloudpickle=={cloudpickle.__version__}" in requirements
    assert f"pandas=={pd.__version__}" in requirements  # the pickle refers to pandas
    assert not any(r.startswith(("traza", "mlflow")) for r in requirements)
    assert (saved["code"] / "code" / "pyfunc_helper.py").is_file()
    assert _flavor(saved["code"])["code"] == "code"
    from_code = _flavor(saved["from_code"])
    assert from_code["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert from_code["model_code_path"] == str(CODE_MODEL) and "python_model" not in from_code
    assert (saved["from_code"] / "code_model.py").is_file()


def test_load_predict_with_artifacts_config_and_params(saved: dict[str, Path]) -> None:
    loaded = traza.pyfunc.load_model(saved["scaler"])
    pd.testing.assert_frame_equal(loaded.predict(FRAME), FRAME * 2.5 + 1.0)
    python_model = loaded.unwrap_python_model()
    assert isinstance(python_model, models.Scaler)
    assert python_model.artifact_names == ["clash", "factor", "vocab"]
    assert Path(loaded.get_raw_model().context.artifacts["vocab"]).is_relative_to(saved["scaler"])
    # model_config given at load time is merged over the saved one.
    again = traza.pyfunc.load_model(saved["scaler"], model_config={"offset": -1.0})
    pd.testing.assert_frame_equal(again.predict(FRAME), FRAME * 2.5 - 1.0)
    # No params in the signature: they are ignored (with a warning), as in MLflow.
    pd.testing.assert_frame_equal(loaded.predict(FRAME, params={"scale": 9}), FRAME * 2.5 + 1.0)


def test_signatures_from_type_hints(saved: dict[str, Path]) -> None:
    def signature(name: str) -> dict[str, Any]:
        return dict(yaml.safe_load((saved[name] / "MLmodel").read_text()))

    shout = signature("shout")
    assert shout["is_signature_from_type_hint"] is True
    assert shout["signature"]["inputs"] == '[{"type": "string", "required": true}]'
    assert shout["signature"]["outputs"] == '[{"type": "string", "required": true}]'
    totals = signature("totals")["signature"]
    assert json.loads(totals["inputs"]) == [
        {"type": "map", "values": {"type": "double"}, "required": True}
    ]
    assert json.loads(totals["outputs"]) == [{"type": "double", "required": True}]
    # A DataFrame hint implies no signature: it comes from the input example instead.
    scaler = signature("scaler")
    assert scaler["is_signature_from_type_hint"] is False
    assert [c["name"] for c in json.loads(scaler["signature"]["inputs"])] == ["a", "b"]
    assert traza.pyfunc.load_model(saved["shout"]).predict(["hi", "yo"]) == ["HI!", "YO!"]
    assert traza.pyfunc.load_model(saved["totals"]).predict(ROWS) == [3.5, -0.75]


def test_hints_that_imply_no_schema_warn_and_malformed_ones_are_refused(tmp_path: Path) -> None:
    class NotAList(traza.pyfunc.PythonModel):
        def predict(self, model_input: str) -> str:
            return model_input

    class BareList(traza.pyfunc.PythonModel):
        def predict(self, model_input: list) -> list:  # type: ignore[type-arg]
            return model_input

    class IntKeys(traza.pyfunc.PythonModel):
        def predict(self, model_input: list[dict[int, str]]) -> list[str]:
            return []

    with pytest.warns(UserWarning, match=r"not list\[\.\.\.\]"):
        traza.pyfunc.save_model(tmp_path / "str", python_model=NotAList())
    assert Model.load(tmp_path / "str").signature is None
    assert traza.pyfunc.load_model(tmp_path / "str").predict("as is") == "as is"
    for name, model in (("bare", BareList()), ("keys", IntKeys())):
        with pytest.raises(TrazaException, match=r"element type|dict\[str") as e:
            traza.pyfunc.save_model(tmp_path / name, python_model=model)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
        assert not (tmp_path / name).exists()  # nothing half-written is left


def test_signature_is_enforced_on_predict(saved: dict[str, Path]) -> None:
    scaler = traza.pyfunc.load_model(saved["scaler"])
    with pytest.raises(TrazaException, match=r"missing inputs \['b'\]"):
        scaler.predict(FRAME[["a"]])
    # A signature from type hints is checked against the hints, element by element.
    shout = traza.pyfunc.load_model(saved["shout"])
    with pytest.raises(TrazaException, match=r"the input\[1\] is int 2, not str") as e:
        shout.predict(["a", 2])
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    totals = traza.pyfunc.load_model(saved["totals"])
    with pytest.raises(TrazaException, match=r"the input\[0\]\['y'\] is str"):
        totals.predict([{"x": 1.0, "y": "2"}])
    # A one-column DataFrame (what spark_udf and evaluate pass) becomes the list, as in MLflow.
    assert shout.predict(pd.DataFrame({"text": ["hi"]})) == ["HI!"]


def test_code_paths_are_importable_on_load(saved: dict[str, Path]) -> None:
    sys.modules.pop("pyfunc_helper", None)
    assert traza.pyfunc.load_model(saved["code"]).predict(FLOATS) == [3.0, 7.5, -9.0]


def test_model_from_code(saved: dict[str, Path]) -> None:
    loaded = traza.pyfunc.load_model(saved["from_code"])
    assert loaded.predict(FLOATS) == [4.0, 10.0, -12.0]
    assert loaded.metadata.signature is not None
    assert loaded.metadata.signature.inputs.to_json() == '[{"type": "double", "required": true}]'
    assert traza.pyfunc.load_model(saved["from_code"], model_config={"factor": 1}).predict(
        [2.0]
    ) == [2.0]


def test_a_code_file_without_set_model_is_named(tmp_path: Path) -> None:
    code = tmp_path / "empty.py"
    code.write_text("x = 1\n")
    with pytest.raises(TrazaException, match="did not call set_model"):
        traza.pyfunc.save_model(tmp_path / "m", python_model=str(code))


def test_log_model_registers_and_loads_by_uri(tmp_path: Path) -> None:
    artifacts = _artifacts(tmp_path)
    with mlflow.start_run() as run:
        info = traza.pyfunc.log_model(
            name="scaler",
            python_model=models.Scaler(),
            artifacts=artifacts,
            input_example=FRAME,
            registered_model_name="scaler-model",
        )
    assert info.model_id is not None and info.model_uri == f"models:/{info.model_id}"
    assert info.registered_model_version == 1
    assert info.flavors["python_function"]["loader_module"] == "mlflow.pyfunc.model"
    assert info.signature is not None
    expected = FRAME * 2.5
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/scaler", "models:/scaler-model/1"):
        pd.testing.assert_frame_equal(traza.pyfunc.load_model(uri).predict(FRAME), expected)
    meta = traza.pyfunc.load_model(info.model_uri).metadata
    assert isinstance(meta, Model) and meta.model_id == info.model_id


# -- both ways with MLflow 3.17.2 ---------------------------------------------------------------
def _run(code: str, blocked: str, cwd: Path) -> Any:
    """Run ``code`` in a new interpreter where ``blocked`` cannot be imported; its last stdout
    line is JSON."""
    shim = f"import sys; sys.modules[{blocked!r}] = None\n"
    result = subprocess.run(
        [sys.executable, "-c", shim + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


MLFLOW_SIDE = """
    import json, sys
    import mlflow, pandas as pd

    def rows(name):
        return {"shout": ["hi", "yo"], "totals": ROWS, "scaler": FRAME}.get(name, FLOATS)

    ROWS = %(rows)s
    FLOATS = %(floats)s
    FRAME = pd.DataFrame(%(frame)s)
    loaded = {}
    for name in ("scaler", "shout", "totals", "code", "from_code", "function"):
        out = mlflow.pyfunc.load_model(str(TRAZA / name)).predict(rows(name))
        loaded[name] = out.to_dict("list") if isinstance(out, pd.DataFrame) else out
    model = mlflow.pyfunc.load_model(str(TRAZA / "scaler"))
    loaded["artifact_names"] = model.unwrap_python_model().artifact_names

    # Models saved by MLflow, for Traza to load.
    sys.path.insert(0, str(HELPER.parent))

    class Scaler(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.factor = float(open(context.artifacts["factor"]).read())
            self.offset = (context.model_config or {}).get("offset", 0.0)

        def predict(self, context, model_input: pd.DataFrame, params=None):
            return model_input * self.factor + self.offset

    class Shout(mlflow.pyfunc.PythonModel):
        def predict(self, model_input: list[str], params=None) -> list[str]:
            return [s.upper() + "!" for s in model_input]

    class UsesCode(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: list[float]) -> list[float]:
            import pyfunc_helper
            return [pyfunc_helper.triple(v) for v in model_input]

    reqs = ["cloudpickle", "pandas"]
    mlflow.pyfunc.save_model(str(OUT / "scaler"), python_model=Scaler(), pip_requirements=reqs,
        artifacts={"factor": str(ARTIFACT)}, model_config={"offset": 1.0}, input_example=FRAME)
    mlflow.pyfunc.save_model(str(OUT / "shout"), python_model=Shout(), pip_requirements=reqs,
        input_example=["a"])
    mlflow.pyfunc.save_model(str(OUT / "code"), python_model=UsesCode(), pip_requirements=reqs,
        code_paths=[str(HELPER)])

    def halve(model_input: list[float]) -> list[float]:
        return [v / 2 for v in model_input]

    mlflow.pyfunc.save_model(str(OUT / "function"), python_model=halve, pip_requirements=reqs)
    # A code file written for MLflow alone: Traza runs it with mlflow imports resolved to Traza.
    code = OUT.parent / "mlflow_code_model.py"
    code.write_text(
        "from mlflow.models import ModelConfig, set_model\\n"
        "from mlflow.pyfunc import PythonModel\\n"
        "factor = ModelConfig(development_config={'factor': 1}).get('factor')\\n"
        "class M(PythonModel):\\n"
        "    def predict(self, context, model_input: list[float]) -> list[float]:\\n"
        "        return [v * factor for v in model_input]\\n"
        "set_model(M())\\n"
    )
    mlflow.pyfunc.save_model(str(OUT / "from_code"), python_model=str(code),
        pip_requirements=reqs, model_config={"factor": 4})
    print(json.dumps(loaded))
"""

TRAZA_SIDE = """
    import json
    import pandas as pd
    import traza.pyfunc

    FRAME = pd.DataFrame(%(frame)s)
    inputs = {"scaler": FRAME, "shout": ["hi", "yo"], "code": %(floats)s,
              "from_code": %(floats)s, "function": %(floats)s}
    out = {}
    for name, data in inputs.items():
        got = traza.pyfunc.load_model(str(OUT / name)).predict(data)
        out[name] = got.to_dict("list") if isinstance(got, pd.DataFrame) else got
    # The shim's block is back in place, and no module of MLflow's was left behind.
    out["mlflow_still_blocked"] = sys.modules["mlflow"] is None and not any(
        m.startswith("mlflow.") for m in sys.modules)
    print(json.dumps(out))
"""


def _paths(**paths: Path) -> str:
    return "from pathlib import Path\n" + "".join(
        f"{k} = Path({str(v)!r})\n" for k, v in paths.items()
    )


def test_both_ways_with_mlflow(saved: dict[str, Path], tmp_path: Path) -> None:
    """Traza's models load in MLflow (Traza blocked) with identical predictions, and MLflow's
    (artifacts, code paths, type hints, a model from code) load in Traza (MLflow blocked)."""
    out = tmp_path / "mlflow-models"
    (tmp_path / "factor.txt").write_text("2.5")
    (tmp_path / "helpers").mkdir()
    helper = _helper(tmp_path / "helpers")
    values = {"rows": repr(ROWS), "floats": repr(FLOATS), "frame": repr(FRAME.to_dict("list"))}
    setup = _paths(
        TRAZA=saved["scaler"].parent,
        OUT=out,
        ARTIFACT=tmp_path / "factor.txt",
        HELPER=helper,
        CODE_MODEL=CODE_MODEL,
    )
    in_mlflow = _run(setup + textwrap.dedent(MLFLOW_SIDE % values), "traza", tmp_path)
    expected_frame = (FRAME * 2.5 + 1.0).to_dict("list")
    ours = {
        name: traza.pyfunc.load_model(saved[name]).predict(data)
        for name, data in (("shout", ["hi", "yo"]), ("totals", ROWS), ("code", FLOATS))
    }
    assert in_mlflow["scaler"] == expected_frame
    assert in_mlflow["shout"] == ours["shout"] == ["HI!", "YO!"]
    assert in_mlflow["totals"] == ours["totals"] == [3.5, -0.75]
    assert in_mlflow["code"] == ours["code"] == [3.0, 7.5, -9.0]
    assert in_mlflow["from_code"] == [4.0, 10.0, -12.0]
    assert in_mlflow["function"] == traza.pyfunc.load_model(saved["function"]).predict(FLOATS)
    assert in_mlflow["function"] == [0.5, 1.25, -1.5]
    assert in_mlflow["artifact_names"] == ["clash", "factor", "vocab"]

    in_traza = _run(_paths(OUT=out) + textwrap.dedent(TRAZA_SIDE % values), "mlflow", tmp_path)
    assert in_traza == {
        "scaler": expected_frame,
        "shout": ["HI!", "YO!"],
        "code": [3.0, 7.5, -9.0],
        "from_code": [4.0, 10.0, -12.0],
        "function": [0.5, 1.25, -1.5],
        "mlflow_still_blocked": True,
    }


# -- serving ----------------------------------------------------------------------------------
def test_models_serve_answers_invocations(saved: dict[str, Path]) -> None:
    from tests.test_scoring import free_port, spawn, stop, wait_ready

    port = free_port()
    process = spawn(
        [sys.executable, "-m", "traza", "models", "serve", "-m", str(saved["scaler"]),
         "-p", str(port), "--env-manager", "local"]
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager(retries=False, timeout=30)
    try:
        wait_ready(url, process)
        body = {"dataframe_split": {"columns": ["a", "b"], "data": FRAME.values.tolist()}}
        response = http.request("POST", url + "/invocations", json=body)
        assert response.status == 200, response.data
        predictions = json.loads(response.data)["predictions"]
        assert predictions == (FRAME * 2.5 + 1.0).to_dict("records")
        missing = {"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}
        response = http.request("POST", url + "/invocations", json=missing)
        assert response.status == 400
        assert "missing inputs ['b']" in json.loads(response.data)["message"]
    finally:
        stop(process)


def test_type_hinted_models_take_inputs_as_sent(saved: dict[str, Path]) -> None:
    """MLflow's scoring rule for a signature from type hints: ``inputs`` reach predict as plain
    JSON values (not arrays) and are checked against the hints; other formats are refused."""
    from traza.scoring.app import create_app

    def invoke(name: str, body: Any) -> tuple[int, Any]:
        app = create_app(traza.pyfunc.load_model(saved[name]))
        outcome = app.invoke(json.dumps(body).encode(), "application/json")
        return outcome.status, json.loads(outcome.body)

    assert invoke("shout", {"inputs": ["a", "b"]}) == (200, {"predictions": ["A!", "B!"]})
    assert invoke("totals", {"inputs": ROWS}) == (200, {"predictions": [3.5, -0.75]})
    status, error = invoke("shout", {"inputs": ["a", 3]})
    assert status == 400 and "the input[1] is int 3, not str" in error["message"]
    status, error = invoke("shout", {"dataframe_split": {"columns": ["t"], "data": [["q"]]}})
    assert status == 400 and "with 'inputs' key" in error["message"]


def test_hint_schemas_match_mlflows() -> None:
    """The schema each supported hint implies, against MLflow's own inference."""
    import datetime as dt
    from typing import Optional

    import pydantic
    from mlflow.types.type_hints import _infer_schema_from_list_type_hint

    from traza.pyfunc._type_hints import schema_from_hint

    class Item(pydantic.BaseModel):
        name: str
        price: float
        tags: list[str]
        note: Optional[str] = None  # noqa: UP045 - the spelling users write

    hints = [
        list[str],
        list[int],
        list[float],
        list[bool],
        list[bytes],
        list[dt.datetime],
        list[Any],
        list[list[int]],
        list[dict[str, float]],
        list[dict[str, list[str]]],
        list[Item],
        list[int | str],
    ]
    for hint in hints:
        ours = schema_from_hint(hint, as_list=True).to_json()
        assert json.loads(ours) == json.loads(_infer_schema_from_list_type_hint(hint).to_json()), (
            hint
        )


def test_requirements_and_a_given_signature(tmp_path: Path) -> None:
    from traza.models import infer_signature

    signature = infer_signature(FRAME, FRAME)
    traza.pyfunc.save_model(
        tmp_path / "extra",
        python_model=models.Scaler(),
        artifacts={"factor": _artifacts(tmp_path)["factor"]},
        signature=signature,
        extra_pip_requirements=["foo==1.0"],
    )
    extra = (tmp_path / "extra" / "requirements.txt").read_text().splitlines()
    assert extra[0] == f"cloudpickle=={cloudpickle.__version__}" and extra[-1] == "foo==1.0"
    assert Model.load(tmp_path / "extra").signature == signature
    conda = yaml.safe_load((tmp_path / "extra" / "conda.yaml").read_text())
    assert conda["dependencies"][-1] == {"pip": extra}
    traza.pyfunc.save_model(
        tmp_path / "given", python_model=models.Shout(), pip_requirements=["bar"]
    )
    assert (tmp_path / "given" / "requirements.txt").read_text().splitlines() == ["bar"]


def test_the_pickle_holds_the_model_as_given(tmp_path: Path) -> None:
    """Inferring the signature from the input example calls load_context; what it loads is
    not pickled (the saved model is the object the user passed)."""
    traza.pyfunc.save_model(
        tmp_path / "m",
        python_model=models.Scaler(),
        artifacts={"factor": _artifacts(tmp_path)["factor"]},
        input_example=FRAME,
    )
    assert Model.load(tmp_path / "m").signature is not None  # load_context ran for it
    with open(tmp_path / "m" / "python_model.pkl", "rb") as f:
        assert not hasattr(cloudpickle.load(f), "factor")


def test_model_config_in_a_code_file(tmp_path: Path) -> None:
    code = tmp_path / "configured.py"
    code.write_text(
        "import traza\n"
        "factor = traza.models.ModelConfig(development_config={'factor': 1}).get('factor')\n"
        "class M(traza.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input: list[float]) -> list[float]:\n"
        "        return [v * factor for v in model_input]\n"
        "traza.models.set_model(M())\n"
    )
    traza.pyfunc.save_model(tmp_path / "m", python_model=str(code), model_config={"factor": 5})
    assert traza.pyfunc.load_model(tmp_path / "m").predict([1.0]) == [5.0]
    # Saved without a config, the development one is not used (MLflow's rule).
    with pytest.raises(TrazaException, match="No model configuration"):
        traza.pyfunc.save_model(tmp_path / "bare", python_model=str(code))
    # Run by hand, outside a model load, the file gets its development config.
    assert traza.models.ModelConfig(development_config={"factor": 1}).get("factor") == 1
    with pytest.raises(KeyError, match="nope"):
        traza.models.ModelConfig(development_config={"factor": 1}).get("nope")


def test_a_function_as_the_model(saved: dict[str, Path], tmp_path: Path) -> None:
    meta = Model.load(saved["function"])
    assert meta.signature is not None
    assert meta.signature.inputs.to_json() == '[{"type": "double", "required": true}]'
    loaded = traza.pyfunc.load_model(saved["function"])
    assert loaded.predict([4.0]) == [2.0]
    with pytest.raises(TrazaException, match="not float"):
        loaded.predict(["x"])
    with pytest.raises(TrazaException, match="needs input_example"):
        traza.pyfunc.save_model(tmp_path / "m", python_model=models.halve)


def test_predict_stream(saved: dict[str, Path], tmp_path: Path) -> None:
    traza.pyfunc.save_model(tmp_path / "s", python_model=models.Streamer())
    assert _flavor(tmp_path / "s")["streamable"] is True
    assert list(traza.pyfunc.load_model(tmp_path / "s").predict_stream("a b c")) == ["a", "b", "c"]
    with pytest.raises(TrazaException, match="does not support predict_stream"):
        traza.pyfunc.load_model(saved["shout"]).predict_stream("a")
