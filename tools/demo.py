"""`make demo`: one link job end to end on the daemon's embedded Hub emulator.

Starts `aihubd serve --hub emulator` on a private temp socket, writes two small .dlc files,
submits a link job with `aihubctl link --wait --download`, shows where the results are, and
stops the daemon with SIGTERM. Exits 0 only if every step worked and nothing is left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"
BIN = Path(sys.executable).parent
DEVICE = "Snapdragon 8 Elite QRD"


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def write_inputs(directory: Path) -> list[Path]:
    """Two small stand-in DLCs that share a run of bytes (the emulated link stores it once)."""
    directory.mkdir(parents=True, exist_ok=True)
    shared = bytes(range(256)) * 256
    paths = []
    for name in ("prompt_graph", "token_graph"):
        path = directory / f"{name}.dlc"
        path.write_bytes(f"demo DLC {name}\n".encode() + shared + name.encode() * 100)
        paths.append(path)
    return paths


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    run_dir = Path(tempfile.mkdtemp(prefix="aihubd-demo-"))
    socket = run_dir / "run" / "aihubd.sock"
    env = {**os.environ, "AIHUBD_SOCKET": str(socket), "NO_PROXY": "127.0.0.1,localhost"}
    log_path = OUT / "aihubd.log"
    OUT.mkdir(parents=True)

    say("starting aihubd on its embedded Hub emulator")
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [
                str(BIN / "aihubd"),
                "serve",
                "--hub",
                "emulator",
                "--state-dir",
                str(run_dir / "state"),
                "--emulator-link-seconds",
                "4",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    try:
        assert daemon.stdout is not None
        ready = daemon.stdout.readline().strip()
        if not ready:
            print(log_path.read_text(), file=sys.stderr)
            print("demo: the daemon did not start", file=sys.stderr)
            return 1
        print(ready)

        inputs = write_inputs(OUT / "inputs")
        say(f"submitting a link job of {', '.join(p.name for p in inputs)} through aihubctl")
        results = OUT / "results"
        link = subprocess.run(
            [
                str(BIN / "aihubctl"),
                "link",
                *map(str, inputs),
                "--device",
                DEVICE,
                "--name",
                "demo-link",
                "--wait",
                "--download",
                str(results),
            ],
            env=env,
            check=False,
        )
        if link.returncode != 0:
            print(f"demo: aihubctl link exited {link.returncode}", file=sys.stderr)
            return 1

        say("results")
        for path in sorted(results.iterdir()):
            print(f"  {path.relative_to(ROOT)}  ({path.stat().st_size} bytes)")
        print(f"  daemon log: {log_path.relative_to(ROOT)}")
    finally:
        say("stopping the daemon (SIGTERM)")
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        try:
            code = daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            code = daemon.wait()
        socket_left = socket.exists()
        shutil.rmtree(run_dir, ignore_errors=True)
    print(f"aihubd exited with {code}; socket removed: {not socket_left}")
    return 0 if code == 0 and not socket_left else 1


if __name__ == "__main__":
    sys.exit(main())
