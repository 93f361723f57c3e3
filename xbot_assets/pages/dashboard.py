"""The operator's dashboard as one self-contained HTML page: `DashboardData` in, HTML out, nothing fetched.

Sections (each a `<section id=…>`; the numbers in `data-…` attributes are the ones shown, for tests and scrapers):
summary (KPIs against the previous period), audience (followers, impressions and engagements per day), posts (top
and bottom), best-times (weekday × hour heatmap), performance (content types and generators), strategy (learn.strategy
in words: topics, hooks and hours with their evidence, formulas, trending beside the bandit), queue (pending
approvals first, then the rest, then what was rejected), learning (models, optimization, alerts, spend).
"""

from __future__ import annotations

import html
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from xbot_assets.learned.store import TOPIC_REWARD_F_PER_1K
from xbot_assets.learned.strategy import strategy_summary
from xbot_assets.pages.charts import (
    daily_chart,
    followers_chart,
    heatmap_chart,
    interval_chart,
    vega_bundle,
)
from xbot_assets.pages.data import DashboardData, decision_reasons, read_dashboard
from xbot_assets.pages.html import Raw, html_table, label, missing
from xbot_assets.settings import PROJECT_ROOT
from xbot_assets.warehouse.connection import Warehouse

GLOSSARY = (
    ("F/1K", "followers gained per 1,000 impressions: how well posts turn readers into followers"),
    ("engagement rate", "likes + reposts + replies divided by impressions"),
    ("exploration", "posts given to less-proven choices on purpose, so the bot keeps learning what works"),
    ("propensity", "the probability the policy gave the choice it made (what off-policy evaluation needs)"),
)
FIXED_STATUSES = ("locked", "pinned")
TEXT_SHOWN = 180
PERIOD_DAYS = 30


def _e(value: Any) -> str:
    return html.escape(str(value))


def _number(value: Any, spec: str = ",.0f") -> str:
    return "—" if missing(value) else format(float(value), spec)


def _percent(value: Any, spec: str = ".2%") -> str:
    return "—" if missing(value) else format(float(value), spec)


def _change(value: Any) -> str:
    if missing(value):
        return "—"
    arrow = "▲" if value > 0 else "▼" if value < 0 else "■"
    return f"{arrow} {value:+.0%}"


def _when(value: Any) -> str:
    return "—" if missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _text(value: Any) -> str:
    text = "" if missing(value) else " ".join(str(value).split())
    return text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"


def _chart(anchor: str, spec: dict[str, Any] | None, empty: str) -> str:
    if spec is None:
        return f'<p class="empty">{_e(empty)}</p>'
    return f'<div class="chart" id="chart-{anchor}" data-spec=\'{_e(json.dumps(spec, sort_keys=True))}\'></div>'


def _summary(data: DashboardData) -> str:
    cells = []
    for kpi in data.kpis:
        rate = kpi["name"] == "engagement rate"
        shown = _percent(kpi["value"]) if rate else _number(kpi["value"])
        before = _percent(kpi["previous"]) if rate else _number(kpi["previous"])
        value = "" if missing(kpi["value"]) else repr(float(kpi["value"]))
        cells.append(
            f'<div class="kpi" data-kpi="{_e(kpi["name"])}" data-value="{value}"><div class="kpi-name">'
            f'{_e(kpi["name"])}</div><div class="kpi-value">{shown}</div><div class="kpi-change">'
            f'{_change(kpi["change"])} <span class="muted">vs {before} the {data.period_days} days before</span>'
            "</div></div>")
    return f'<section id="summary"><div class="kpis">{"".join(cells)}</div></section>'


def _posts_table(posts: pd.DataFrame, kind: str) -> str:
    if posts.empty:
        return f'<p class="empty">No post of the period has passed the learning gate yet ({kind}).</p>'
    rows = []
    for p in posts.itertuples(index=False):
        text = _e(_text(p.content))
        if isinstance(p.link, str):
            text = f'<a href="{_e(p.link)}" rel="noopener">{text}</a>'
        rows.append([Raw(text), _when(p.posted_at), label(p.generator_name), _number(p.impressions),
                     _percent(p.engagement_rate), _number(p.followers_gained, ",.1f"), p.follows_source])
    header = ["post", "posted", "generator", "impressions", "engagement rate", "follows", "follows are"]
    return html_table(header, rows, cls=f"posts {kind}")


def _groups_table(groups: pd.DataFrame, with_weights: bool) -> str:
    if groups.empty:
        return '<p class="empty">No post in the period.</p>'
    rows, classes = [], []
    for g in groups.itertuples(index=False):
        trend = "—"
        if not missing(g.f_per_1k_last_7d) and not missing(g.f_per_1k_previous_7d):
            diff = float(g.f_per_1k_last_7d) - float(g.f_per_1k_previous_7d)
            trend = f"{'▲' if diff > 0 else '▼' if diff < 0 else '■'} {g.f_per_1k_previous_7d:.2f} → " \
                    f"{g.f_per_1k_last_7d:.2f}"
        interval = "—" if missing(g.ci_low) else f"{g.ci_low:.2f}–{g.ci_high:.2f}"
        row = [label(g.name), str(int(g.posts)), _number(g.f_per_1k, ".2f"), interval, trend]
        if with_weights:
            status = label(g.status)
            row += [_percent(g.weight, ".1%"), status]
            classes.append("fixed" if status in FIXED_STATUSES else "")
        rows.append(row)
    header = ["name", "posts", "F/1K", "90% interval", "trend (7 days before → last 7 days)"]
    if with_weights:
        header += ["weight now", "status"]
    return html_table(header, rows, classes if with_weights else None, cls="groups")


def _queue(data: DashboardData) -> str:
    queue = data.queue
    parts = [f'<p data-queued="{len(queue)}">{len(queue)} posts queued'
             + (f', {int((queue["state"] == "pending approval").sum())} waiting for approval' if len(queue) else "")
             + ".</p>"]
    if len(queue):
        rows, classes = [], []
        for q in queue.itertuples(index=False):
            why = [f"content {label(q.content_type)} p={_number(q.content_propensity, '.2f')}",
                   f"generator {label(q.generator_name)} p={_number(q.generator_propensity, '.2f')}",
                   f"hour p={_number(q.timing_propensity, '.2f')}", *decision_reasons(q.decision_reasons)]
            rows.append([q.state, _when(q.scheduled_at), label(q.generator_name), _text(q.content),
                         _percent(q.predicted_er), _percent(q.predicted_follow_prob, ".1%"), "; ".join(why)])
            classes.append("pending" if q.state == "pending approval" else "")
        parts.append(html_table(["state", "scheduled", "generator", "post", "predicted engagement rate",
                                 "predicted follow chance", "why (probabilities, gates passed)"], rows, classes,
                                cls="queue"))
    rejected = data.rejected
    parts.append(f"<h3>Rejected in the last 7 days ({len(rejected)} newest shown)</h3>")
    if len(rejected):
        rows = [[_when(r.scheduled_at), label(r.generator_name), label(r.skip_reason), _text(r.content)]
                for r in rejected.itertuples(index=False)]
        parts.append(html_table(["slot", "generator", "why not", "draft"], rows, cls="rejected"))
    else:
        parts.append('<p class="empty">Nothing was rejected.</p>')
    return "".join(parts)


def _hour(hour: int, now: datetime, timezone: str) -> str:
    at = pd.Timestamp(now)
    at = at.tz_convert("UTC") if at.tzinfo else at.tz_localize("UTC")
    shown = at.replace(hour=hour, minute=0, second=0, microsecond=0).tz_convert(timezone)
    return f"{hour:02d}:00 UTC" + ("" if timezone == "UTC" else f" ({shown:%H:%M} {timezone})")


STATIC_NOT_LEARNED = ('<p class="empty">Not learned: a static account plans from the seed defaults (generator weights, '
                      'content types uniformly, fixed hours) and reads no learned state.</p>')


def _strategy(data: DashboardData) -> str:
    strategy = data.strategy
    if data.static:
        return STATIC_NOT_LEARNED
    if not strategy:
        return '<p class="empty">Not learned yet: learn/strategy is built with each refresh once posts are measured.</p>'
    items = "".join(f'<dt>{_e(name)}</dt><dd data-item="{_e(name)}">{_e(words)}</dd>'
                    for name, words in strategy_summary(strategy))
    parts = [f'<p class="muted" data-posts="{int(strategy.get("posts", 0))}">Learned from '
             f'{int(strategy.get("posts", 0))} posts past the learning gate, {_when(strategy.get("as_of"))} UTC. '
             "Topics and hooks rank by their Beta posterior mean (the chance a post of theirs succeeds), hours by "
             "their mean engagement rate (UCB1 picks the hour, no chance involved); topics learned on follows "
             "(XBOT_TOPIC_REWARD=f_per_1k) rank by their posterior followers per 1,000 impressions instead. "
             "“Chosen next” is the chance Thompson sampling picks it for the next post.</p>",
             f'<dl class="strategy">{items}</dl>']
    rows = []
    for scope, key in (("topic", "top_topics"), ("hook", "effective_hooks"), ("hour", "best_hours")):
        for arm in strategy.get(key) or []:
            name = _hour(int(arm["hour"]), data.now, data.timezone) if scope == "hour" else label(arm[scope])
            beta = scope != "hour"  # hours are UCB1's: no posterior, and a deterministic pick
            rows.append([scope, name, str(arm["posts"]), _number(arm.get("successes"), ",.1f"),
                         _percent(arm.get("mean_er")), _posterior(arm) if beta else "—",
                         _percent(arm.get("p_chosen"), ".1%") if beta else "by UCB1"])
    if rows:
        parts.append(html_table(["what", "arm", "posts", "successes", "mean engagement rate", "posterior mean",
                                 "chosen next"], rows, cls="arms"))
    formulas = strategy.get("best_formulas") or []
    if formulas:
        rows = [[label(f.get("name")), label(f.get("structure")), label(f.get("hook")), label(f.get("posts")),
                 label(f.get("winners")), _percent(f.get("engagement_rate")), _number(f.get("f_per_1k"), ".2f"),
                 _number(f.get("confidence"), ".2f"), _text(f.get("example"))] for f in formulas]
        parts.append("<h3>Formulas from the account's own winners</h3>" + html_table(
            ["formula", "structure", "hook", "posts", "winners", "engagement rate", "F/1K", "confidence",
             "example"], rows, cls="formulas"))
    split = strategy.get("trending_vs_bandit") or {}
    rows = [[source, str((split.get(key) or {}).get("posts", 0)), _percent((split.get(key) or {}).get(
        "engagement_rate")), _number((split.get(key) or {}).get("f_per_1k"), ".2f")]
            for source, key in (("trending topics", "trending"), ("the topic arms' choices", "bandit"))]
    parts.append("<h3>Trending topics, judged apart</h3>" + html_table(
        ["posts on", "posts", "engagement rate", "F/1K"], rows, cls="trending"))
    return "".join(parts)


def _posterior(arm: dict) -> str:
    on_follows = arm.get("learned_on") == TOPIC_REWARD_F_PER_1K and not missing(arm.get("posterior_mean"))
    return _number(arm.get("posterior_mean"), ".3f") + (" F/1K" if on_follows else "")


def _models_and_optimization(data: DashboardData) -> list[str]:
    rows = []
    for m in data.models:
        if m.get("version") is None:
            rows.append([m["model_name"], "not trained", "—", "—", "—", "planning uses the default predictions"])
            continue
        beats = m.get("beats_baseline")
        rows.append([m["model_name"], f"v{int(m['version'])}", f"{label(m.get('primary_metric'))} "
                     f"{_number(m.get('primary_value'), '.3f')}", _number(m.get("baseline_value"), ".3f"),
                     str(int(m["n_samples"])), "beats its baseline" if beats else "does not beat its baseline"
                     if beats is not None else "not judged"])
    parts = [html_table(["model", "version", "holdout metric", "baseline", "samples", "verdict"], rows, cls="models")]
    if data.optimization:
        rows = [[_when(ev["created_at"]), label(ev["event_type"]), label(ev.get("generators_updated")),
                 label(ev.get("top_performer")), label(ev.get("skipped_reason") or ev.get("error_message"))]
                for ev in data.optimization]
        parts.append("<h3>Latest optimization</h3>" + html_table(
            ["when", "event", "generators changed", "top performer", "note"], rows, cls="optimization"))
    else:
        parts.append('<p class="empty">No optimization has run yet.</p>')
    return parts


def _learning(data: DashboardData) -> str:
    parts = [STATIC_NOT_LEARNED] if data.static else _models_and_optimization(data)
    if len(data.alerts):
        rows = [[_when(a.created_at), label(a.severity), label(a.job_name), _text(a.error)]
                for a in data.alerts.itertuples(index=False)]
        parts.append("<h3>Alerts</h3>" + html_table(["when", "severity", "job", "error"], rows, cls="alerts"))
    else:
        parts.append(f'<p class="alerts-none">No alert in the last {data.period_days} days.</p>')
    api, llm = data.api, data.llm
    spend = [
        ["X API this month", str(api.get("calls", 0)), f"${api.get('spend_usd', 0.0):.4f}",
         "—" if missing(api.get("budget_usd")) else f"${api['budget_usd']:.2f}"],
        ["language model this month", str(llm.get("month", {}).get("calls", 0)),
         f"${llm.get('month', {}).get('spend_usd', 0.0):.4f}",
         "—" if missing(llm.get("daily_budget_usd")) else f"${llm['daily_budget_usd']:.2f} a day"],
    ]
    parts.append("<h3>Spend</h3>" + html_table(["", "calls", "spend", "budget"], spend, cls="spend"))
    return "".join(parts)


def render_dashboard(data: DashboardData) -> str:
    e = _e
    handle = data.account.get("handle")
    title = f"xbot — {data.account_id}" + (f" (@{handle})" if handle else "")
    glossary = " · ".join(f"<b>{e(term)}</b>: {e(text)}" for term, text in GLOSSARY)
    heat_cells = len(data.heatmap)
    sections = [
        _summary(data),
        '<section id="audience"><h2>Audience</h2>'
        + _chart("followers", followers_chart(data.followers), "No follower count collected yet.")
        + _chart("daily", daily_chart(data.daily), "No measured post yet.") + "</section>",
        '<section id="posts"><h2>Top and bottom posts of the period</h2><p class="muted">Ranked by engagement '
        "rate among posts past the learning gate; follows are X's own count where it reports one, else our "
        "attribution of the account's follower gains.</p><h3>Top</h3>" + _posts_table(data.top_posts, "top")
        + "<h3>Bottom</h3>" + _posts_table(data.bottom_posts, "bottom") + "</section>",
        f'<section id="best-times" data-cells="{heat_cells}"><h2>Best times to post</h2><p class="muted">From this '
        f"account's own posts of the period, in {e(data.timezone)}; each cell says how many posts it rests on."
        "</p>" + _chart("heatmap", heatmap_chart(data.heatmap), "No measured post in the period yet.")
        + "</section>",
        '<section id="performance"><h2>What works</h2><h3>By content type</h3>'
        + _groups_table(data.by_content_type, with_weights=False)
        + _chart("content-types", interval_chart(data.by_content_type, "F/1K by content type"), "")
        + "<h3>By generator</h3>" + _groups_table(data.by_generator, with_weights=True)
        + '<p class="muted">Locked and pinned generators (highlighted) keep the weight the operator gave them.</p>'
        + _chart("generators", interval_chart(data.by_generator, "F/1K by generator"), "") + "</section>",
        '<section id="strategy"><h2>What works for this account, in words</h2>' + _strategy(data) + "</section>",
        '<section id="queue"><h2>What it will post next, and why</h2>' + _queue(data) + "</section>",
        '<section id="learning"><h2>Learning health</h2>' + _learning(data) + "</section>",
    ]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="muted" id="period" data-as-of="{data.now.isoformat()}">The {data.period_days} days to '
        f"{_when(data.now)} UTC, against the {data.period_days} days before. Days and hours in {e(data.timezone)}."
        "</p>",
        f'<p class="glossary">{glossary}</p>',
        *sections,
        f"<script>{vega_bundle()}</script>",
        f"<script>{_DRAW}</script>",
        "</body>", "</html>", "",
    ])


def write_dashboard(data: DashboardData, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dashboard(data), encoding="utf-8")
    return path


_DRAW = """
document.querySelectorAll('div.chart').forEach(function (el) {
  vegaEmbed(el, JSON.parse(el.dataset.spec), {actions: false, renderer: 'svg'}).catch(function (err) {
    el.textContent = 'chart failed: ' + err; console.error(err);
  });
});
"""

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.3em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin-top:1.2em}.muted{color:#666;font-size:.9em}.empty{color:#888;font-style:italic}
.glossary{font-size:.85em;background:#f6f6f3;padding:.5em .8em;border-radius:4px}
.kpis{display:flex;flex-wrap:wrap;gap:.8em}.kpi{border:1px solid #ddd;border-radius:6px;padding:.5em .8em;
min-width:150px}.kpi-name{font-size:.8em;color:#666}.kpi-value{font-size:1.4em;font-weight:600}
.kpi-change{font-size:.8em}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}th,td{border-bottom:1px solid #eee;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#fafafa}tr.fixed td{background:#fff7e0}
tr.pending td{background:#eef5ff}.chart{margin:.6em 0}
dl.strategy dt{font-weight:600;margin-top:.3em}dl.strategy dd{margin:0 0 0 1.2em}
"""




DASHBOARD_DIR_ENV = "XBOT_DASHBOARD_DIR"
DEFAULT_DASHBOARD_DIR = PROJECT_ROOT / ".xbot" / "dashboards"


def dashboard_dir() -> Path:
    """Where the pages are written (XBOT_DASHBOARD_DIR, default .xbot/dashboards); `xbot serve` serves it."""
    return Path(os.environ.get(DASHBOARD_DIR_ENV) or DEFAULT_DASHBOARD_DIR)


def dashboard_path(account_id: str, directory: Path | None = None) -> Path:
    return (directory or dashboard_dir()) / f"{account_id}.html"


def build_dashboard(warehouse: Warehouse, account_id: str, now: datetime, directory: Path | None = None,
                    period_days: int = PERIOD_DAYS) -> Path:
    """Read one account's numbers at `now` and write its page; returns the page's path."""
    return write_dashboard(read_dashboard(warehouse, account_id, now, period_days),
                           dashboard_path(account_id, directory))


def page_server(host: str, port: int, directory: Path | None = None):
    """A static HTTP server of the pages (`xbot serve` runs it beside the Dagster UI): each account's page at
    /<account>.html, the directory's listing at /. Call `serve_forever()` (e.g. in a thread) and `shutdown()`."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    directory = directory or dashboard_dir()
    directory.mkdir(parents=True, exist_ok=True)
    return ThreadingHTTPServer((host, port), functools.partial(SimpleHTTPRequestHandler, directory=str(directory)))
