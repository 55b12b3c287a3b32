"""Checks on registry input (names, versions, aliases, tags), with MLflow's rules and limits.

Shared by the SQL store and the server, so a name MLflow refuses is refused here with a message
saying which rule it broke.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from traza.exceptions import invalid
from traza.validation import validate_key

MAX_REGISTRY_TAG_KEY_LENGTH = 250
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
LATEST_ALIAS = "latest"
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
_MAX_VERSION = 2**63 - 1


def validate_model_name(name: Any, field: str = "name") -> str:
    """A registered model name: not blank, no ``/`` or ``:``, not a path that normalises away."""
    if not isinstance(name, str) or not name.strip():
        raise invalid(f"Missing value for required parameter '{field}': give the model's name.")
    if "/" in name or ":" in name:
        raise invalid(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    normalised = posixpath.normpath(name)
    if normalised != name or normalised == "." or normalised.startswith(".."):
        raise invalid(
            f"Invalid model name '{name}': it must not be '.' or start with '..' "
            "(names are used in URIs such as models:/<name>/<version>)."
        )
    return name


def validate_version(version: Any) -> int:
    """A version number, given as an integer or a string of digits."""
    if isinstance(version, bool):
        raise invalid(f"Parameter 'version' must be an integer, got '{version}'.")
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise invalid(f"Parameter 'version' must be an integer, got '{version}'.") from None
    if isinstance(version, float) and not version.is_integer():
        raise invalid(f"Parameter 'version' must be an integer, got '{version}'.")
    if abs(number) > _MAX_VERSION:
        raise invalid(f"Parameter 'version' must fit in 64 bits, got '{version}'.")
    return number


def validate_alias(alias: Any, setting: bool = False) -> str:
    """An alias: letters, digits, ``_`` and ``-``; when set, not ``latest`` nor ``v<digits>``."""
    if not isinstance(alias, str) or alias == "":
        raise invalid("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise invalid(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            "underscores (_), and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise invalid(
            f"Registered model alias name '{alias[:40]}...' is {len(alias)} characters long; "
            f"the limit is {MAX_ALIAS_LENGTH}."
        )
    if setting:
        if alias.lower() == LATEST_ALIAS:
            raise invalid("'latest' alias name (case insensitive) is reserved.")
        if _VERSION_ALIAS.match(alias):
            raise invalid(f"Version alias name '{alias}' is reserved.")
    return alias


def validate_registry_tag(key: Any, value: Any) -> tuple[str, str]:
    """A registered-model or model-version tag (keys as run tags; values up to 100,000)."""
    key = validate_key(key, "tag key")
    if value is None:
        raise invalid(f"Missing value for tag {key!r}: give a string.")
    text = str(value)
    if len(text) > MAX_REGISTRY_TAG_VALUE_LENGTH:
        raise invalid(
            f"The value of tag {key!r} is {len(text)} characters long; the limit is "
            f"{MAX_REGISTRY_TAG_VALUE_LENGTH}."
        )
    return key, text
