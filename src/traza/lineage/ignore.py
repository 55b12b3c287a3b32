"""``.dvcignore``: Git's ignore-pattern rules, which DVC applies when it lists a directory.

Each ``.dvcignore`` holds patterns relative to its own folder: ``#`` comments, ``!`` to
re-include, a trailing ``/`` for folders only, a ``/`` at the start or in the middle to anchor
the pattern to that folder (otherwise it matches at any depth), ``*``, ``?``, ``[...]`` and
``**``. The last matching pattern decides; a file inside an ignored folder stays ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".dvcignore"


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(glob: str) -> str:
    """A glob of one ``.dvcignore`` line (anchoring already decided) as a regex body."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        ch = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            end = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                out.append(re.escape(ch))
                i += 1
                continue
            body = glob[i + 1 : end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif ch == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def parse(text: str) -> list[_Pattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line.endswith("\\ "):
            line = line.rstrip(" ")
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate or line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        prefix = "" if anchored or line.startswith("**") else "(?:.*/)?"
        patterns.append(_Pattern(re.compile(f"^{prefix}{body}$"), negate, dir_only))
    return patterns


class Ignore:
    """The ``.dvcignore`` rules of a repository, read lazily folder by folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_folder: dict[Path, list[_Pattern]] = {}

    def _patterns(self, folder: Path) -> list[_Pattern]:
        found = self._by_folder.get(folder)
        if found is None:
            path = folder / IGNORE_FILE
            try:
                found = parse(path.read_text(encoding="utf-8")) if path.is_file() else []
            except OSError:
                found = []
            self._by_folder[folder] = found
        return found

    def ignored(self, path: Path, is_dir: bool) -> bool:
        """Whether ``path`` (inside the repository) is ignored by itself; callers walking down
        skip ignored folders, so a parent's exclusion is not checked again here."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        decision = False
        folder = self.root
        parts = relative.parts
        for depth in range(len(parts)):
            rest = "/".join(parts[depth:])
            for pattern in self._patterns(folder):
                if pattern.dir_only and not is_dir:
                    continue
                if pattern.regex.match(rest):
                    decision = not pattern.negate
            folder = folder / parts[depth]
        return decision

    def any_rules(self) -> bool:
        return bool(self._patterns(self.root))
