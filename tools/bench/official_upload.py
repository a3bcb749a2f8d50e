"""Child process of the upload scenario: the unmodified official client's ``upload_model``.

    python -m tools.bench.official_upload API_URL TOKEN PATH

Prints one JSON line: wall seconds of ``upload_model``, the process's RSS before it (after the
imports and a warm-up API call) and its peak RSS during it (VmHWM, reset just before).
"""

from __future__ import annotations

import json
import sys
import time


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    api_url, token, path = sys.argv[1:4]
    import qai_hub

    client = qai_hub.Client(
        config=qai_hub.ClientConfig(api_token=token, api_url=api_url, web_url=api_url + "/", verbose=False)
    )
    client.get_devices(name="Snapdragon 8 Elite QRD")  # warm: sessions, imports done
    idle = _status_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    t0 = time.perf_counter()
    model = client.upload_model(path)
    seconds = time.perf_counter() - t0
    print(
        json.dumps({"seconds": seconds, "idle_rss": idle, "peak_rss": _status_bytes("VmHWM"), "model": model.model_id})
    )


if __name__ == "__main__":
    main()
