"""The one path-safety rule for every path- or location-bearing input.

A path or location is checked in the form it was given and in every form percent-decoding
makes of it (decoded until stable), because some layer below may decode it again: a local
repository unquotes ``file:`` URIs, a proxy or a client may unquote paths. A form may not hold
control characters, ``#`` (fragment), ``?`` (query), ``;`` (path parameters), ``\\``, ``..``
segments, or an encoded ``/``; a relative path may not be absolute or start with a drive.

Failures are MLflow's ``INVALID_PARAMETER_VALUE`` (HTTP 400) with a message naming the rule.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from typing import Any

from traza.exceptions import invalid
from traza.uris import has_scheme

#: MLflow's default (``MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH``), read from the environment.
DEFAULT_MAX_LOCATION_LENGTH = 2048
_MAX_DECODES = 8
_CONTROL = frozenset(map(chr, range(32))) | {"\x7f"}
_FORBIDDEN = (
    ("#", "'#' (a URI fragment)"),
    ("?", "'?' (a URI query)"),
    (";", "';' (path parameters)"),
    ("\\", "a backslash"),
)


def _is_drive(form: str) -> bool:
    return len(form) >= 2 and form[1] == ":" and form[0].isascii() and form[0].isalpha()


def max_location_length() -> int:
    """MLflow's artifact location limit, configurable as MLflow's is."""
    for name in ("TRAZA_ARTIFACT_LOCATION_MAX_LENGTH", "MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return DEFAULT_MAX_LOCATION_LENGTH


def decoded_forms(text: str, what: str = "path") -> list[str]:
    """``text`` and each further percent-decoding of it, until decoding changes nothing."""
    forms = [text]
    while "%" in forms[-1]:
        nxt = urllib.parse.unquote(forms[-1], errors="replace")
        if nxt == forms[-1]:
            break
        if len(forms) > _MAX_DECODES:
            raise invalid(
                f"Invalid {what} {_shown(text)}: it is percent-encoded more than "
                f"{_MAX_DECODES} times over. Send the name itself."
            )
        forms.append(nxt)
    return forms


def _shown(text: str) -> str:
    return repr(text if len(text) <= 200 else f"{text[:200]}...")


def _check_form(form: str, given: str, what: str) -> None:
    decoded = "" if form == given else f" (once decoded: {_shown(form)})"
    if not _CONTROL.isdisjoint(form):
        raise invalid(f"Invalid {what} {_shown(given)}{decoded}: control characters are refused.")
    for char, name in _FORBIDDEN:
        if char in form:
            raise invalid(f"Invalid {what} {_shown(given)}{decoded}: {name} is not allowed.")
    if ".." in form.split("/"):
        raise invalid(
            f"Invalid {what} {_shown(given)}{decoded}: '..' segments are refused (they would "
            "leave the artifact root)."
        )


def _check_all(text: str, what: str) -> list[str]:
    forms = decoded_forms(text, what)
    slashes = text.count("/")
    for form in forms:
        _check_form(form, text, what)
        if form.count("/") != slashes:
            raise invalid(
                f"Invalid {what} {_shown(text)}: it holds an encoded '/' (%2F); send '/' itself."
            )
    return forms


def safe_relative_path(path: Any, what: str = "artifact path") -> str:
    """A path inside an artifact root, normalised (``""`` for the root itself).

    ``.`` segments and a trailing ``/`` are dropped; every other rule refuses the path with a
    400 saying which rule it broke. The result is the path as given (not decoded), so names
    holding a ``%`` round-trip.
    """
    if path is None or path in ("", ".", "/"):
        return ""
    if not isinstance(path, str):
        raise invalid(f"Invalid {what} {path!r}: give a relative path string.")
    forms = _check_all(path, what)
    for form in forms:
        if form.startswith("/") or _is_drive(form):
            raise invalid(
                f"Invalid {what} {_shown(path)}: it must be relative to the artifact root, "
                "not an absolute path or a drive."
            )
        if "" in form.split("/")[1:-1]:
            raise invalid(
                f"Invalid {what} {_shown(path)}: it holds an empty segment ('//'), which makes "
                "the rest an absolute path where a layer joins segments; remove the extra '/'."
            )
    return "/".join(p for p in path.split("/") if p not in ("", "."))


def safe_location(location: Any, what: str = "artifact location") -> str:
    """An artifact location (a URI or a local path), checked and normalised.

    URIs keep their scheme and may name any store, but may not hold a fragment, a query, path
    parameters or ``..`` segments after decoding; ``file:`` URIs and plain paths become a
    normalised absolute path (relative ones against the working directory). ``mlflow-artifacts``
    URIs must name a safe path under the server's destination.
    """
    if not isinstance(location, str) or not location.strip():
        raise invalid(f"Invalid {what} {location!r}: give a path or a URI.")
    limit = max_location_length()
    if len(location) > limit:
        raise invalid(
            f"Invalid {what}: it is {len(location)} characters long; the limit is {limit} "
            "(MLflow's; set MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH to change it)."
        )
    _check_all(location, what)
    if not has_scheme(location):
        return posixpath.normpath(os.path.abspath(location))
    scheme = location.split(":", 1)[0].lower()
    if scheme == "file":
        parsed = urllib.parse.urlsplit(location)
        if parsed.netloc not in ("", "localhost"):
            raise invalid(
                f"Invalid {what} {_shown(location)}: a file: URI names a folder on this "
                f"machine, not on host {parsed.netloc!r}."
            )
        local = urllib.parse.unquote(parsed.path)
        if not local.startswith("/"):
            raise invalid(f"Invalid {what} {_shown(location)}: a file: URI needs an absolute path.")
        return "file://" + urllib.parse.quote(posixpath.normpath(local).replace("//", "/"))
    if scheme == "mlflow-artifacts":
        rest = location[len("mlflow-artifacts:") :]
        host = ""
        if rest.startswith("//"):
            host, _, rest = rest[2:].partition("/")
            host = f"//{host}"
        rel = safe_relative_path(rest.lstrip("/"), what)
        return f"mlflow-artifacts:{host}/{rel}" if rel or host else "mlflow-artifacts:/"
    return location.rstrip("/") if location.rstrip("/") != f"{scheme}:" else location
