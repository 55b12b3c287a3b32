"""Password hashing (scrypt, memory-hard, from the standard library) and token secrets.

Passwords are stored as ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64 without padding), so the
cost can be raised later without breaking stored hashes. Tokens are random secrets that only
need a fast hash: they carry 256 bits of entropy, so nobody can guess one from its sha256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt cost: N=2**15, r=8 takes 32 MiB and about 0.1 s per hash. It runs once per credential
#: per worker (verified credentials are cached), never once per request.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 64 * 1024 * 1024
#: The shortest password accepted (MLflow's sign-up form asks for 12 as well).
MIN_PASSWORD_LENGTH = 12
#: What every token starts with, so a Basic password that is a token is told apart without
#: running scrypt (and a leaked one is easy to find with secret scanners).
TOKEN_PREFIX = "trz_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_password_strength(password: str) -> None:
    """Refuse a password too short to be stored; the message says the rule."""
    from traza.exceptions import invalid

    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid(f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=max(_MAXMEM, 256 * int(n) * int(r)),
            dklen=len(expected),
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, expected)


def new_token() -> str:
    """A fresh secret: shown to its owner once, stored only as :func:`token_hash`."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
