"""DVC pipelines read without DVC: the repository, the stage a process runs, and DVC 3's md5s.

Nothing here imports ``dvc``. ``dvc.yaml`` and params files are read as YAML; hashes are
computed as DVC 3 writes them into ``dvc.lock``: a file's ``md5`` is the MD5 of its bytes; a
directory's is the MD5 of the JSON listing of its files (``[{"md5": ..., "relpath": ...}]``,
sorted by path) followed by ``.dir``, with ``size`` the total of its files' sizes and ``nfiles``
their number.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traza.lineage.ignore import Ignore

DVC_DIR = ".dvc"
DVC_FILE = "dvc.yaml"
PARAMS_FILE = "params.yaml"
#: Folders DVC never looks into when it hashes a directory.
_SKIPPED_DIRS = frozenset({".git", ".hg", ".dvc"})
_INTERPOLATION = re.compile(r"\$\{\s*([A-Za-z0-9_.\-\[\]]+)\s*\}")
_CHUNK = 1 << 20
_MD5_CACHE_PRUNE_AT = 20000


def find_root(start: str) -> Path | None:
    """The DVC repository holding ``start`` (the folder with ``.dvc/``), or ``None``.

    ``DVC_ROOT`` (set by ``dvc repro`` for its stages) answers at once; otherwise one stat per
    parent folder, nothing more, so a process outside any DVC repository pays nothing.
    """
    given = os.environ.get("DVC_ROOT")
    if given and os.path.isdir(os.path.join(given, DVC_DIR)):
        return Path(given).resolve()
    folder = start
    while True:
        if os.path.isdir(os.path.join(folder, DVC_DIR)):
            return Path(folder).resolve()
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _yaml_load(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as f:
        return yaml.load(f, Loader=loader)  # a safe loader


@dataclass(frozen=True)
class Stage:
    """A stage of a ``dvc.yaml``, with its paths as the file writes them (relative to ``wdir``)."""

    name: str
    dvcfile: Path
    wdir: Path
    commands: tuple[str, ...]
    deps: tuple[str, ...]
    #: params file (relative to ``wdir``) -> keys tracked (``None``: every key of the file)
    params: dict[str, tuple[str, ...] | None]
    outs: tuple[str, ...]
    root: Path = field(compare=False)

    @property
    def addressing(self) -> str:
        """How DVC names the stage: ``name`` in the root's ``dvc.yaml``, else ``path:name``."""
        if self.dvcfile == self.root / DVC_FILE:
            return self.name
        return f"{self.dvcfile.relative_to(self.root).as_posix()}:{self.name}"

    @property
    def cmd(self) -> str:
        return " && ".join(self.commands)


def _paths(items: Any) -> tuple[str, ...]:
    """``deps``/``outs``/``metrics``: strings, or one-key mappings ``{path: {options}}``."""
    out: list[str] = []
    for item in items or ():
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and len(item) == 1:
            out.append(str(next(iter(item))))
    return tuple(out)


def _params(items: Any) -> dict[str, tuple[str, ...] | None]:
    out: dict[str, tuple[str, ...] | None] = {}
    for item in items or ():
        if isinstance(item, str):
            keys = out.get(PARAMS_FILE) or ()
            out[PARAMS_FILE] = (*keys, item)
        elif isinstance(item, dict):
            for file, keys in item.items():
                out[str(file)] = tuple(str(k) for k in keys) if keys else None
    return out


def _lookup(tree: Any, dotted: str) -> Any:
    node = tree
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(dotted)
    return node


def _interpolate(text: str, context: dict[str, Any]) -> str:
    """``${key.sub}`` from ``vars``/``params.yaml``, as ``dvc.yaml`` templating does."""
    if "${" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        try:
            found = _lookup(context, match[1])
        except KeyError:
            return match[0]
        return str(found).lower() if isinstance(found, bool) else str(found)

    return _INTERPOLATION.sub(value, text)


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _resolve_list(value: Any, context: dict[str, Any]) -> Any:
    """A ``foreach``/``matrix`` value, given inline or as ``${key}`` of the params."""
    if isinstance(value, str):
        match = _INTERPOLATION.fullmatch(value.strip())
        if match:
            return _lookup(context, match[1])
    return value


def _expand(
    name: str, body: Any, context: dict[str, Any]
) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """A stage, or the stages a ``foreach``/``matrix`` template generates, named as DVC names
    them (``name@key``, ``name@item``, ``name@index``, ``name@a-b``), with their variables."""
    if not isinstance(body, dict):
        return
    if "foreach" in body and "do" in body:
        items = _resolve_list(body["foreach"], context)
        if isinstance(items, dict):
            for key, item in items.items():
                yield f"{name}@{key}", body["do"], {"item": item, "key": key}
        elif isinstance(items, list):
            for index, item in enumerate(items):
                suffix = _text(item) if _scalar(item) else str(index)
                yield f"{name}@{suffix}", body["do"], {"item": item}
    elif "matrix" in body:
        import itertools

        axes = {k: _resolve_list(v, context) for k, v in (body["matrix"] or {}).items()}
        if not all(isinstance(v, list) for v in axes.values()):
            return
        template = {k: v for k, v in body.items() if k != "matrix"}
        for combo in itertools.product(*(list(enumerate(v)) for v in axes.values())):
            parts = [
                _text(value) if _scalar(value) else f"{axis}{index}"
                for axis, (index, value) in zip(axes, combo, strict=True)
            ]
            item = {axis: value for axis, (_, value) in zip(axes, combo, strict=True)}
            yield f"{name}@{'-'.join(parts)}", template, {"item": item}
    elif "cmd" in body:
        yield name, body, {}


def load_stages(dvcfile: Path, root: Path) -> dict[str, Stage]:
    """The stages of ``dvcfile``, ``foreach``/``matrix`` templates expanded."""
    doc = _yaml_load(dvcfile) or {}
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        return {}
    context: dict[str, Any] = {}
    defaults = dvcfile.parent / PARAMS_FILE
    needs_context = "${" in dvcfile.read_text(encoding="utf-8", errors="replace")
    if needs_context:
        if defaults.is_file():
            context.update(_yaml_load(defaults) or {})
        for entry in doc.get("vars") or ():
            if isinstance(entry, dict):
                context.update(entry)
    out: dict[str, Stage] = {}
    for template_name, template in stages.items():
        for name, body, variables in _expand(str(template_name), template, context):
            if not isinstance(body, dict) or "cmd" not in body:
                continue
            here = {**context, **variables} if variables else context
            raw_cmd = body["cmd"]
            commands = tuple(
                _interpolate(str(c), here)
                for c in (raw_cmd if isinstance(raw_cmd, list) else [raw_cmd])
            )
            wdir = (dvcfile.parent / _interpolate(str(body.get("wdir") or "."), here)).resolve()
            out[name] = Stage(
                name=name,
                dvcfile=dvcfile,
                wdir=wdir,
                commands=commands,
                deps=tuple(_interpolate(p, here) for p in _paths(body.get("deps"))),
                params=_params(body.get("params")),
                outs=tuple(
                    _interpolate(p, here)
                    for key in ("outs", "metrics", "plots")
                    for p in _paths(body.get(key))
                ),
                root=root,
            )
    return out


def _dvcfiles_between(cwd: Path, root: Path) -> list[Path]:
    """``dvc.yaml`` files in ``cwd`` and each parent up to ``root``."""
    found = []
    folder = cwd
    while True:
        candidate = folder / DVC_FILE
        if candidate.is_file():
            found.append(candidate)
        if folder == root or folder.parent == folder:
            return found
        folder = folder.parent


def _script_tokens(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _runs_this_process(
    command: str, wdir: Path, argv: Sequence[str], main_module: str | None
) -> tuple[bool, bool]:
    """Whether ``command`` starts this process (and whether its arguments match too)."""
    tokens = _script_tokens(command)
    script = argv[0] if argv else ""
    script_path = Path(script).resolve() if script and script not in ("-c", "-m") else None
    for i, token in enumerate(tokens):
        rest = tokens[i + 1 :]
        if token == "-m" and rest and main_module and rest[0] == main_module:
            return True, rest[1:] == list(argv[1:])
        if script_path is None or token.startswith("-"):
            continue
        if os.sep in token or "/" in token or token.endswith(".py"):
            if (wdir / token).resolve() == script_path:
                return True, rest == list(argv[1:])
        elif token == script_path.name and i == 0:  # a console script on PATH
            return True, rest == list(argv[1:])
    return False, False


def current_stage(
    root: Path, cwd: Path, argv: Sequence[str], main_module: str | None
) -> Stage | None:
    """The stage this process runs: ``DVC_STAGE`` under ``dvc repro``; otherwise the stage of a
    ``dvc.yaml`` (in ``cwd`` or a parent up to ``root``) whose working directory is ``cwd`` and
    whose command starts this script (its arguments break ties)."""
    candidates = _dvcfiles_between(cwd, root)
    addressing = os.environ.get("DVC_STAGE")
    if addressing:
        path, sep, name = addressing.rpartition(":")
        if sep:
            for base in (cwd, root):
                named = (base / path).resolve()
                if named.is_file() and named not in candidates:
                    candidates.insert(0, named)
        by_name = [s for f in candidates for s in load_stages(f, root).values() if s.name == name]
        here = [s for s in by_name if s.wdir == cwd]
        if here or by_name:
            return (here or by_name)[0]
    matches: list[tuple[bool, Stage]] = []
    for dvcfile in candidates:
        for stage in load_stages(dvcfile, root).values():
            if stage.wdir != cwd:
                continue
            for command in stage.commands:
                found, same_args = _runs_this_process(command, stage.wdir, argv, main_module)
                if found:
                    matches.append((same_args, stage))
                    break
    if not matches:
        return None
    exact = [s for same, s in matches if same]
    return (exact or [s for _, s in matches])[0]


def stage_for_command(root: Path, wdir: Path, command: str) -> Stage | None:
    """The stage whose folder is ``wdir`` and whose command is ``command`` (word for word)."""
    words = _script_tokens(command)
    for dvcfile in _dvcfiles_between(wdir, root):
        for stage in load_stages(dvcfile, root).values():
            if stage.wdir == wdir and any(_script_tokens(c) == words for c in stage.commands):
                return stage
    return None


# -- hashes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hash:
    md5: str
    size: int
    nfiles: int | None = None  # directories only

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _walk_files(folder: Path, ignore: Ignore | None = None) -> Iterator[tuple[str, Path]]:
    """Files under ``folder`` as DVC lists them (``.dvcignore`` rules applied)."""
    for dirpath, dirs, files in os.walk(folder):
        here = Path(dirpath)
        dirs[:] = [
            d for d in dirs
            if d not in _SKIPPED_DIRS and not (ignore and ignore.ignored(here / d, True))
        ]  # fmt: skip
        for name in files:
            full = here / name
            if ignore is not None and ignore.ignored(full, False):
                continue
            yield full.relative_to(folder).as_posix(), full


def listing_md5(entries: list[dict[str, str]]) -> str:
    text = json.dumps(entries, sort_keys=True)
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest() + ".dir"


def path_hash(path: Path, cache: Md5Cache | None = None, ignore: Ignore | None = None) -> Hash:
    """The md5 (and size, and file count for a directory) DVC 3 records for ``path``;
    ``ignore``: the repository's ``.dvcignore`` rules (see :func:`ignore_rules`)."""
    md5 = cache.md5 if cache is not None else file_md5
    if path.is_dir():
        files = list(_walk_files(path, ignore))
        entries = sorted(({"md5": md5(f), "relpath": r} for r, f in files),
                         key=lambda e: e["relpath"])  # fmt: skip
        size = sum(f.stat().st_size for _, f in files)
        return Hash(listing_md5(entries), size, len(entries))
    return Hash(md5(path), path.stat().st_size)


class Md5Cache:
    """MD5s of files remembered by (path, size, mtime, inode) in ``.dvc/tmp/traza-md5.json``,
    so a run of a stage whose data did not change reads no data file again (as DVC's own state
    database does for it). Losing the file only costs a rehash."""

    def __init__(self, root: Path) -> None:
        self.path = root / DVC_DIR / "tmp" / "traza-md5.json"
        try:
            self._entries: dict[str, list[Any]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._entries = {}
        self._changed = False

    def md5(self, path: Path) -> str:
        st = path.stat()
        key = str(path.resolve())
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = self._entries.get(key)
        if hit is not None and hit[:3] == stamp:
            return str(hit[3])
        value = file_md5(path)
        self._entries[key] = [*stamp, value]
        self._changed = True
        return value

    def save(self) -> None:
        if not self._changed:
            return
        if len(self._entries) > _MD5_CACHE_PRUNE_AT:  # forget files that are gone
            self._entries = {k: v for k, v in self._entries.items() if os.path.exists(k)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._entries))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache: never worth failing for


def ignore_rules(root: Path) -> Ignore:
    """The ``.dvcignore`` rules of the repository at ``root`` (read as folders are walked)."""
    return Ignore(root)


# -- params ---------------------------------------------------------------------------------
def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), sub, out)
    else:
        out[prefix] = value


def stage_params(stage: Stage) -> dict[str, Any]:
    """The stage's params as run params: ``train.lr`` for ``params.yaml`` in the stage's
    folder, ``other.yaml:train.lr`` for another file; nested values flattened with dots. A
    params file that is not there has none (:func:`missing_params_files` names it)."""
    out: dict[str, Any] = {}
    for file, keys in stage.params.items():
        path = stage.wdir / file
        if not path.is_file():
            continue
        doc = _yaml_load(path) or {}
        prefix = "" if file == PARAMS_FILE else f"{file}:"
        flat: dict[str, Any] = {}
        if keys is None:
            _flatten("", doc, flat)
        else:
            for key in keys:
                try:
                    _flatten(key, _lookup(doc, key), flat)
                except KeyError:
                    continue
        out.update({prefix + k: v for k, v in flat.items()})
    return out


def missing_params_files(stage: Stage) -> list[str]:
    """The stage's params files that are not in its folder (as ``dvc.yaml`` names them)."""
    return [file for file in stage.params if not (stage.wdir / file).is_file()]


def set_param(doc: dict[str, Any], dotted: str, value: Any) -> bool:
    """Set ``a.b.c`` in a parsed params file; ``False`` when the path is not there."""
    parts = dotted.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        return False
    node[parts[-1]] = value
    return True


def is_data(stage_outs: Sequence[Path], path: Path, root: Path) -> bool:
    """Whether DVC (not Git) keeps ``path``: a stage's output (or inside one), or tracked by a
    ``.dvc`` file (its own or a parent folder's)."""
    for out in stage_outs:
        if path == out or out in path.parents:
            return True
    folder = path
    while folder != root and root in folder.parents:
        if folder.with_name(folder.name + ".dvc").is_file():
            return True
        folder = folder.parent
    return False


def all_outs(dvcfiles: Sequence[Path], root: Path) -> list[Path]:
    outs = []
    for dvcfile in dvcfiles:
        for stage in load_stages(dvcfile, root).values():
            outs += [(stage.wdir / o).resolve() for o in stage.outs]
    return outs


def lock_entry(stage: Stage) -> dict[str, Any]:
    """The stage's entry in ``dvc.lock`` beside its ``dvc.yaml`` (``{}`` when there is none)."""
    lock = stage.dvcfile.with_name("dvc.lock")
    if not lock.is_file():
        return {}
    doc = _yaml_load(lock) or {}
    entry = (doc.get("stages") or {}).get(stage.name)
    return entry if isinstance(entry, dict) else {}


def cache_dir(root: Path) -> Path:
    """The repository's cache folder: ``cache.dir`` of ``.dvc/config.local`` or ``.dvc/config``
    (relative to ``.dvc``), else ``.dvc/cache``."""
    import configparser

    for name in ("config.local", "config"):
        parser = configparser.ConfigParser()
        try:
            parser.read(root / DVC_DIR / name, encoding="utf-8")
        except configparser.Error:
            continue
        if parser.has_option("cache", "dir"):
            value = parser.get("cache", "dir").strip().strip("'\"")
            return (root / DVC_DIR / value).resolve()
    return root / DVC_DIR / "cache"


def cache_object(cache: Path, md5: str) -> Path:
    """Where DVC 3 keeps the object ``md5`` (a ``.dir`` listing or a file's bytes)."""
    return cache / "files" / "md5" / md5[:2] / md5[2:]
