"""The path-safety helper (``traza.safepath``) and trusted roots (``traza.trusted_roots``).

A property test over encodings and separators: no accepted path ever resolves outside the
root, in any form a lower layer might decode it to, and every accepted path round-trips.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from traza.artifacts.local import LocalArtifactRepository
from traza.exceptions import TrazaException
from traza.safepath import decoded_forms, safe_location, safe_relative_path
from traza.trusted_roots import TrustedRoots, root_depth

ROOT = "/srv/artifacts/run"

#: Pieces an attacker (or an odd but honest name) builds paths from.
PIECES = [
    "a", "b c", "ü", "=", "+", "~", ":", "C:", ".", "..", "...", "%", "%2e", "%2E", "%2f",
    "%2F", "%25", "%252e", "%252f", "%5c", "%5C", "\\", "/", "//", ";", "%3b", "#", "%23",
    "?", "%3f", "\x00", "%00", "\n", "%0a", "\x7f", "%c0%ae", "%e2%80%ae", "．．",
]  # fmt: skip

paths = st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join)


def _inside(path: str) -> bool:
    joined = posixpath.normpath(posixpath.join(ROOT, path))
    return joined == ROOT or joined.startswith(f"{ROOT}/")


@settings(max_examples=1500, deadline=None)
@given(paths)
@example("%2e%2e/x")
@example("a/%252e%252e/%252e%252e/etc")
@example("EXP/%2F/etc/passwd")
@example("..%5c..%5cetc")
def test_accepted_paths_stay_inside_and_round_trip(path: str) -> None:
    try:
        rel = safe_relative_path(path)
    except TrazaException as e:
        assert e.error_code == "INVALID_PARAMETER_VALUE" and "Invalid artifact path" in e.message
        return
    # Inside the root in every form any layer might decode it to.
    for form in decoded_forms(rel):
        assert _inside(form), (path, form)
        assert "\\" not in form and "#" not in form and "?" not in form and ";" not in form
        assert not any(ord(c) < 32 or ord(c) == 127 for c in form)
    # Round trip: the normal form is accepted as is, and a URL-quoted form decodes back to it.
    assert safe_relative_path(rel) == rel
    assert urllib.parse.unquote(urllib.parse.quote(rel)) == rel
    assert posixpath.relpath(posixpath.join(ROOT, rel) if rel else ROOT, ROOT) == (rel or ".")


@pytest.mark.parametrize(
    "path",
    ["a b.txt", "ünïcödé/ß.txt", "k=v+w.csv", "100%.txt", "50%25off", "dir/sub/file.tar.gz"],
)
def test_legitimate_names_are_kept(path: str) -> None:
    assert safe_relative_path(path) == path


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("..", "'..'"),
        ("%2e%2e", "'..'"),
        ("%252e%252e/x", "'..'"),
        ("a/%2F/etc", "encoded '/'"),
        ("a//etc", "empty segment"),
        ("/etc/passwd", "relative"),
        ("C:/x", "drive"),
        ("a;b", "path parameters"),
        ("a%3bb", "path parameters"),
        ("a\\b", "backslash"),
        ("a#b", "fragment"),
        ("a?b", "query"),
        ("a\x00b", "control"),
        ("a%0ab", "control"),
    ],
)
def test_refusals_say_which_rule(path: str, rule: str) -> None:
    with pytest.raises(TrazaException, match=rule) as e:
        safe_relative_path(path)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_decoding_is_bounded() -> None:
    deep = "%2e"
    for _ in range(12):
        deep = urllib.parse.quote(deep, safe="")
    with pytest.raises(TrazaException, match="percent-encoded more than"):
        safe_relative_path(f"{deep}{deep}/x")
    assert safe_relative_path("%25252e") == "%25252e"  # a few layers are decoded and fine


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/data/mlruns/1/", "/data/mlruns/1"),
        ("/data//mlruns/./1", "/data/mlruns/1"),
        ("file:///data/mlruns/1", "file:///data/mlruns/1"),
        ("file://localhost/data/a%20b", "file:///data/a%20b"),
        ("s3://bucket/prefix/", "s3://bucket/prefix"),
        ("mlflow-artifacts:/1/", "mlflow-artifacts:/1"),
        ("mlflow-artifacts://host:5000/1", "mlflow-artifacts://host:5000/1"),
        ("https://host/api/2.0/mlflow-artifacts/artifacts/x", None),
    ],
)
def test_locations_are_normalised(location: str, expected: str | None) -> None:
    assert safe_location(location) == (expected or location)


def test_relative_location_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert safe_location("rel/dir") == str(tmp_path / "rel" / "dir")


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc#",
        "file:///etc?x",
        "file:///etc%23",
        "file:///a/../etc",
        "file:///a/%2e%2e/etc",
        "file://evil-host/share",
        "mlflow-artifacts:/%2e%2e/x",
        "mlflow-artifacts:/../x",
        "s3://bucket/a/../b",
        "s3://bucket/k#frag",
        "gs://bucket/k;p",
        "/a/../etc",
        "/a\\b",
        "",
        "   ",
    ],
)
def test_bad_locations_are_refused(location: str) -> None:
    with pytest.raises(TrazaException) as e:
        safe_location(location)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_location_length_is_mlflows(monkeypatch: pytest.MonkeyPatch) -> None:
    assert safe_location("/a/" + "x" * 2040)
    with pytest.raises(TrazaException, match="the limit is 2048"):
        safe_location("/a/" + "x" * 2046)
    monkeypatch.setenv("MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH", "10")
    with pytest.raises(TrazaException, match="the limit is 10"):
        safe_location("/abcdefghijk")


# -- trusted roots ----------------------------------------------------------------------------
def test_local_roots_contain_by_real_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "exp").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    roots = TrustedRoots([root.as_uri()])
    assert roots.contains((root / "exp" / "run").as_uri())
    assert roots.contains(str(root / "exp"))
    assert roots.contains(str(root))
    assert not roots.contains(str(root / "link" / "x"))  # a symlink out is outside
    assert not roots.contains(str(outside))
    assert not roots.contains(f"{root}-sibling")  # a prefix is not a parent
    assert not roots.contains("file://other-host" + str(root))
    with pytest.raises(TrazaException, match="does not serve artifacts from") as e:
        roots.check(str(outside))
    assert e.value.error_code == "PERMISSION_DENIED"


def test_s3_and_http_roots() -> None:
    roots = TrustedRoots(["s3://bucket/prefix", "http://store:9000/base"])
    assert roots.contains("s3://bucket/prefix/1/run")
    assert roots.contains("s3://bucket/prefix")
    assert not roots.contains("s3://bucket/prefix2/x")
    assert not roots.contains("s3://other/prefix/x")
    assert roots.contains("http://store:9000/anything")
    assert not roots.contains("http://169.254.169.254/latest")
    assert not roots.contains("gs://bucket/prefix")


def test_recorded_roots_are_read_again_on_a_miss(tmp_path: Path) -> None:
    recorded: list[str] = []
    reads = []

    def read() -> list[str]:
        reads.append(1)
        return list(recorded)

    roots = TrustedRoots([], read)
    assert not roots.contains(str(tmp_path / "x"))
    recorded.append(tmp_path.as_uri())
    assert roots.contains(str(tmp_path / "x"))
    count = len(reads)
    assert roots.contains(str(tmp_path / "y"))  # a hit needs no read
    assert len(reads) == count


def test_root_depth() -> None:
    assert root_depth("/") == 0
    assert root_depth("file:///home") == 1
    assert root_depth("/data/mlruns") == 2
    assert root_depth("s3://bucket") == 1


def test_local_repository_refuses_what_the_rule_refuses(tmp_path: Path) -> None:
    repo = LocalArtifactRepository(tmp_path.as_uri())
    for bad in ("%2e%2e/x", "a;b", "a#b", "a//b"):
        with pytest.raises(TrazaException):
            repo.list_artifacts(bad)
