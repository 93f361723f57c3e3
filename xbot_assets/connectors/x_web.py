"""The web fallback (`x-web`, off unless an account names it): Debian's chromium, driven by Playwright, reads what
x.com shows — a post's public counters and, when the browser profile is logged in to the account, the post's
analytics page — and the follower count on the profile page. It never publishes, and it never downloads a browser:
it starts the chromium at XBOT_CHROMIUM (/usr/bin/chromium) or fails saying so.

Pages change without notice, so every number is read from a named element and a missing element is a
`PageChanged` error that names it: a zero is never invented. A post's page shows the post inside
`article[data-testid="tweet"]` whose permalink (`a[href*="/status/<id>"]` with a `time`) is that post: a reply's page
shows its parent first, so the article is matched by the id, not taken first.

Settings: XBOT_X_WEB_BASE_URL (https://x.com), XBOT_CHROMIUM, XBOT_X_WEB_PROFILE_DIR (a Chromium user-data folder
logged in to the account; unset = logged out, public counters only; an account with `--credentials-prefix P` reads
P+WEB_PROFILE_DIR), XBOT_X_WEB_TIMEOUT_SECONDS (20).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime

from xbot_assets.connectors.base import ConnectorError, Publication, Published
from xbot_assets.ingest.parse import BadValue, parse_count
from xbot_assets.settings import env_float

DEFAULT_BASE_URL = "https://x.com"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Our counter ← the data-testid of its button in a post's action bar.
BUTTONS = {"replies": "reply", "retweets": "retweet", "likes": "like", "bookmarks": "bookmark"}
# Our counter ← the label the analytics page shows above the number.
ANALYTICS_LABELS = {"impressions": ("Impressions",), "profile_clicks": ("Profile visits",),
                    "follows": ("New follows", "Follows"), "url_clicks": ("Link clicks", "URL clicks")}


# What x.com shows (with a 200 as often as a 404) for a post that was deleted or is not visible.
GONE = re.compile(r"this (page|post) (doesn.t exist|is unavailable)|hmm\.\.\.this page doesn.t exist", re.I)


class PageChanged(ConnectorError):
    """x.com no longer shows an element the reader relies on; the message names it."""


def _count(text: str | None, what: str) -> int:
    """'1.2K', '3,456', '12' (possibly inside 'Liked by 12 people', '12 Likes. Like') → an int."""
    match = re.search(r"\d[\d,.]*\s*[KkMmBb]?", text or "")
    if match is None:
        raise PageChanged(f"{what}: no number in {text!r}")
    try:
        return int(parse_count(match.group(0).replace(" ", ""), what))
    except BadValue as exc:
        raise PageChanged(f"{what}: {exc}") from None


class XWebConnector:
    source = "real"

    def __init__(self, account_id: str, handle: str | None, *, base_url: str | None = None,
                 chromium: str | None = None, profile_dir: str | None = None, timeout_seconds: float | None = None,
                 credentials_prefix: str | None = None):
        if not handle:
            raise ConnectorError(f"account {account_id}: the x-web connector needs the account's --handle")
        self.account_id = account_id
        self.handle = handle.lstrip("@")
        self.base_url = (base_url or os.environ.get("XBOT_X_WEB_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.chromium = chromium or os.environ.get("XBOT_CHROMIUM", "/usr/bin/chromium")
        profile_env = f"{credentials_prefix}WEB_PROFILE_DIR" if credentials_prefix else "XBOT_X_WEB_PROFILE_DIR"
        self.profile_dir = profile_dir if profile_dir is not None else os.environ.get(profile_env)
        self.timeout_ms = 1000 * (timeout_seconds or env_float("XBOT_X_WEB_TIMEOUT_SECONDS", 20.0))
        self.notes: list[str] = []

    @contextmanager
    def _page(self):
        if not os.path.exists(self.chromium):
            raise ConnectorError(f"the x-web connector needs Debian's chromium at {self.chromium} "
                                 "(apt-get install chromium, or set XBOT_CHROMIUM); it never downloads a browser")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            if self.profile_dir:
                context = playwright.chromium.launch_persistent_context(
                    self.profile_dir, executable_path=self.chromium, args=CHROMIUM_ARGS, headless=True)
                browser = None
            else:
                browser = playwright.chromium.launch(executable_path=self.chromium, args=CHROMIUM_ARGS,
                                                     headless=True)
                context = browser.new_context()
            try:
                page = context.new_page()
                page.set_default_timeout(self.timeout_ms)
                yield page
            finally:
                context.close()
                if browser is not None:
                    browser.close()

    def _open(self, page, url: str) -> None:
        from playwright.sync_api import Error as PlaywrightError

        try:
            response = page.goto(url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            raise ConnectorError(f"{url}: {str(exc).splitlines()[0]}") from None
        if response is not None and response.status == 404:
            raise KeyError(url)
        if response is not None and response.status >= 400:
            raise ConnectorError(f"{url} answered {response.status}")

    # -- reading ---------------------------------------------------------------------------------------------

    def _wait(self, locator, what: str) -> None:
        """x.com renders in the browser: wait for the element, and name it when it never comes."""
        try:
            locator.first.wait_for(state="attached")
        except Exception:
            raise PageChanged(what) from None

    def _post_counters(self, page, tweet_id: str) -> dict[str, int | None]:
        self._open(page, f"{self.base_url}/{self.handle}/status/{tweet_id}")
        articles = page.locator('article[data-testid="tweet"]').filter(
            has=page.locator(f'a[href*="/status/{tweet_id}"]:has(time)'))
        gone = page.get_by_text(GONE)
        self._wait(articles.or_(gone), f"post {tweet_id}: no article[data-testid=\"tweet\"] with a link to "
                                       f"/status/{tweet_id} on its page")
        if articles.count() == 0:
            raise KeyError(tweet_id)
        article = articles.first
        counters: dict[str, int | None] = {}
        for name, testid in BUTTONS.items():
            button = article.locator(f'[data-testid="{testid}"], [data-testid="un{testid}"]')
            if button.count() == 0:
                raise PageChanged(f"post {tweet_id}: no [data-testid=\"{testid}\"] button (the {name} counter)")
            label = button.first.get_attribute("aria-label")
            text = button.first.inner_text().strip()
            counters[name] = 0 if not text and label and not re.search(r"\d", label) else _count(label or text, name)
        views = article.locator('a[href$="/analytics"]')
        counters["impressions"] = _count(views.first.get_attribute("aria-label") or views.first.inner_text(),
                                         "views") if views.count() else None
        counters.update(quotes=None, profile_clicks=None, url_clicks=None, follows=None)
        if self.profile_dir:
            counters.update({k: v for k, v in self._analytics(page, tweet_id).items() if v is not None})
        return counters

    def _analytics(self, page, tweet_id: str) -> dict[str, int | None]:
        """The post's analytics page (only its author sees it): impressions, profile visits, follows, link clicks."""
        self._open(page, f"{self.base_url}/{self.handle}/status/{tweet_id}/analytics")
        self._wait(page.get_by_text("Impressions", exact=True).or_(page.get_by_text(re.compile(r"log in", re.I))),
                   f"post {tweet_id}: the analytics page shows neither 'Impressions' nor a login prompt")
        body = page.locator("body").inner_text()
        if "log in" in body.lower() and "impressions" not in body.lower():
            raise ConnectorError(f"post {tweet_id}: the analytics page asks to log in; the browser profile at "
                                 f"{self.profile_dir} is not logged in to @{self.handle}")
        found: dict[str, int | None] = {}
        for name, labels in ANALYTICS_LABELS.items():
            for label in labels:
                match = re.search(rf"(?:^|\n)\s*{re.escape(label)}\s*\n\s*([\d][\d,.]*\s*[KkMm]?)", body)
                if match:
                    found[name] = _count(match.group(1), label)
                    break
            else:
                if name == "impressions":
                    raise PageChanged(f"post {tweet_id}: the analytics page shows no {labels[0]!r}")
                found[name] = None
        return found

    def collect_metrics(self, tweet_ids: Sequence[str], now: datetime) -> dict[str, dict[str, int | None]]:
        found: dict[str, dict[str, int | None]] = {}
        with self._page() as page:
            for tweet_id in tweet_ids:
                try:
                    found[str(tweet_id)] = self._post_counters(page, str(tweet_id))
                except KeyError:
                    self.notes.append(f"post {tweet_id} is gone (404): left out")
        return found

    def read_followers(self, now: datetime) -> int:
        with self._page() as page:
            self._open(page, f"{self.base_url}/{self.handle}")
            link = page.locator(f'a[href="/{self.handle}/verified_followers"], a[href="/{self.handle}/followers"]')
            self._wait(link, f"@{self.handle}: no link to /{self.handle}/followers on the profile page")
            return _count(link.first.inner_text(), "followers")

    # -- what it cannot do -----------------------------------------------------------------------------------

    def publish(self, post: Publication, now: datetime) -> Published:
        raise ConnectorError("the x-web connector reads metrics only; publish through the x-api connector")

    def find_published(self, post: Publication, since: datetime) -> Published | None:
        return None
