"""Turn in-memory objects (text, dicts, figures, images) into artifact files.

Each writer saves into a scratch folder and returns the file; the caller logs it. Heavy
libraries (matplotlib, plotly, PIL, numpy) are only touched when the object is theirs.
"""

from __future__ import annotations

import json
import posixpath
import struct
import zlib
from pathlib import Path
from typing import Any

from traza.exceptions import invalid
from traza.validation import validate_artifact_path

YAML_SUFFIXES = (".yaml", ".yml")


def split_artifact_file(artifact_file: str) -> tuple[str | None, str]:
    """``"plots/a.png"`` → (``"plots"``, ``"a.png"``), validated."""
    rel = validate_artifact_path(artifact_file)
    if not rel:
        raise invalid(f"Invalid artifact file {artifact_file!r}: give a file name.")
    folder, name = posixpath.split(rel)
    return folder or None, name


def write_text(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def write_dict(folder: Path, name: str, dictionary: Any) -> Path:
    path = folder / name
    if name.endswith(YAML_SUFFIXES):
        import yaml

        text = yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False)
    else:
        text = json.dumps(dictionary, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def parse_dict(name: str, text: str) -> Any:
    if name.endswith(YAML_SUFFIXES):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


def write_figure(folder: Path, name: str, figure: Any, save_kwargs: dict[str, Any] | None) -> Path:
    path = folder / name
    module = type(figure).__module__
    if module.startswith("matplotlib"):
        figure.savefig(path, **(save_kwargs or {}))
    elif module.startswith("plotly"):
        if name.endswith(".html"):
            figure.write_html(str(path), **(save_kwargs or {}))
        else:
            figure.write_image(str(path), **(save_kwargs or {}))
    else:
        raise invalid(
            f"Cannot log a figure of type {type(figure).__name__}: give a matplotlib Figure or a "
            "plotly Figure."
        )
    return path


def write_image(folder: Path, name: str, image: Any) -> Path:
    path = folder / name
    module = type(image).__module__
    if module.startswith("PIL"):
        image.save(path)
    elif module.startswith("numpy"):
        if not name.lower().endswith(".png"):
            raise invalid(f"Images given as numpy arrays are saved as PNG; name {name!r} *.png.")
        path.write_bytes(png_from_array(image))
    else:
        raise invalid(
            f"Cannot log an image of type {type(image).__name__}: give a numpy array or a PIL "
            "Image."
        )
    return path


def png_from_array(array: Any) -> bytes:
    """Encode an (H, W), (H, W, 1|3|4) array as PNG: uint8 as-is, floats in [0, 1] scaled."""
    import numpy as np

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise invalid(
            f"Cannot log an image of shape {a.shape}: use (H, W), (H, W, 3) or (H, W, 4)."
        )
    if a.dtype.kind == "f":
        if np.isnan(a).any() or a.min() < 0 or a.max() > 1:
            raise invalid("Float images must hold values in [0, 1] (no NaN).")
        a = (a * 255).round().astype(np.uint8)
    elif a.dtype.kind in "iub":
        if a.min() < 0 or a.max() > 255:
            raise invalid("Integer images must hold values in [0, 255].")
        a = a.astype(np.uint8)
    else:
        raise invalid(f"Cannot log an image of dtype {a.dtype}.")
    height, width = a.shape[:2]
    # PNG colour types: 0 grey, 2 RGB, 6 RGBA.
    color_type = 0 if a.ndim == 2 else (2 if a.shape[2] == 3 else 6)
    rows = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(a).reshape(height, -1))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )
