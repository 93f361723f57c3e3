"""OAuth 2.0 user tokens for the X API, as an option beside OAuth 1.0a: a Bearer access token valid two hours and a
refresh token that X rotates on every use (the old one is dead, and reusing it is reported to revoke the whole
token family).

So the pair lives in one file per account, outside the warehouse and Redis (they are secrets), readable by its
owner only (0600), and is replaced atomically: the new pair is written to a temporary file in the same folder,
fsynced and renamed over the old one *before* the new access token is used. Refreshes are serialised by an
exclusive lock on a sibling lock file, and whoever takes the lock re-reads the file first: a process that lost the
race uses the pair the winner wrote instead of spending the rotated-away refresh token. The refresh request itself
is requests-oauthlib's (`OAuth2Session.refresh_token`).

Settings, per credentials prefix P (default XBOT_X_): P+OAUTH2_CLIENT_ID turns OAuth 2.0 on for the accounts using
P; P+OAUTH2_CLIENT_SECRET for a confidential client (HTTP Basic on the token request; public clients send the id in
the body); P+OAUTH2_TOKEN_FILE, the pair's file (default .xbot/secrets/<p>oauth2_token.json). The first pair comes
from X's consent flow: `xbot accounts token NAME --file token.json` stores it.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from xbot_assets.connectors.base import ConnectorError

REFRESH_MARGIN_SECONDS = 300  # refresh when the access token has less than this left


class TokenError(ConnectorError):
    """No usable token pair (missing file, bad JSON, refused refresh): the operator must authorize again."""


def _normalised(token: dict[str, Any], now: float) -> dict[str, Any]:
    if not token.get("access_token") or not token.get("refresh_token"):
        raise TokenError("an OAuth 2.0 token needs access_token and refresh_token (scope offline.access)")
    out = {k: token[k] for k in ("access_token", "refresh_token", "token_type", "scope") if k in token}
    if "expires_at" in token:
        out["expires_at"] = float(token["expires_at"])
    else:
        out["expires_at"] = now + float(token.get("expires_in", 7200))
    return out


class TokenStore:
    """One account's token pair in a file, replaced atomically, refreshed under an exclusive file lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(self.path.suffix + ".lock")

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            raise TokenError(f"no OAuth 2.0 token at {self.path}: store one with `xbot accounts token`") from None
        except json.JSONDecodeError as exc:
            raise TokenError(f"the OAuth 2.0 token file {self.path} is not JSON ({exc.msg})") from None

    def write(self, token: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".token-", suffix=".json")
        try:
            with os.fdopen(handle, "w") as out:
                os.fchmod(out.fileno(), 0o600)
                json.dump(token, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def store(self, token: dict[str, Any]) -> None:
        """The first pair (from the consent flow), or one the operator renewed."""
        with self.locked():
            self.write(_normalised(token, time.time()))

    @contextmanager
    def locked(self):
        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True, repr=False)
class OAuth2Credentials:
    client_id: str
    client_secret: str | None
    token_file: str
    token_url: str

    def __repr__(self) -> str:
        return f"OAuth2Credentials(token_file={self.token_file!r}, <secrets hidden>)"

    def auth(self) -> OAuth2UserAuth:
        return OAuth2UserAuth(self)


class OAuth2UserAuth(AuthBase):
    """Signs each request with the current access token, refreshing (and storing) it first when it is near expiry."""

    def __init__(self, credentials: OAuth2Credentials, clock=time.time):
        self.credentials = credentials
        self.store = TokenStore(credentials.token_file)
        self.clock = clock
        self.refreshes = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        request.register_hook("response", self._on_401)
        return request

    def _on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """X revoked or expired the token before the stored expiry said: refresh once (unless another process
        already did) and send the request again with the new token."""
        if response.status_code != 401 or getattr(response.request, "xbot_retried", False):
            return response
        used = (response.request.headers.get("Authorization") or "").removeprefix("Bearer ")
        with self.store.locked():
            token = self.store.read()
            if token.get("access_token") == used:
                try:
                    token = self._refresh(token)
                except TokenError as exc:
                    exc.status = 401  # X answered this request 401, then refused the refresh: it was a call
                    raise
                self.store.write(token)
                self.refreshes += 1
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {token['access_token']}"
        retry.xbot_retried = True  # type: ignore[attr-defined]
        again = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again

    def access_token(self) -> str:
        token = self.store.read()
        if token.get("expires_at", 0) - self.clock() > REFRESH_MARGIN_SECONDS:
            return token["access_token"]
        with self.store.locked():
            token = self.store.read()  # another process may have refreshed while we waited for the lock
            if token.get("expires_at", 0) - self.clock() > REFRESH_MARGIN_SECONDS:
                return token["access_token"]
            fresh = self._refresh(token)
            self.store.write(fresh)  # persisted before use: a crash now keeps the only live refresh token
            self.refreshes += 1
            return fresh["access_token"]

    def _refresh(self, token: dict[str, Any]) -> dict[str, Any]:
        c = self.credentials
        session = OAuth2Session(c.client_id, token={**token, "token_type": "Bearer"})
        extra = {} if c.client_secret else {"client_id": c.client_id}
        basic = HTTPBasicAuth(c.client_id, c.client_secret) if c.client_secret else None
        try:
            new = session.refresh_token(c.token_url, refresh_token=token["refresh_token"], auth=basic,
                                        timeout=(5, 30), **extra)
        except Exception as exc:  # oauthlib raises its own error types for a refused grant
            raise TokenError(f"X refused to refresh the OAuth 2.0 token ({type(exc).__name__}: {exc}); "
                             "authorize the account again and store the new token") from None
        return _normalised(dict(new), self.clock())
