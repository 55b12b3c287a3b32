"""How an artifact file is sent to a browser: one place for every artifact route.

An artifact is whatever a client uploaded, so served on the server's origin it must never run as
one of its pages (stored XSS). MLflow 3.17's download headers, used by the ``mlflow-artifacts``
proxy's download, MLflow's ``/get-artifact`` and the UI's ``artifacts/get``:

- the type comes from the file's name only (never from the request), and MLflow's text files
  (``MLmodel``, ``MLproject``, ``.yaml``, ``.js``, ``.xml``, ...) are ``text/plain``;
- ``X-Content-Type-Options: nosniff``, so a browser does not guess a runnable type;
- ``Content-Disposition: attachment`` with the file's name quoted as MLflow quotes it;
  only the UI's route may say ``inline``, and never for what a browser would run (HTML, SVG,
  XHTML, XML, JavaScript);
- ``Content-Security-Policy: sandbox``: opened anyway, the file gets an opaque origin and no
  scripts.
"""

from __future__ import annotations

import mimetypes
import posixpath
import unicodedata
from urllib.parse import quote

#: MLflow's text files (``mlflow/utils/mime_type_utils.py``), by extension or whole name;
#: ``.json`` keeps its own type, which no browser runs.
_TEXT = frozenset(
    {"txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon",
     "toml", "yaml", "yml", "xml", "js", "py", "py3", "csv", "tsv", "md", "rst", "ipynb",
     "MLmodel", "MLproject",
     # Traza's additions: more plain-text names the UI previews.
     "Dockerfile", "LICENSE", "README", "out", "lock", "jsonl", "ndjson", "sh", "sql", "r"}
)  # fmt: skip
#: Types a browser would run as a page (or a script) of the server's origin.
ACTIVE_TYPES = frozenset(
    {"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml",
     "text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript",
     "application/x-javascript", "text/xsl", "application/xslt+xml", "application/pdf"}
)  # fmt: skip
#: Names a browser would run whatever type they are sent with (``.js`` and ``.xml`` go as text).
_ACTIVE_EXTENSIONS = frozenset(
    {"html", "htm", "shtml", "xhtml", "xht", "svg", "svgz", "js", "mjs", "cjs", "xml", "xsl",
     "xslt", "pdf", "swf"}
)  # fmt: skip
#: RFC 7230 token characters: a file name made of these is sent unquoted (as werkzeug does).
_TOKEN = frozenset("!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~")
#: RFC 5987 attr-char punctuation left unescaped in ``filename*``.
_ATTR_SAFE = "!#$&+-.^_`|~"


def media_type(path: str) -> str:
    """The file's type from its name: MLflow's text files as ``text/plain``."""
    name = posixpath.basename(path)
    extension = posixpath.splitext(name)[1][1:]
    if (extension or name) in _TEXT or extension.lower() in _TEXT:
        return "text/plain; charset=utf-8"
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed == "application/json":
        return f"{guessed}; charset=utf-8"
    return guessed


def is_active(kind: str, path: str = "") -> bool:
    """Whether a browser would run this file (``kind`` may carry parameters)."""
    extension = posixpath.splitext(posixpath.basename(path))[1][1:].lower()
    return kind.split(";")[0].strip().lower() in ACTIVE_TYPES or extension in _ACTIVE_EXTENSIONS


def content_disposition(path: str, inline: bool = False) -> str:
    """``attachment; filename=...`` as MLflow writes it (RFC 6266, ``filename*`` for non-ASCII)."""
    name = posixpath.basename(path)
    kind = "inline" if inline else "attachment"
    if name.isascii():
        return f"{kind}; filename={_quoted(name)}"
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    encoded = quote(name, safe=_ATTR_SAFE)
    return f"{kind}; filename={_quoted(fallback or 'download')}; filename*=UTF-8''{encoded}"


def _quoted(name: str) -> str:
    """A token as it is, anything else in double quotes (control characters dropped)."""
    name = "".join(c for c in name if c.isprintable())
    if name and _TOKEN.issuperset(name):
        return name
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def download_headers(path: str, inline: bool = False) -> tuple[str, dict[str, str]]:
    """``(media type, headers)`` for sending the artifact at ``path``.

    ``inline`` asks for a file to be shown in the browser (the UI's own route); it is granted
    only to types a browser does not run.
    """
    kind = media_type(path)
    show = inline and not is_active(kind, path)
    headers = {
        "Content-Disposition": content_disposition(path, inline=show),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    return kind, headers
