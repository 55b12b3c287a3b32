"""Request bodies of ``POST /invocations`` into what ``predict`` takes, by MLflow's rules.

The JSON forms are ``dataframe_split``, ``dataframe_records`` (both become a pandas DataFrame
cast to the signature's column types), ``instances`` and ``inputs`` (numpy arrays, dicts of
arrays, or lists of dicts, typed by the signature); CSV becomes a DataFrame read with the
signature's column dtypes. Every input error is a :class:`TrazaException` with error code
``BAD_REQUEST`` (HTTP 400); an unsupported media type or charset is an
:class:`UnsupportedMediaType` (HTTP 415, plain text, as MLflow answers).
"""

from __future__ import annotations

import base64
import io
from typing import Any, NamedTuple

import orjson

from traza.exceptions import BAD_REQUEST, TrazaException
from traza.models.schema import AnyType, Array, ColSpec, DataType, Schema, TensorSpec

DF_SPLIT = "dataframe_split"
DF_RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
FORMATS = frozenset({DF_SPLIT, DF_RECORDS, INSTANCES, INPUTS})
PARAMS_KEY = "params"

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPES = (CONTENT_TYPE_CSV, CONTENT_TYPE_JSON)

_FORMATS_TEXT = "{" + ", ".join(repr(f) for f in sorted(FORMATS)) + "}"
REQUIRED_INPUT_FORMAT = (
    f"The input must be a JSON dictionary with exactly one of the input fields {_FORMATS_TEXT}"
)
_EXAMPLE = (
    'For example {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}} or '
    '{"inputs": [[1, 2]]}.'
)


class UnsupportedMediaType(Exception):
    """A request the server cannot read at all: answered 415 with a plain-text message."""


class ParsedInput(NamedTuple):
    data: Any
    params: dict[str, Any] | None
    rows: int


def bad_request(message: str) -> TrazaException:
    return TrazaException(message, error_code=BAD_REQUEST)


def _invalid_input(message: str) -> TrazaException:
    return bad_request(f"Invalid input. {message}")


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header; only ``charset=utf-8`` may follow it."""
    if not content_type:
        raise UnsupportedMediaType(
            f"This predictor only supports the following content types: {list(CONTENT_TYPES)}. "
            "The request has no Content-Type header."
        )
    mime, _, rest = content_type.partition(";")
    mime = mime.strip().lower()
    if rest:
        parameters = {}
        for pair in rest.split(";"):
            key, _, value = pair.strip().partition("=")
            parameters[key.strip().lower()] = value.strip().strip('"')
        if parameters.get("charset", "utf-8").lower() != "utf-8":
            raise UnsupportedMediaType("The scoring server only supports UTF-8")
        if unexpected := set(parameters) - {"charset"}:
            raise UnsupportedMediaType(
                f"Unrecognized content type parameters: {', '.join(sorted(unexpected))}."
            )
    if mime not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"This predictor only supports the following content types: {list(CONTENT_TYPES)}. "
            f"Got '{content_type}'."
        )
    return mime


def parse_request(
    body: bytes, content_type: str | None, schema: Schema | None, hinted: bool = False
) -> ParsedInput:
    """The data and params of one ``/invocations`` request. ``hinted``: the signature comes
    from a PythonModel's type hints, so JSON ``inputs`` are passed as sent (see below)."""
    mime = media_type(content_type)
    if mime == CONTENT_TYPE_CSV:
        frame = parse_csv(body, schema)
        return ParsedInput(frame, None, len(frame))
    if hinted:
        return parse_hinted_json(body)
    return parse_json(body, schema)


def parse_hinted_json(body: bytes | str) -> ParsedInput:
    """MLflow's rule for a signature from type hints: the body must hold ``inputs``, given to
    the model as plain JSON values (no arrays or frames); predict checks them against the hints."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise _invalid_input(
            f"Ensure that input is a valid JSON formatted string. Error: '{e}'"
        ) from None
    if not isinstance(decoded, dict) or INPUTS not in decoded:
        keys = list(decoded) if isinstance(decoded, dict) else type(decoded).__name__
        raise _invalid_input(
            "Request payload must be a dictionary with 'inputs' key when the model contains a "
            f"valid type hint. Found: {keys}."
        )
    params = decoded.get(PARAMS_KEY)
    if params is not None and not isinstance(params, dict):
        raise _invalid_input(f"'params' must be a JSON object; got {type(params).__name__}.")
    data = decoded[INPUTS]
    return ParsedInput(data, params, len(data) if isinstance(data, list) else 1)


def parse_json(body: bytes | str, schema: Schema | None) -> ParsedInput:
    """A JSON request body: exactly one of the four format keys, and optional ``params``."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise _invalid_input(
            f"Ensure that input is a valid JSON formatted string. Error: '{e}'"
        ) from None
    if not isinstance(decoded, dict):
        got = "a list" if isinstance(decoded, list) else f"a {type(decoded).__name__}"
        raise _invalid_input(f"{REQUIRED_INPUT_FORMAT}. Received {got}. {_EXAMPLE}")
    keys = [k for k in decoded if k in FORMATS]
    if len(keys) != 1:
        raise bad_request(
            f"{REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: {keys} "
            f"(all keys: {list(decoded)}). {_EXAMPLE}"
        )
    params = decoded.get(PARAMS_KEY)
    if params is not None and not isinstance(params, dict):
        raise _invalid_input(f"'params' must be a JSON object; got {type(params).__name__}.")
    key = keys[0]
    value = decoded[key]
    if key == DF_SPLIT:
        data = frame_from_split(value, schema)
    elif key == DF_RECORDS:
        data = frame_from_records(value, schema)
    elif key == INSTANCES:
        data = parse_instances(value, schema)
    else:
        data = parse_inputs(value, schema)
    return ParsedInput(data, params, _row_count(data))


def _row_count(data: Any) -> int:
    shape = getattr(data, "shape", None)
    if shape:
        return int(shape[0])
    if isinstance(data, dict):
        for v in data.values():
            if getattr(v, "shape", None):
                return int(v.shape[0])
            if isinstance(v, list):
                return len(v)
        return 1
    if isinstance(data, list):
        return len(data)
    return 1


# -- DataFrames ----------------------------------------------------------------------------------
def frame_from_split(value: Any, schema: Schema | None) -> Any:
    import pandas as pd

    if not isinstance(value, dict):
        got = "list" if isinstance(value, list) else f"type {type(value).__name__}"
        raise _invalid_input(f"Dataframe split format must be a dictionary. Got {got}.")
    keys = set(value)
    if "data" not in keys or keys - {"columns", "data", "index"}:
        raise _invalid_input(
            "Dataframe split format must have 'data' field and optionally 'columns' and "
            f"'index' fields. Got {sorted(keys)}."
        )
    if schema is not None and (frame := _float_frame(value, schema)) is not None:
        return frame
    try:
        frame = pd.DataFrame(
            data=value["data"], columns=value.get("columns"), index=value.get("index")
        )
    except Exception as e:
        raise _invalid_input(
            "Provided dataframe_split field is not a valid dataframe representation in "
            f"'split' format. Error: '{e}'"
        ) from None
    return cast_frame(frame, schema) if schema is not None else frame


_FLOATS = (DataType.double, DataType.float)


def _float_frame(value: dict[str, Any], schema: Schema) -> Any:
    """The common case built in one numpy call: a named schema of float columns, and rows of
    exactly those columns. The values are what ``DataFrame(rows).astype(float64)`` gives
    (None is NaN, ints are widened); anything else (ragged rows, text, other columns) returns
    None and takes the general path, which also words the errors."""
    import numpy as np
    import pandas as pd

    columns = value.get("columns")
    if not isinstance(columns, list) or not schema.has_input_names():
        return None
    specs = schema.input_dict()
    if len(columns) != len(specs) or set(columns) != set(specs) or schema.is_tensor_spec():
        return None
    if not all(isinstance(s, ColSpec) and s.type in _FLOATS for s in specs.values()):
        return None
    try:
        array = np.array(value["data"], dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.ndim != 2 or array.shape[1] != len(columns):
        return None
    try:
        frame = pd.DataFrame(array, columns=columns, index=value.get("index"), copy=False)
    except (ValueError, TypeError):
        return None
    narrow = [c for c in columns if specs[c].type == DataType.float]
    return frame.astype(dict.fromkeys(narrow, np.float32)) if narrow else frame


def frame_from_records(value: Any, schema: Schema | None) -> Any:
    import pandas as pd

    if not isinstance(value, list):
        got = "dictionary" if isinstance(value, dict) else f"type {type(value).__name__}"
        raise _invalid_input(f"Dataframe records format must be a list of records. Got {got}.")
    try:
        frame = pd.DataFrame(data=value)
    except Exception as e:
        raise _invalid_input(
            "Provided dataframe_records field is not a valid dataframe representation in "
            f"'records' format. Error: '{e}'"
        ) from None
    return cast_frame(frame, schema) if schema is not None else frame


def parse_csv(body: bytes | str, schema: Schema | None) -> Any:
    """CSV as ``DataFrame.to_csv`` writes it (header row first)."""
    import pandas as pd

    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as e:
        raise _invalid_input(
            f"Ensure that input is a valid UTF-8 encoded string. Error: '{e}'"
        ) from None
    dtypes = None
    if schema is not None and not schema.is_tensor_spec():
        types = schema.input_types()
        if all(isinstance(t, DataType) for t in types):
            dtypes = dict(zip(schema.input_names(), schema.pandas_types(), strict=True))
    try:
        return pd.read_csv(io.StringIO(text), dtype=dtypes)
    except Exception as e:
        raise bad_request(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
            "CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` "
            f"method. Error: '{e}'"
        ) from None


def cast_frame(frame: Any, schema: Schema) -> Any:
    """Columns converted to the signature's types (JSON has no int32, float32 or bytes)."""
    import numpy as np
    import pandas as pd

    if schema.has_input_names():
        pairs = [(spec.name, spec) for spec in schema.inputs]
    elif schema.is_tensor_spec() and len(schema.inputs) == 1:
        pairs = [(c, schema.inputs[0]) for c in frame.columns]
    else:
        pairs = list(zip(frame.columns, schema.inputs, strict=False))
    columns = set(frame.columns)
    for name, spec in pairs:
        if name not in columns:
            continue  # a missing column is reported by schema enforcement, by name
        column = frame[name]
        target = spec.type
        try:
            if isinstance(spec, TensorSpec):
                if len(column) and isinstance(column.iloc[0], list):
                    continue  # a multidimensional column: enforcement converts it
                frame[name] = column.astype(target)
            elif not isinstance(target, DataType):
                continue  # arrays, objects, maps, any: checked by enforcement
            elif target == DataType.binary:
                frame[name] = column.map(lambda x: base64.decodebytes(bytes(x, "utf8")))
            elif target == DataType.datetime:
                frame[name] = _datetimes(column)
            elif target == DataType.string:
                if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
                    frame[name] = column.astype(object)
            else:
                dtype = target.to_numpy()
                if column.dtype != dtype:
                    frame[name] = column.astype(dtype)
        except Exception as e:
            numpy_type = target if isinstance(target, np.dtype) else _type_name(target)
            raise _invalid_input(
                "Data is not compatible with model signature. Failed to convert column "
                f"{name} to type '{numpy_type}'. Error: '{e}'"
            ) from None
    return frame


def _type_name(target: Any) -> str:
    return str(target.to_pandas()) if isinstance(target, DataType) else repr(target)


def _datetimes(column: Any) -> Any:
    import pandas as pd

    parsed = pd.to_datetime(column)
    if getattr(parsed.dt, "unit", "ns") != "ns":
        parsed = parsed.dt.as_unit("ns")
    return parsed


# -- tensors and column dicts ----------------------------------------------------------------------
def convert_value(data: Any, spec: ColSpec | TensorSpec | None) -> Any:
    """One input (a column or a tensor) as numpy, typed by its spec."""
    import numpy as np

    try:
        if spec is None:
            return np.array(data)
        if isinstance(spec, TensorSpec):
            return np.array(data, dtype=spec.type)
        t = spec.type
        if isinstance(t, DataType):
            if isinstance(data, (list, np.ndarray)):
                return np.array(data, t.to_numpy())
            return np.array([data], t.to_numpy())[0]
        if isinstance(t, Array):
            return np.array(data)
        if isinstance(t, AnyType):
            return data
        return data  # objects and maps: enforcement checks them
    except (ValueError, TypeError, OverflowError) as e:
        name = f" for input {spec.name!r}" if spec is not None and spec.name else ""
        raise _invalid_input(f"Failed to convert data{name} to the signature's type: {e}") from None


def parse_inputs(value: Any, schema: Schema | None) -> Any:
    """``{"inputs": ...}``: values already in columnar form (or one tensor)."""
    import numpy as np

    specs = schema.input_dict() if schema is not None and schema.has_input_names() else {}
    if schema is not None:
        if (
            len(specs) == 1
            and isinstance(value, list)
            and not any(isinstance(x, dict) for x in value)
        ):
            value = {next(iter(specs)): value}  # one named input: the list is its column
        elif not schema.has_input_names() and not (
            isinstance(value, list) or np.isscalar(value) or value is None
        ):
            raise _invalid_input(
                "Failed to parse input data. This model contains an un-named model signature "
                "which expects a single n-dimensional array or a single value as input, "
                f"however, an input of type {type(value).__name__} was found."
            )
    if isinstance(value, dict):
        return {col: convert_value(v, specs.get(col)) for col, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        return [{col: convert_value(v, specs.get(col)) for col, v in row.items()} for row in value]
    first = schema.inputs[0] if schema is not None else None
    return convert_value(value, first)


def parse_instances(value: Any, schema: Schema | None) -> Any:
    """``{"instances": ...}``: rows (TF serving's row format) turned into columns."""
    import numpy as np

    specs = schema.input_dict() if schema is not None and schema.has_input_names() else {}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        columns: dict[str, list[Any]] = {}
        for row in value:
            if not isinstance(row, dict):
                raise _invalid_input("Every item of 'instances' must be an object like the first.")
            for col, v in row.items():
                columns.setdefault(col, []).append(convert_value(v, specs.get(col)))
        data: Any = {col: np.array(vs) for col, vs in columns.items()}
    else:
        data = parse_inputs(value, schema)
    if isinstance(data, dict):
        sized = {k: v for k, v in data.items() if isinstance(v, (list, np.ndarray))}
        if schema is not None and schema.has_input_names():
            required = {str(n) for n in schema.required_input_names()}
            checked = [c for c in sized if c in required and not isinstance(specs[c].type, Array)]
        else:
            checked = list(sized)
        if len({len(sized[c]) for c in checked}) > 1:
            raise _invalid_input("The length of values for each input/column name are not the same")
    return data
