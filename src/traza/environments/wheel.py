"""The running Traza as a wheel, for environments that need Traza itself (Traza is not on
PyPI).

The wheel is put together from the installed distribution, whatever installed it: the files of
the ``traza`` package as they are on disk (listed by the distribution's ``RECORD`` for a wheel
or tool install; walked for an editable install, whose ``RECORD`` names only a ``.pth`` file)
and its metadata (``METADATA``, ``entry_points.txt``) read with :mod:`importlib.metadata`. No
build backend, no Node and no source tree are needed, so an editable clone, ``pip install
./traza`` and ``uv tool install`` / ``pipx`` all work. Kept under ``<root>/.wheels/<digest>/``:
a changed installation gives a new wheel and new environments.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from traza.environments.spec import EnvironmentBuildError

_digests: dict[tuple[object, ...], str] = {}
#: Metadata files carried into the wheel (the installer's own records are not).
_METADATA_FILES = ("METADATA", "entry_points.txt")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so equal contents give an equal wheel


@dataclass(frozen=True)
class Installed:
    """The running Traza: its package folder and its distribution's metadata."""

    package: Path  # the folder of ``traza/__init__.py``
    version: str
    metadata: dict[str, bytes]  # file name in the .dist-info -> contents
    #: The package's files relative to ``package``'s parent, as its ``RECORD`` lists them with
    #: their recorded hashes; ``None`` when the RECORD lists none (an editable install).
    recorded: tuple[tuple[str, str], ...] | None


def installed() -> Installed:
    """Describe the running Traza from its installed distribution."""
    import traza

    package = Path(traza.__file__).resolve().parent
    try:
        dist = metadata.distribution("traza")
    except metadata.PackageNotFoundError:
        raise EnvironmentBuildError(
            f"Traza runs from {package} but has no installed metadata (traza-*.dist-info), so "
            "it cannot be put into the environment: install it (pip install -e . from a clone, "
            "or pip install ./traza), or use --env-manager local."
        ) from None
    files: dict[str, bytes] = {}
    for name in _METADATA_FILES:
        text = dist.read_text(name)
        if text is not None:
            files[name] = text.encode("utf-8")
    if "METADATA" not in files:
        raise EnvironmentBuildError(f"Traza's installed metadata has no METADATA file ({dist}).")
    recorded = tuple(
        (str(f), f.hash.value if f.hash else "")
        for f in dist.files or ()
        if f.parts[0] == "traza" and "__pycache__" not in f.parts and f.suffix != ".pyc"
    )
    if recorded and not _same(
        package / "__init__.py", Path(str(dist.locate_file("traza/__init__.py")))
    ):
        recorded = ()  # another traza's metadata on the path: take the files that run
    return Installed(package, dist.version, files, recorded or None)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _walk(package: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [Path(dirpath) / f for f in sorted(files) if not f.endswith((".pyc", ".pyo"))]
    return found


def _package_files(inst: Installed) -> list[tuple[str, Path]]:
    """(name in the wheel, file on disk) for every file of the package."""
    base = inst.package.parent
    if inst.recorded is not None:
        return [(name, base / name) for name, _ in inst.recorded]
    return [(p.relative_to(base).as_posix(), p) for p in _walk(inst.package)]


def installed_digest(inst: Installed | None = None) -> str:
    """A hash of what the wheel would hold. For a wheel or tool install the RECORD's hashes
    stand for the files (nothing is read); an editable install's files are read, and the
    result remembered in-process while their sizes and mtimes stay the same, so a warm
    environment lookup reads no file twice."""
    inst = inst or installed()
    h = hashlib.sha256()
    for name in sorted(inst.metadata):
        h.update(name.encode() + b"\0" + inst.metadata[name] + b"\0")
    if inst.recorded is not None:
        for name, digest in inst.recorded:
            h.update(f"{name}\0{digest}\0".encode())
        return h.hexdigest()[:16]
    files = _walk(inst.package)
    stamp: list[object] = [h.hexdigest()]
    for path in files:
        st = path.stat()
        stamp += [str(path), st.st_size, st.st_mtime_ns]
    key = tuple(stamp)
    if (hit := _digests.get(key)) is not None:
        return hit
    for path in files:
        h.update(path.relative_to(inst.package.parent).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    _digests[key] = value = h.hexdigest()[:16]
    return value


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(inst: Installed, folder: Path) -> Path:
    """Write the wheel of ``inst`` into ``folder`` (a pure-Python ``py3-none-any`` wheel)."""
    version = inst.version.replace("-", "_")
    info = f"traza-{version}.dist-info"
    path = folder / f"traza-{version}-py3-none-any.whl"
    wheel_text = (
        "Wheel-Version: 1.0\nGenerator: traza (from the installed distribution)\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record: list[str] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:

        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            entry.external_attr = (0o100000 | mode) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
            record.append(_record_line(name, data))

        for name, file in _package_files(inst):
            try:
                data = file.read_bytes()
            except FileNotFoundError:
                raise EnvironmentBuildError(
                    f"{file} is listed in Traza's installed RECORD but missing: reinstall Traza."
                ) from None
            add(name, data, file.stat().st_mode & 0o777)
        for name, data in inst.metadata.items():
            add(f"{info}/{name}", data)
        add(f"{info}/WHEEL", wheel_text.encode())
        record.append(f"{info}/RECORD,,")
        entry = zipfile.ZipInfo(f"{info}/RECORD", date_time=_ZIP_DATE)
        entry.external_attr = 0o100644 << 16
        zf.writestr(entry, "\n".join(record) + "\n")
    return path


def traza_wheel(wheels_root: Path, progress: Callable[[str], None]) -> Path:
    """The wheel of the running Traza, written now unless this installation was before."""
    inst = installed()
    final = wheels_root / installed_digest(inst)
    if found := sorted(final.glob("traza-*.whl")):
        return found[-1]
    wheels_root.mkdir(parents=True, exist_ok=True)
    work = wheels_root / f".tmp-{final.name}-{os.getpid()}-{time.monotonic_ns()}"
    work.mkdir()
    started = time.monotonic()
    progress(f"Packing the running Traza ({inst.package}) into a wheel ...")
    try:
        write_wheel(inst, work)
        try:
            os.rename(work, final)
        except OSError:  # another process put it there first
            if not any(final.glob("traza-*.whl")):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"Packed the Traza wheel in {time.monotonic() - started:.1f} s")
    return sorted(final.glob("traza-*.whl"))[-1]
