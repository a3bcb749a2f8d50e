"""One socket discovery rule on both sides: the Python client's default_socket_path() and the Node
client's defaultSocketPath() give the same path (or both refuse) for the same environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PY = """
from aihubd_client.socket_path import default_socket_path
try:
    print(default_socket_path())
except PermissionError:
    print("REFUSED")
"""
JS = (
    "import('{module}').then((m) => {{ try {{ console.log(m.defaultSocketPath()) }}"
    " catch (e) {{ console.log('REFUSED') }} }})"
)

Setup = Callable[[Path], dict[str, str]]


def _dir(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def _symlink(base: Path) -> Path:
    link = base / "link"
    link.symlink_to(_dir(base / "real", 0o700))
    return link


CASES: dict[str, Setup] = {
    "AIHUBD_SOCKET absolute": lambda b: {"AIHUBD_SOCKET": str(b / "a" / "d.sock")},
    "AIHUBD_SOCKET relative with ./ and //": lambda b: {"AIHUBD_SOCKET": "./x//y/./d.sock"},
    "AIHUBD_SOCKET with ..": lambda b: {"AIHUBD_SOCKET": "x/../d.sock"},
    "AIHUBD_SOCKET with ~": lambda b: {"AIHUBD_SOCKET": "~/sockets/d.sock", "HOME": str(b / "home")},
    "AIHUBD_SOCKET trailing slash": lambda b: {"AIHUBD_SOCKET": str(b) + "/d.sock/"},
    "XDG_RUNTIME_DIR private": lambda b: {"XDG_RUNTIME_DIR": str(_dir(b / "xdg", 0o700))},
    "XDG_RUNTIME_DIR not yet created": lambda b: {"XDG_RUNTIME_DIR": str(b / "later")},
    "XDG_RUNTIME_DIR mode 0755": lambda b: {
        "XDG_RUNTIME_DIR": str(_dir(b / "open", 0o755)),
        "TMPDIR": str(_dir(b / "t", 0o700)),
    },
    "XDG_RUNTIME_DIR a symlink": lambda b: {"XDG_RUNTIME_DIR": str(_symlink(b)), "TMPDIR": str(_dir(b / "t", 0o700))},
    "XDG_RUNTIME_DIR below a group-writable dir": lambda b: {
        "XDG_RUNTIME_DIR": str(_dir(_dir(b / "shared", 0o770) / "xdg", 0o700)),
        "TMPDIR": str(_dir(b / "t", 0o700)),
    },
    "XDG_RUNTIME_DIR relative": lambda b: {"XDG_RUNTIME_DIR": "relative/xdg", "TMPDIR": str(_dir(b / "t", 0o700))},
    "no XDG: TMPDIR fallback": lambda b: {"TMPDIR": str(_dir(b / "t", 0o700))},
    "no XDG: TMPDIR missing, TMP used": lambda b: {"TMPDIR": str(b / "missing"), "TMP": str(_dir(b / "t2", 0o700))},
    "no XDG: unsafe TMPDIR refused": lambda b: {"TMPDIR": str(_dir(b / "wide", 0o777))},
    "no XDG: runtime dir world-writable refused": lambda b: {
        "TMPDIR": str(_dir(b / "t", 0o700)),
        "_RUNTIME": str(_dir(b / "t" / f"runtime-{os.geteuid()}", 0o777)),
    },
}


@pytest.mark.parametrize("case", CASES)
def test_python_and_node_agree(case: str, node: str, node_build: Path, tmp_path: Path) -> None:
    base = _dir(tmp_path / "case", 0o700)
    work = _dir(base / "cwd", 0o700)
    extra = CASES[case](base)
    extra.pop("_RUNTIME", None)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base), **extra}
    python = subprocess.run([sys.executable, "-c", PY], env=env, cwd=work, capture_output=True, text=True, check=True)
    module = (node_build / "src" / "socket-path.js").as_uri()
    js = subprocess.run(
        [node, "-e", JS.format(module=module)], env=env, cwd=work, capture_output=True, text=True, check=True
    )
    assert js.stdout.strip() == python.stdout.strip(), f"python: {python.stdout!r} node: {js.stdout!r}"
    assert python.stdout.strip()  # each side answered
