"""Hub-supplied file names, as properties: whatever the Hub sends, the path the daemon computes
stays in the directory it was asked to write to (or the name is refused)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aihubd.errors import AihubdError
from aihubd.services.delivery import safe_filename, target_model_path

SETTINGS = settings(
    max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

HOSTILE = [
    "../x",
    "../../x",
    "/etc/passwd",
    "a/b",
    "a/../../x",
    "evil\x00.bin",
    "a" * 300,
    "é" * 128,
    ".",
    "..",
    "",
    "x/",
    "/",
    "//",
    "..\\..\\x",
    "\\",
    "./x",
    "x/.",
    "~/.ssh/authorized_keys",
    "\x00",
]

# Names built from the characters that matter for paths, plus anything printable.
PATHISH = st.text(alphabet=st.sampled_from(["/", ".", "\\", "\x00", "a", "b", "é", "~", " ", "\n"]), max_size=12)
ANY = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
NAMES = st.one_of(
    st.sampled_from(HOSTILE),
    PATHISH,
    ANY,
    st.integers(250, 260).map(lambda n: "n" * n),
    st.integers(120, 130).map(lambda n: "é" * n),
)


@contextmanager
def _directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aihubd-prop-names-") as raw:
        yield Path(raw)


def _safe(name: str) -> str | None:
    try:
        return safe_filename(name)
    except AihubdError:
        return None


@SETTINGS
@given(NAMES)
def test_a_safe_filename_is_one_plain_component(name: str) -> None:
    safe = _safe(name)
    if safe is None:
        return
    assert "/" not in safe and "\x00" not in safe and safe not in ("", ".", "..")
    assert len(os.fsencode(safe)) <= 255
    root = Path("/srv/requested")
    joined = root / safe
    assert joined.parent == root and os.path.normpath(joined) == str(joined)


@pytest.mark.parametrize("name", [n for n in HOSTILE if "\\" not in n], ids=repr)
def test_the_hostile_names_are_refused(name: str) -> None:
    assert _safe(name) is None, name


@SETTINGS
@given(NAMES, st.booleans())
def test_target_model_path_into_an_existing_directory_stays_there(name: str, taken: bool) -> None:
    with _directory() as root:
        requested = root / "requested"
        requested.mkdir()
        if taken and _safe(name) is not None:
            (requested / name).write_bytes(b"already here")  # forces the uniquified name
        try:
            path = target_model_path(requested, name, now=datetime(2026, 1, 2, 3, 4, 5, 678901))
        except AihubdError:
            return
        assert path.parent == requested
        assert len(os.fsencode(path.name)) <= 255, "a name the filesystem cannot create"
        assert not path.exists(), "an existing file would be overwritten"


@pytest.mark.parametrize("length", [240, 250, 255])
def test_uniquifying_a_long_taken_name_stays_within_name_max(length: int) -> None:
    name = "m" * (length - 4) + ".bin"
    with _directory() as root:
        (root / name).write_bytes(b"already here")
        path = target_model_path(root, name, now=datetime(2026, 1, 2, 3, 4, 5, 678901))
        assert path.parent == root and path.name != name
        assert len(os.fsencode(path.name)) <= 255


@SETTINGS
@given(NAMES, st.sampled_from(["mine", "mine.bin", "model.tar", ".hidden", "x" * 200]))
def test_target_model_path_to_a_file_name_stays_beside_it(name: str, stem: str) -> None:
    with _directory() as root:
        requested = root / "requested"
        requested.mkdir()
        try:
            path = target_model_path(requested / stem, name)
        except AihubdError:
            return
        assert path.parent == requested
        assert path.name.startswith(stem)
        assert "/" not in path.name and "\x00" not in path.name
