"""The property tests import their helpers (prop_rpc_support) and the security tests' (sec_support)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent / "security"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
