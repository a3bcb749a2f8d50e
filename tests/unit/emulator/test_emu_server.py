"""`run_forever` as a process, and `EmulatorThread` basics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

from aihubd.emulator import EmulatorConfig, EmulatorThread

SCRIPT = (
    "import sys\n"
    "from aihubd.emulator import EmulatorConfig\n"
    "from aihubd.emulator.server import run_forever\n"
    "sys.exit(run_forever(EmulatorConfig(manual=True), host='127.0.0.1', port=0))\n"
)


def test_run_forever_prints_url_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base_url}/_emulator/health", timeout=10) as resp:
            assert json.load(resp)["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_emulator_thread() -> None:
    with EmulatorThread(EmulatorConfig(manual=True)) as et:
        with urllib.request.urlopen(f"{et.base_url}/_emulator/health", timeout=10) as resp:
            assert resp.status == 200
        assert et.counters() == {}
    # Stopped: the port no longer answers.
    try:
        urllib.request.urlopen(f"{et.base_url}/_emulator/health", timeout=2)
    except OSError:
        pass
    else:
        raise AssertionError("the emulator still answers after stop()")
