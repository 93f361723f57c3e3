"""The web fallback in Debian's chromium against saved x.com pages (tests/x_web_pages, written by us with the public
DOM's data-testid structure) served on 127.0.0.1: counters read from the right article, the analytics page when the
browser profile is logged in, a changed page a clear error that names the element, never a zero."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from xbot_assets.connectors.base import ConnectorError
from xbot_assets.connectors.x_web import CHROMIUM_ARGS, PageChanged, XWebConnector

PAGES = Path(__file__).parent / "x_web_pages"
CHROMIUM = os.environ.get("XBOT_CHROMIUM", "/usr/bin/chromium")
NOW = datetime(2026, 12, 1, 12, 0)

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("XBOT_REQUIRE_BROWSER") != "1",
    reason=f"Debian's chromium is not at {CHROMIUM} (apt-get install chromium; .ci/run does)")


class _Site(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        logged_in = "auth_token=" in (self.headers.get("cookie") or "")
        if parts == ["xbot_test"]:
            page = "profile.html"
        elif parts == ["xbot_test", "status", "1900000000000000777"]:
            page = "unavailable.html"  # x.com answers 200 and renders "This post is unavailable"
        elif len(parts) == 3 and parts[:2] == ["xbot_test", "status"]:
            page = f"status_{parts[2]}.html"
        elif len(parts) == 4 and parts[3] == "analytics":
            page = f"analytics_{parts[2]}.html" if logged_in else "login.html"
        else:
            page = None
        path = PAGES / page if page else None
        if path is None or not path.exists():
            body = b"<!DOCTYPE html><html><body><span>Hmm...this page doesn't exist. Try searching for something else.</span></body></html>"
            self.send_response(404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def web(site, **kw) -> XWebConnector:
    return XWebConnector("main", "@xbot_test", base_url=site, chromium=CHROMIUM, timeout_seconds=5, **kw)


def test_public_counters_come_from_the_posts_own_article(site):
    found = web(site, profile_dir="").collect_metrics(["1900000000000000123"], NOW)
    assert found == {"1900000000000000123": {
        "replies": 12, "retweets": 37, "likes": 1204, "bookmarks": 0, "impressions": 5432, "quotes": None,
        "profile_clicks": None, "url_clicks": None, "follows": None}}  # not the parent's 25K likes


def test_a_changed_page_names_the_missing_element(site):
    with pytest.raises(PageChanged, match=r'no \[data-testid="like"\] button'):
        web(site, profile_dir="").collect_metrics(["1900000000000000456"], NOW)


def test_a_post_that_is_gone_is_left_out(site):
    connector = web(site, profile_dir="")
    assert connector.collect_metrics(["1900000000000000999"], NOW) == {}
    assert any("gone" in n for n in connector.notes)


def test_a_deleted_post_shown_with_a_200_is_left_out(site):
    connector = web(site, profile_dir="")
    assert connector.collect_metrics(["1900000000000000777"], NOW) == {}


def test_followers_from_the_profile_page(site):
    assert web(site, profile_dir="").read_followers(NOW) == 1234


def test_a_logged_in_profile_reads_the_analytics_page(site, tmp_path):
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "profile"
    with sync_playwright() as playwright:  # log the stored profile in, as an operator would once by hand
        context = playwright.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM,
                                                                args=CHROMIUM_ARGS, headless=True)
        context.add_cookies([{"name": "auth_token", "value": "session", "url": site, "expires": time.time() + 86400}])
        context.close()
    found = web(site, profile_dir=str(profile)).collect_metrics(["1900000000000000123"], NOW)
    assert found["1900000000000000123"] == {
        "replies": 12, "retweets": 37, "likes": 1204, "bookmarks": 0, "impressions": 5432, "quotes": None,
        "profile_clicks": 156, "url_clicks": 0, "follows": 7}


def test_a_logged_out_profile_is_told_to_log_in(site, tmp_path):
    with pytest.raises(ConnectorError, match="not logged in to @xbot_test"):
        web(site, profile_dir=str(tmp_path / "empty-profile")).collect_metrics(["1900000000000000123"], NOW)


def test_it_never_publishes_and_never_downloads_a_browser(site):
    with pytest.raises(ConnectorError, match="reads metrics only"):
        web(site).publish(None, NOW)
    with pytest.raises(ConnectorError, match="never downloads a browser"):
        XWebConnector("main", "xbot_test", base_url=site, chromium="/nonexistent/chromium").read_followers(NOW)
