"""Credentials and settings of the X API connector.

OAuth 1.0a user context for one owned account: four values from the environment (`XBOT_X_API_KEY`,
`XBOT_X_API_SECRET`, `XBOT_X_ACCESS_TOKEN`, `XBOT_X_ACCESS_SECRET`; another account's under its own prefix, e.g.
`--credentials-prefix XBOT_X_BRAND_` reads `XBOT_X_BRAND_API_KEY`, ...). Or OAuth 2.0 user tokens when
`XBOT_X_OAUTH2_CLIENT_ID` (under the prefix) is set (`oauth2.py`). They reach the connector through the
Dagster resource (`dg.EnvVar`), are signed by requests-oauthlib, and are never printed: the repr hides them and no
request header is stored anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from requests_oauthlib import OAuth1

from xbot_assets.settings import PROJECT_ROOT, env_float, env_int

DEFAULT_BASE_URL = "https://api.x.com"
BASE_URL_ENV = "XBOT_X_API_BASE_URL"
DEFAULT_PREFIX = "XBOT_X_"
CREDENTIAL_NAMES = ("API_KEY", "API_SECRET", "ACCESS_TOKEN", "ACCESS_SECRET")


OAUTH2_NAMES = ("OAUTH2_CLIENT_ID", "OAUTH2_CLIENT_SECRET", "OAUTH2_TOKEN_FILE")
TOKEN_PATH = "/2/oauth2/token"


def credential_variables(prefix: str | None) -> tuple[str, ...]:
    return tuple(f"{prefix or DEFAULT_PREFIX}{name}" for name in CREDENTIAL_NAMES)


def oauth2_variables(prefix: str | None) -> tuple[str, ...]:
    return tuple(f"{prefix or DEFAULT_PREFIX}{name}" for name in OAUTH2_NAMES)


def default_token_file(prefix: str | None) -> str:
    return str(PROJECT_ROOT / ".xbot" / "secrets" / f"{(prefix or DEFAULT_PREFIX).lower()}oauth2_token.json")


@dataclass(frozen=True, repr=False)
class OAuth1Credentials:
    api_key: str
    api_secret: str
    access_token: str
    access_secret: str

    def __repr__(self) -> str:
        return "OAuth1Credentials(<hidden>)"

    def auth(self) -> OAuth1:
        return OAuth1(self.api_key, client_secret=self.api_secret, resource_owner_key=self.access_token,
                      resource_owner_secret=self.access_secret, signature_type="AUTH_HEADER")


@dataclass(frozen=True)
class XApiSettings:
    """XBOT_X_API_BASE_URL (https://api.x.com), XBOT_X_CONNECT_TIMEOUT_SECONDS (5), XBOT_X_READ_TIMEOUT_SECONDS
    (30), XBOT_X_MAX_ATTEMPTS (3: tries of a read on 5xx/timeouts, and of a post whose outcome stayed unknown),
    XBOT_X_MAX_WAIT_SECONDS (900: the longest a run waits for a rate-limit window), XBOT_X_RECONCILE_DELAY_SECONDS
    (5: the pause before reading the timeline after an unknown outcome), XBOT_X_ANALYTICS (1: read per-post
    follows from /2/tweets/analytics; 0 turns it off)."""

    base_url: str = DEFAULT_BASE_URL
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 3
    max_wait_seconds: float = 900.0
    reconcile_delay_seconds: float = 5.0
    analytics: bool = True

    @classmethod
    def from_env(cls, base_url: str | None = None) -> XApiSettings:
        return cls(
            base_url=base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
            connect_timeout=env_float("XBOT_X_CONNECT_TIMEOUT_SECONDS", 5.0),
            read_timeout=env_float("XBOT_X_READ_TIMEOUT_SECONDS", 30.0),
            max_attempts=max(1, env_int("XBOT_X_MAX_ATTEMPTS", 3)),
            max_wait_seconds=env_float("XBOT_X_MAX_WAIT_SECONDS", 900.0),
            reconcile_delay_seconds=env_float("XBOT_X_RECONCILE_DELAY_SECONDS", 5.0),
            analytics=env_int("XBOT_X_ANALYTICS", 1) != 0,
        )
