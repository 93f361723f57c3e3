"""OAuth 2.0 user tokens against the local X server's token endpoint: refresh near expiry, the rotated pair stored
atomically before use, one refresh when several clients race, a refused refresh a clear error."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest
from x_server import FakeXServer

from xbot_assets.connectors.ledger import ApiLedger
from xbot_assets.connectors.x_api.client import XApiClient
from xbot_assets.connectors.x_api.connector import XApiConnector
from xbot_assets.connectors.x_api.oauth2 import OAuth2Credentials, OAuth2UserAuth, TokenError, TokenStore
from xbot_assets.warehouse.connection import Warehouse


@pytest.fixture(autouse=True)
def loopback_http(monkeypatch):
    # oauthlib insists on https; the local X server is plain http on 127.0.0.1.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def server():
    with FakeXServer() as fake:
        fake.state.bearer_tokens.add("access-0")
        fake.state.refresh_tokens.add("refresh-0")
        yield fake


def credentials(server, tmp_path, secret=None) -> OAuth2Credentials:
    return OAuth2Credentials("client-1", secret, str(tmp_path / "secrets" / "token.json"),
                             server.url + "/2/oauth2/token")


def connector(server, duckdb_url, creds, auth=None) -> XApiConnector:
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    client = XApiClient(auth or creds.auth(), ApiLedger(wh, "main", "x-api", monthly_budget=None),
                        base_url=server.url, sleep=lambda s: None)
    return XApiConnector(client, "main", reconcile_delay_seconds=0)


def test_a_fresh_token_is_used_as_is(server, tmp_path, duckdb_url):
    creds = credentials(server, tmp_path)
    TokenStore(creds.token_file).store({"access_token": "access-0", "refresh_token": "refresh-0", "expires_in": 7200})
    assert stat.S_IMODE(os.stat(creds.token_file).st_mode) == 0o600
    assert connector(server, duckdb_url, creds).read_followers(None) == 1000
    assert not server.state.token_requests


@pytest.mark.parametrize("secret", [None, "client-secret"])
def test_an_expiring_token_is_refreshed_and_the_rotated_pair_stored_first(server, tmp_path, duckdb_url, secret):
    creds = credentials(server, tmp_path, secret)
    store = TokenStore(creds.token_file)
    store.store({"access_token": "access-0", "refresh_token": "refresh-0", "expires_at": time.time() + 60})
    auth = creds.auth()
    assert connector(server, duckdb_url, creds, auth).read_followers(None) == 1000
    saved = store.read()
    assert saved["refresh_token"] == "refresh-1" and saved["access_token"] == "access-1" and auth.refreshes == 1
    assert saved["expires_at"] > time.time() + 7000
    [request] = server.state.token_requests
    assert request["grant_type"] == "refresh_token" and request["refresh_token"] == "refresh-0"
    assert ("client_id" in request) == (secret is None)  # a public client names itself; a confidential one signs
    # The API call carried the new token, and the old refresh token is dead on the server.
    assert server.state.requests[-1].authorization == "Bearer access-1"
    assert "refresh-0" in server.state.dead_refresh_tokens


def test_racing_clients_refresh_once_and_never_reuse_a_rotated_token(server, tmp_path):
    creds = credentials(server, tmp_path)
    TokenStore(creds.token_file).store({"access_token": "access-0", "refresh_token": "refresh-0",
                                        "expires_at": time.time() + 10})
    auths = [OAuth2UserAuth(creds) for _ in range(4)]  # four processes' worth of clients, one token file
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda a=a: tokens.append(a.access_token())) for a in auths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tokens == ["access-1"] * 4
    assert len(server.state.token_requests) == 1 and sum(a.refreshes for a in auths) == 1


def test_a_refused_refresh_is_a_clear_error_and_keeps_the_file(server, tmp_path):
    creds = credentials(server, tmp_path)
    store = TokenStore(creds.token_file)
    store.store({"access_token": "access-9", "refresh_token": "stolen-or-old", "expires_at": time.time() - 5})
    before = store.read()
    with pytest.raises(TokenError, match="authorize the account again"):
        creds.auth().access_token()
    assert store.read() == before
    assert "stolen-or-old" not in json.dumps(repr(creds))


def test_missing_or_bad_token_files_say_what_to_do(server, tmp_path):
    creds = credentials(server, tmp_path)
    with pytest.raises(TokenError, match="xbot accounts token"):
        creds.auth().access_token()
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "token.json").write_text("{not json")
    with pytest.raises(TokenError, match="not JSON"):
        creds.auth().access_token()
    with pytest.raises(TokenError, match="refresh_token"):
        TokenStore(creds.token_file).store({"access_token": "only-half"})


def test_a_token_x_revoked_early_is_refreshed_on_401_and_the_call_goes_through(server, tmp_path, duckdb_url):
    creds = credentials(server, tmp_path)
    store = TokenStore(creds.token_file)
    store.store({"access_token": "revoked", "refresh_token": "refresh-0", "expires_in": 7200})  # looks valid
    auth = creds.auth()
    assert connector(server, duckdb_url, creds, auth).read_followers(None) == 1000
    assert auth.refreshes == 1 and store.read()["access_token"] == "access-1"
    assert [r.authorization for r in server.state.requests] == ["Bearer revoked", "Bearer access-1"]
