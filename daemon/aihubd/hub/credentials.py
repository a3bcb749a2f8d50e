"""Hub credentials: the only module that reads or holds the API token.

Sources, first match wins: ``--token-file`` (a file holding only the token), the environment
variable ``AIHUBD_HUB_TOKEN``, then qai-hub's own config (``$QAIHUB_CLIENT_INI`` or
``~/.qai_hub/client.ini``, section ``[api]``: ``api_token``, ``api_url``, ``web_url``,
``default_project``) — so an existing ``qai-hub configure`` user has nothing to set up.
"""

from __future__ import annotations

import configparser
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AihubdError

__all__ = ["DEFAULT_API_URL", "DEFAULT_WEB_URL", "HubCredentials", "MissingCredentials", "load_credentials"]

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://workbench.aihub.qualcomm.com"
DEFAULT_WEB_URL = "https://workbench.aihub.qualcomm.com"
TOKEN_ENV = "AIHUBD_HUB_TOKEN"
CLIENT_INI_ENV = "QAIHUB_CLIENT_INI"
DEFAULT_CLIENT_INI = Path("~/.qai_hub/client.ini")

HOW_TO_CONFIGURE = (
    "Configure the Hub token the way qai-hub does: `qai-hub configure --api_token <TOKEN>` "
    "(writes ~/.qai_hub/client.ini; the token is on https://workbench.aihub.qualcomm.com/account/), "
    f"or point {CLIENT_INI_ENV} at such a file, or start with `--token-file FILE` or {TOKEN_ENV} set. "
    "To try aihubd without an account: `aihubd serve --hub emulator`."
)


class MissingCredentials(AihubdError):
    """No usable Hub token was found."""


class UnprotectedTokenFile(MissingCredentials):
    """The token file is readable by other users."""


@dataclass(frozen=True)
class HubCredentials:
    """Where the Hub is and the token to reach it. ``repr`` and ``str`` never show the token."""

    api_url: str
    web_url: str
    token: str = field(repr=False)
    default_project: str = ""
    source: str = ""

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a Hub API request."""
        return {"Authorization": f"token {self.token}"}


def _client_ini_path() -> Path:
    return Path(os.environ.get(CLIENT_INI_ENV) or DEFAULT_CLIENT_INI).expanduser()


def _warn_if_readable_by_others(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "%s is readable by other users (mode %o); the Hub token in it should be private: chmod 600 %s",
            path,
            stat.S_IMODE(mode),
            path,
        )


def _refuse_if_readable_by_others(path: Path) -> None:
    """Like ssh with a private key: a token file others can read is not used."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UnprotectedTokenFile(
            f"UNPROTECTED TOKEN FILE: permissions {mode:04o} for '{path}' are too open. "
            f"The Hub token must not be readable by others; it is ignored. Run `chmod 600 {path}`."
        )


def load_credentials(
    *, token_file: Path | None = None, api_url: str | None = None, web_url: str | None = None
) -> HubCredentials:
    """Find the Hub token and URLs, or raise MissingCredentials saying how to configure them."""
    ini = configparser.ConfigParser()
    ini_path = _client_ini_path()
    section: dict[str, str] = {}
    if ini_path.is_file():
        try:
            ini.read(ini_path)
        except configparser.Error as exc:
            raise MissingCredentials(f"cannot read {ini_path}: {exc.__class__.__name__}. {HOW_TO_CONFIGURE}") from None
        if ini.has_section("api"):
            section = dict(ini["api"])

    token, source = "", ""
    if token_file is not None:
        path = token_file.expanduser()
        try:
            _refuse_if_readable_by_others(path)
            token, source = path.read_text().strip(), str(path)
        except OSError as exc:
            raise MissingCredentials(f"cannot read token file {path}: {exc.strerror}") from None
    elif os.environ.get(TOKEN_ENV, "").strip():
        token, source = os.environ[TOKEN_ENV].strip(), TOKEN_ENV
    elif section.get("api_token", "").strip():
        token, source = section["api_token"].strip(), str(ini_path)
        _warn_if_readable_by_others(ini_path)
    if not token:
        raise MissingCredentials(f"no Qualcomm AI Hub token found. {HOW_TO_CONFIGURE}")

    resolved_api = (api_url or section.get("api_url") or DEFAULT_API_URL).rstrip("/")
    resolved_web = (web_url or section.get("web_url") or (resolved_api if api_url else DEFAULT_WEB_URL)).rstrip("/")
    return HubCredentials(
        api_url=resolved_api,
        web_url=resolved_web,
        token=token,
        default_project=section.get("default_project", "") or "",
        source=source,
    )
