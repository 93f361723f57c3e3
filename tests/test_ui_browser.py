"""The Dagster UI in a real browser: the learn assets, their lineage back to the raw tables, and a materialization.

A small real dataset is built once for the module: 8 simulated days of the default scenario for account `main`
go into a fresh DuckDB warehouse, and `refresh_job` materializes every asset once, recorded in a fresh SQLite
instance (a temporary DAGSTER_HOME with the repo's dagster.yaml). `dagster-webserver` then serves `workspace.yaml`
on a free port of 127.0.0.1 (no daemon), and headless Chromium, driven by Playwright's sync API, checks:

- the learn group's lineage page shows the five learn assets, each materialized;
- the upstream lineage of `learn/engagement_model` reaches the raw tables through `analytics/training_set` and
  `analytics/outcomes`, and shows every upstream asset Dagster's GraphQL API reports (no "not all assets shown");
- the Events tab of `learn/engagement_model` shows the latest materialization, from our run, with its metadata
  ("models" table with its "beats baseline" column, "training samples" equal to what the run recorded). Eight days
  are below the models' 50-sample minimum, so the table says `not_trained` / "seed default": the test checks that
  the UI shows what the run recorded, not that a model was fitted (tests/test_learn_assets.py does that).

What the UI should show is taken from the run's result and from the webserver's own GraphQL endpoint, not guessed.
Screenshots of every page go to `test-artifacts/ui/` at the repository root (git-ignored), with `timings.json`;
a failing test also leaves `failure-<test>.png` and the webserver's log there.

The browser is Debian's `chromium` (`/usr/bin/chromium`, or `$XBOT_CHROMIUM`); Playwright's own browser downloads
are never used. When it is missing:

- in CI (`CI` or `XBOT_REQUIRE_BROWSER` set to anything but ""/"0"/"false"; `.ci/run` sets XBOT_REQUIRE_BROWSER=1
  and installs chromium first), the test FAILS with a message saying how to install it: a CI run that silently
  skipped its only UI test would pass while checking nothing;
- on a developer's machine, the tests are SKIPPED with that reason, so `make test` stays usable without root or a
  browser (install chromium, or run `.ci/run`, to run them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from xbot_assets.settings import PROJECT_ROOT

CHROMIUM = os.environ.get("XBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"
SIMULATED_DAYS = 8
LEARN_ASSETS = ["bandit_arms", "engagement_model", "follow_model", "formulas", "generator_posterior", "generator_weights",
                "strategy"]
# The chain the upstream lineage of learn/engagement_model must show, raw tables first.
ENGAGEMENT_CHAIN = [
    ("raw", "posts"), ("raw", "metric_snapshots"), ("raw", "follower_snapshots"),
    ("analytics", "outcomes"), ("analytics", "training_set"),
]
SERVER_START_TIMEOUT = 60.0  # seconds until the code location is loaded (about 10 s on 2 cores)
# For each wait on the page, and for every `expect` (whose own default is 5 s): asset statuses load after the graph,
# and on a busy 2-core machine that took longer than 5 s (CI saw "Loading…" on every node at 5 s).
UI_TIMEOUT_MS = 45_000


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


BROWSER_REQUIRED = _truthy(os.environ.get("XBOT_REQUIRE_BROWSER")) or _truthy(os.environ.get("CI"))


@dataclass
class DagsterUI:
    base_url: str
    run_id: str
    training_samples: int
    log_path: Path
    timings: dict[str, float] = field(default_factory=dict)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return _graphql(self.base_url, query, variables)


def _graphql(base_url: str, query: str, variables: dict | None = None, timeout: float = 10.0) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.load(response)
    assert not payload.get("errors"), payload["errors"]
    return payload["data"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


WORKSPACE_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _wait_until_loaded(proc: subprocess.Popen, base_url: str, log_path: Path) -> None:
    """Until the webserver answers and its code location `xbot_assets` is loaded (not an error)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {proc.returncode} before serving:\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{base_url}/server_info", timeout=2):
                pass
            entries = _graphql(base_url, WORKSPACE_QUERY, timeout=5)["workspaceOrError"]["locationEntries"]
            entry = next((e for e in entries if e["name"] == "xbot_assets"), None)
            if entry and entry["loadStatus"] == "LOADED":
                location = entry["locationOrLoadError"]
                if location["__typename"] != "RepositoryLocation":
                    pytest.fail(f"code location xbot_assets failed to load: {location.get('message')}")
                return
            last = f"location entries: {entries}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last = repr(exc)
        time.sleep(0.25)
    pytest.fail(f"dagster-webserver not ready after {SERVER_START_TIMEOUT:.0f} s ({last}):\n{_log_tail(log_path)}")


def _time_first_answer(base_url: str, started: float, timings: dict[str, float], done: threading.Event) -> None:
    """How long the webserver takes to answer at all, measured while the test process runs the job."""
    while not done.is_set():
        try:
            with urllib.request.urlopen(f"{base_url}/server_info", timeout=2):
                timings["webserver answers /server_info (s)"] = time.monotonic() - started
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            done.wait(0.25)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the webserver's own process group (it and its code server), SIGKILL after a grace period.

    The group is the one `start_new_session=True` made for this Popen: its id is the webserver's pid, and Linux
    does not hand out a pid that is still some group's id, so nothing else can be signalled."""
    pgid = proc.pid

    def signal_group(sig: int) -> bool:
        try:
            os.killpg(pgid, sig)
            return True
        except ProcessLookupError:
            return False

    signal_group(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        signal_group(signal.SIGKILL)
        proc.wait(timeout=10)
    # The code server outlives the webserver by a few seconds (gRPC shutdown); same grace, then kill what is left.
    deadline = time.monotonic() + 10
    while signal_group(0) and time.monotonic() < deadline:
        time.sleep(0.1)
    signal_group(signal.SIGKILL)


@pytest.fixture(scope="module")
def chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = (
            f"Chromium not found at {CHROMIUM}: the Dagster UI browser test needs Debian's chromium "
            "(`apt-get install -y chromium`, which `.ci/run` does; or set XBOT_CHROMIUM to a Chromium binary)"
        )
        if BROWSER_REQUIRED:
            pytest.fail(reason + " — CI requires it (XBOT_REQUIRE_BROWSER/CI is set)", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def dagster_ui(chromium, tmp_path_factory) -> Iterator[DagsterUI]:
    """A warehouse and an instance with one materialization of every asset, served by dagster-webserver."""
    from datetime import datetime

    import dagster as dg

    from xbot_assets.evaluation.static_history import simulate_static_history
    from xbot_assets.ingest.load import write_follower_snapshots, write_posts
    from xbot_assets.ingest.metrics import write_metric_snapshots
    from xbot_assets.runtime.instance import definitions, prepare_environment, run_job
    from xbot_assets.simulation.scenario import load_scenario
    from xbot_assets.warehouse.connection import Warehouse

    started = time.monotonic()
    timings: dict[str, float] = {}
    root = tmp_path_factory.mktemp("dagster_ui")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse = root / "warehouse.duckdb"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.iterdir():
        if old.is_file():
            old.unlink()
    log_path = ARTIFACTS / "dagster-webserver.log"

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("XBOT_WAREHOUSE", str(warehouse))
        mp.setenv("DAGSTER_DISABLE_TELEMETRY", "true")
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        mp.delenv("XBOT_REDIS_URL", raising=False)  # the run and the UI must not depend on the machine's Redis
        prepare_environment()
        # Create the instance's SQLite storage here, before the webserver opens it (no two processes racing to
        # create the schema); the webserver then starts while the history is simulated and materialized.
        dg.DagsterInstance.get().dispose()

        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml",
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        server_started = time.monotonic()
        stop_timing = threading.Event()
        threading.Thread(
            target=_time_first_answer, args=(base_url, server_started, timings, stop_timing), daemon=True
        ).start()
        try:
            history = simulate_static_history(load_scenario("default"), SIMULATED_DAYS, "main")
            now: datetime = history.end
            wh = Warehouse.from_url(str(warehouse))
            wh.migrate()
            with wh.connect() as conn:
                write_posts(conn, history.posts, now=now)
                write_metric_snapshots(conn, history.metric_snapshots, now=now)
                write_follower_snapshots(conn, history.follower_snapshots, now=now)
            timings["history loaded (s)"] = time.monotonic() - started

            definitions.cache_clear()
            try:
                result = run_job("refresh_job", now=now, console_log_level="WARNING")
            finally:
                definitions.cache_clear()
            assert result.success, "refresh_job failed"
            timings["refresh_job done (s)"] = time.monotonic() - started
            engagement = [
                e for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey(["learn", "engagement_model"])
            ]
            assert len(engagement) == 1
            training_samples = engagement[0].materialization.metadata["training samples"].value

            _wait_until_loaded(proc, base_url, log_path)
            timings["webserver and code location ready, after the job (s)"] = time.monotonic() - server_started
            # The "Join the Dagster community" dialog opens on 127.0.0.1 until this is recorded (in DAGSTER_HOME).
            _graphql(base_url, "mutation { setNuxSeen }")
            assert _graphql(base_url, "{ shouldShowNux }") == {"shouldShowNux": False}
            timings["fixture ready (s)"] = time.monotonic() - started

            ui = DagsterUI(base_url, result.run_id, int(training_samples), log_path, timings)
            yield ui
        finally:
            stop_timing.set()
            stopping = time.monotonic()
            _stop(proc)
            log.close()
            timings["webserver stop (s)"] = time.monotonic() - stopping
            timings["module total (s)"] = time.monotonic() - started
            (ARTIFACTS / "timings.json").write_text(json.dumps({k: round(v, 2) for k, v in timings.items()}, indent=1))


@pytest.fixture(scope="module")
def browser(chromium, dagster_ui) -> Iterator:
    """Started after the run (Playwright's sync API keeps an event loop of its own) and closed before the server."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, dagster_ui, request) -> Iterator:
    context = browser.new_context(viewport={"width": 1600, "height": 1400}, base_url=dagster_ui.base_url)
    context.set_default_timeout(UI_TIMEOUT_MS)
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    failures_before = request.session.testsfailed
    try:
        yield page
    finally:
        # The call phase's report is logged before teardown, so a failure of this test has been counted by now.
        if request.session.testsfailed > failures_before:
            page.screenshot(path=ARTIFACTS / f"failure-{request.node.name}.png", full_page=True)
        if errors:  # kept for whoever reads a failure; the assertions above decide the test
            with (ARTIFACTS / "page-errors.txt").open("a") as out:
                out.write("\n".join(errors) + "\n")
        context.close()


def _goto(page, ui: DagsterUI, path: str, label: str) -> None:
    t = time.monotonic()
    page.goto(path)
    page.wait_for_load_state("networkidle")
    ui.timings[f"load {label} (s)"] = time.monotonic() - t


def _shot(page, ui: DagsterUI, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=ARTIFACTS / f"{name}.png")


def _upstream_of(ui: DagsterUI, path: list[str]) -> set[tuple[str, ...]]:
    """Every asset upstream of `path`, transitively, as the webserver's GraphQL API sees the graph."""
    nodes = ui.graphql("{ assetNodes { assetKey { path } dependencyKeys { path } } }")["assetNodes"]
    deps = {tuple(n["assetKey"]["path"]): [tuple(d["path"]) for d in n["dependencyKeys"]] for n in nodes}
    seen: set[tuple[str, ...]] = set()
    todo = [tuple(path)]
    while todo:
        for dep in deps[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_learn_group_lineage_shows_the_learn_assets_materialized(page, dagster_ui):
    from playwright.sync_api import expect

    data = dagster_ui.graphql('{ assetNodes(group: {groupName: "learn", repositoryName: "__repository__", '
                              'repositoryLocationName: "xbot_assets"}) { assetKey { path } } }')
    assert sorted(n["assetKey"]["path"][-1] for n in data["assetNodes"]) == LEARN_ASSETS

    _goto(page, dagster_ui, "/locations/xbot_assets/asset-groups/learn/lineage", "learn group lineage")
    graph = page.locator("svg foreignObject")
    for name in LEARN_ASSETS:
        expect(graph.get_by_text(name, exact=True)).to_be_visible()
    # Each learn node (partitioned by account: the one account, main) shows every partition materialized once the
    # statuses have loaded.
    expect(graph.get_by_text("100% filled", exact=True)).to_have_count(len(LEARN_ASSETS))
    _shot(page, dagster_ui, "01-learn-group-lineage")


def test_engagement_model_upstream_lineage_reaches_the_raw_tables(page, dagster_ui):
    from playwright.sync_api import expect

    upstream = _upstream_of(dagster_ui, ["learn", "engagement_model"])
    assert set(ENGAGEMENT_CHAIN) <= upstream, upstream

    # The depth is clamped to the graph's own depth, so a large one means "all upstream".
    _goto(page, dagster_ui, "/assets/learn/engagement_model?view=lineage&lineageScope=upstream&lineageDepth=50",
          "engagement_model upstream lineage")
    graph = page.locator("svg foreignObject")
    for key in [*ENGAGEMENT_CHAIN, ("learn", "engagement_model")]:
        expect(graph.get_by_text(key[-1], exact=True)).to_be_visible()
    for group in ("ingest", "transform", "learn"):
        expect(page.locator(f'[data-tooltip="{group}"]')).to_have_count(1)
    # Every upstream asset is drawn (long names are shortened in the drawing, so they are counted, not read):
    # one name per node, in the zoomed-out rendering the full upstream graph gets.
    expect(graph.locator('[class*="AssetNode_assetName"]')).to_have_count(len(upstream) + 1)
    expect(page.get_by_text("Not all upstream/downstream assets shown")).to_have_count(0)
    _shot(page, dagster_ui, "02-engagement-model-upstream-lineage")


def test_latest_materialization_shows_its_metadata(page, dagster_ui):
    from playwright.sync_api import expect

    latest = dagster_ui.graphql(
        '{ assetOrError(assetKey: {path: ["learn", "engagement_model"]}) { ... on Asset { '
        "assetMaterializations(limit: 1) { runId } } } }"
    )["assetOrError"]["assetMaterializations"]
    assert [m["runId"] for m in latest] == [dagster_ui.run_id]

    _goto(page, dagster_ui, "/assets/learn/engagement_model?view=events", "engagement_model events")
    expect(page.get_by_text("Materialized in run")).to_be_visible()
    expect(page.locator(f'a[href^="/runs/{dagster_ui.run_id}"]').first).to_be_visible()

    def value_of(key: str):
        row = page.locator("tr").filter(has=page.get_by_text(key, exact=True))
        return row.first.locator("td").nth(1)

    expect(value_of("training samples")).to_have_text(str(dagster_ui.training_samples))
    expect(value_of("models")).to_contain_text("beats baseline")
    expect(value_of("models")).to_contain_text("main")  # the simulated account's row
    expect(value_of("dagster/relation_identifier")).to_have_text("learn.model_registry")
    _shot(page, dagster_ui, "03-engagement-model-latest-materialization")

    # The asset's overview page shows the same materialization's metadata next to its description.
    _goto(page, dagster_ui, "/assets/learn/engagement_model", "engagement_model overview")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    expect(page.get_by_text("training samples", exact=True)).to_be_visible()
    _shot(page, dagster_ui, "04-engagement-model-overview")
