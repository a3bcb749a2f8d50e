"""Which reply variant a transfer request gets (see ``EmulatorConfig.transfer``).

Requests without ``supports_s3_credentials=true`` always get the legacy reply (one
URL, or one multipart plan). With it:

* ``url``: uploads get a multipart plan with a single URL, downloads one URL;
* ``multipart``: uploads get a plan of ``part_bytes`` parts, downloads one URL;
* ``credentials``: every upload and download gets single-object S3 credentials;
* ``mixed``: files below ``large_file_bytes`` as in ``url``; larger ones alternate
  per object, the first by credentials, the next by multipart URLs (uploads) or
  one URL (downloads), and so on. The choice sticks to the object, so asking again
  (after an expired URL, say) gives the same variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from .config import EmulatorConfig

__all__ = ["SINGLE_URL", "TransferPlanner", "Variant", "opted_in", "part_count"]

Variant = Literal["url", "multipart", "credentials"]
SINGLE_URL: Variant = "url"


def opted_in(query: Mapping[str, str]) -> bool:
    """Whether the request's query says ``supports_s3_credentials=true``."""
    return query.get("supports_s3_credentials", "").lower() == "true"


def part_count(size: int, part_bytes: int) -> int:
    """Parts of a multipart plan for ``size`` bytes (at least one, even for an empty file)."""
    return max(1, -(-size // part_bytes))


class TransferPlanner:
    """Decides the variant per object; remembers the ``mixed`` choices."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._chosen: dict[str, bool] = {}  # object -> by credentials (mixed, large files)

    def _large_by_credentials(self, obj: str) -> bool:
        if obj not in self._chosen:
            self._chosen[obj] = len(self._chosen) % 2 == 0
        return self._chosen[obj]

    def upload(self, obj: str, size: int, opted: bool) -> Variant:
        mode = self._config.transfer
        if not opted or mode == "url":
            return SINGLE_URL
        if mode == "multipart":
            return "multipart"
        if mode == "credentials":
            return "credentials"
        if size < self._config.large_file_bytes:
            return SINGLE_URL
        return "credentials" if self._large_by_credentials(obj) else "multipart"

    def download(self, obj: str, size: int, opted: bool) -> Variant:
        mode = self._config.transfer
        if not opted or mode in ("url", "multipart"):
            return SINGLE_URL
        if mode == "credentials":
            return "credentials"
        if size < self._config.large_file_bytes:
            return SINGLE_URL
        return "credentials" if self._large_by_credentials(obj) else SINGLE_URL
