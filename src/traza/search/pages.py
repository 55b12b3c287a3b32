"""Opaque page tokens: a base64 JSON offset, as MLflow's SQL store uses."""

from __future__ import annotations

import base64
import binascii
import json

from traza.exceptions import invalid


def encode_page_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.b64decode(token, validate=True))
        offset = data["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid(
            f"Invalid page token {token!r}: pass the token a previous page returned."
        ) from None
    if not isinstance(offset, int) or offset < 0:
        raise invalid(f"Invalid page token {token!r}: pass the token a previous page returned.")
    return offset
