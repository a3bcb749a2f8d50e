"""How the daemon introduces itself to the Hub: the official client's identity headers.

The official ``qai-hub`` client (``util/session.py: create_session``) sends ``Client-Version``,
``Python-Version``, ``OS-Type``, ``OS-Version`` and ``Client-Mode`` on every request, API and blob
alike. The daemon speaks that client's protocol, so it sends the same headers with the version
whose protocol it speaks (one constant, below); only ``User-Agent`` names aihubd itself.
"""

from __future__ import annotations

import platform

from .. import __version__

__all__ = ["CLIENT_MODE", "PROTOCOL_VERSION", "identity_headers"]

# The qai-hub release whose wire protocol this daemon speaks (and is tested against).
PROTOCOL_VERSION = "0.56.0"
# The official client sends "library" (or "cli" from its own command line); the daemon calls the
# Hub as a library does.
CLIENT_MODE = "library"


def identity_headers() -> dict[str, str]:
    """The headers every Hub request carries (API and blob), as the official client forms them."""
    return {
        "User-Agent": f"aihubd/{__version__} (qai_hub/{PROTOCOL_VERSION} protocol)",
        "Client-Version": PROTOCOL_VERSION,
        "Python-Version": platform.python_version(),
        "OS-Type": platform.system(),
        "OS-Version": platform.release(),
        "Client-Mode": CLIENT_MODE,
    }
