"""The dashboard's interactive charts as Vega-Lite specs (Altair), and the Vega JavaScript to draw them offline.

Charts are specs (JSON), drawn in the page by vega-embed; the libraries come inline from vl-convert's bundle, so the
page fetches nothing. Each function takes the frames of `operator.dashboard_data` and returns a spec dict, or None
when there is nothing to draw.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import altair as alt
import pandas as pd

from xbot_assets.pages.data import DAYS

WIDTH = 640


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """vega, vega-lite and vega-embed in one script that sets window.vegaEmbed (≈0.9 MB, built once a process)."""
    import vl_convert

    return vl_convert.javascript_bundle()


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    return chart.to_dict()


def followers_chart(followers: pd.DataFrame) -> dict[str, Any] | None:
    if followers.empty:
        return None
    frame = followers.assign(collected_at=pd.to_datetime(followers["collected_at"]),
                             followers=pd.to_numeric(followers["followers"]))
    chart = alt.Chart(frame).mark_line(point=len(frame) <= 60).encode(
        x=alt.X("collected_at:T", title=None),
        y=alt.Y("followers:Q", title="followers", scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("collected_at:T", title="at", format="%Y-%m-%d %H:%M"), "followers:Q"],
    ).properties(width=WIDTH, height=180, title="Followers")
    return _spec(chart)


def daily_chart(daily: pd.DataFrame) -> dict[str, Any] | None:
    if daily.empty:
        return None
    frame = daily.assign(day=pd.to_datetime(daily["day"]).dt.strftime("%Y-%m-%d"))
    base = alt.Chart(frame).encode(x=alt.X("day:T", title="day the posts were published"))
    bars = base.mark_bar(opacity=0.55, color="#4c78a8").encode(
        y=alt.Y("impressions:Q", title="impressions"),
        tooltip=["day:T", "posts:Q", "impressions:Q", "engagements:Q"],
    )
    line = base.mark_line(color="#e45756", point=True).encode(y=alt.Y("engagements:Q", title="engagements"))
    chart = alt.layer(bars, line).resolve_scale(y="independent").properties(
        width=WIDTH, height=180, title="Impressions (bars) and engagements (line) per day")
    return _spec(chart)


def heatmap_chart(heatmap: pd.DataFrame) -> dict[str, Any] | None:
    if heatmap.empty:
        return None
    frame = heatmap.assign(day=[DAYS[int(d)] for d in heatmap["weekday"]],
                           er=heatmap["engagement_rate"].astype(float))
    base = alt.Chart(frame).encode(
        x=alt.X("hour:O", title="hour of day (account time)"),
        y=alt.Y("day:O", title=None, sort=list(DAYS)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("er:Q", title="engagement rate", scale=alt.Scale(scheme="greens"),
                        legend=alt.Legend(format=".1%")),
        tooltip=[alt.Tooltip("day:O"), alt.Tooltip("hour:O"), alt.Tooltip("posts:Q", title="posts"),
                 alt.Tooltip("er:Q", title="engagement rate", format=".2%"),
                 alt.Tooltip("f_per_1k:Q", title="followers per 1K", format=".2f")],
    )
    counts = base.mark_text(fontSize=10).encode(text=alt.Text("posts:Q"))
    chart = alt.layer(cells, counts).properties(
        width=WIDTH, height=200, title="Best times to post: engagement rate, posts per cell")
    return _spec(chart)


def interval_chart(groups: pd.DataFrame, title: str) -> dict[str, Any] | None:
    frame = groups[groups["posts"] > 0].dropna(subset=["f_per_1k"])
    if frame.empty:
        return None
    frame = frame[["name", "posts", "f_per_1k", "ci_low", "ci_high"]].astype({"f_per_1k": float, "ci_low": float,
                                                                             "ci_high": float})
    base = alt.Chart(frame).encode(
        y=alt.Y("name:N", title=None, sort=alt.EncodingSortField("f_per_1k", order="descending")))
    rules = base.mark_rule().encode(x=alt.X("ci_low:Q", title="followers per 1,000 impressions (90% interval)"),
                                    x2="ci_high:Q")
    points = base.mark_point(filled=True, size=60).encode(
        x="f_per_1k:Q",
        tooltip=["name:N", "posts:Q", alt.Tooltip("f_per_1k:Q", format=".2f"),
                 alt.Tooltip("ci_low:Q", format=".2f"), alt.Tooltip("ci_high:Q", format=".2f")],
    )
    return _spec(alt.layer(rules, points).properties(width=WIDTH - 120, height=22 * len(frame) + 20, title=title))
