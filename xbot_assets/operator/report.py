"""The demo's HTML report: the page a person opens instead of reading logs.

Pure: pandas frames in, one self-contained HTML file out (inline CSS, plots embedded as base64 PNG, nothing fetched).
No Dagster and no database here; whoever runs the loop gathers a `ReportData` and calls `write_report`.

The figures are drawn in `report_figures`, deterministically: the same `ReportData` always gives the same bytes.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xbot_assets.operator.report_figures import (
    NO_DATA,
    RC,
    figure_content_arms,
    figure_f_per_1k,
    figure_predictions,
    figure_timing,
    figure_weights,
    fmt,
    is_empty,
)
from xbot_assets.pages.html import html_table, label, missing

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "f_per_1k_daily": ("day", "policy", "f_per_1k"),
    "weights": ("at", "generator_name", "weight"),
    "generators": ("generator_name", "posts", "weight", "f_per_1k_measured", "f_per_1k_true"),
    "content_arms": ("arm_value", "alpha", "beta", "plays"),  # true_success_prob is optional
    "timing_arms": ("hour", "plays", "mean_reward", "ucb_index"),
    "predictions": ("decision_id", "predicted_er", "actual_er", "model_source"),
    "candidates": ("status", "reason"),
}


@dataclass
class ReportData:
    title: str  # e.g. "xbot demo — scenario hidden_gem, 30 days, seed 11"
    summary: list[tuple[str, str]]  # label/value lines shown at the top (already formatted strings)
    f_per_1k_daily: pd.DataFrame  # day (int), policy ('learned' | 'static' | 'oracle'), f_per_1k (float)
    weights: pd.DataFrame  # at (datetime), generator_name, weight
    generators: pd.DataFrame  # generator_name, posts, weight (final), f_per_1k_measured (float|NaN), f_per_1k_true
    true_best_generator: str
    content_arms: pd.DataFrame  # arm_value, alpha, beta, plays, true_success_prob (float|NaN)
    timing_arms: pd.DataFrame  # hour (0-23), plays, mean_reward (float|NaN), ucb_index (float|NaN = unplayed)
    predictions: pd.DataFrame  # decision_id, predicted_er, actual_er, model_source ('learned' | 'seed_default')
    candidates: pd.DataFrame  # status ('posted' | 'skipped' | ...), reason (str|None)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per part of the run, e.g. {"runs": 198.0}


def write_report(data: ReportData, path: Path) -> Path:
    """Render `data` as one self-contained HTML file at `path` (parents created) and return the path."""
    _check_columns(data)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_report(data).encode("utf-8"))
    return path


def render_report(data: ReportData) -> str:
    """The report's HTML as a string (what `write_report` writes)."""
    _check_columns(data)
    import matplotlib

    with matplotlib.rc_context(RC):
        figures = [
            figure_f_per_1k(data.f_per_1k_daily),
            figure_weights(data.weights, data.true_best_generator),
            figure_content_arms(data.content_arms),
            figure_timing(data.timing_arms),
            figure_predictions(data.predictions),
        ]
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(data.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(data.title)}</h1>",
        _summary_table(data.summary),
    ]
    if data.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{e(str(n))}</li>" for n in data.notes) + "</ul>")
    for (title, png, caption), anchor in zip(figures, ("f1k", "weights", "content", "timing", "predictions")):
        parts.append(f'<section id="{anchor}">')
        parts.append(
            f'<figure><img src="data:image/png;base64,{png}" alt="{e(title)}">'
            f"<figcaption><strong>{e(title)}.</strong> {e(caption)}</figcaption></figure>"
        )
        if anchor == "weights":
            parts.append("<h2>Generators</h2>")
            parts.append(_generators_table(data.generators, data.true_best_generator))
        parts.append("</section>")
    parts.append("<h2>Planning candidates by status and reason</h2>")
    parts.append(_candidates_table(data.candidates))
    if data.timings:
        parts.append("<h2>Where the time went</h2>")
        parts.append(_timings_table(data.timings))
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------------------------
# Input checks and small helpers


def _check_columns(data: ReportData) -> None:
    problems = []
    for name, cols in REQUIRED_COLUMNS.items():
        frame = getattr(data, name)
        if frame is None or len(frame) == 0:
            continue  # empty frames are fine: "no data yet"
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            problems.append(f"{name} lacks {', '.join(missing)}")
    if problems:
        raise ValueError("ReportData: " + "; ".join(problems))


def reason_category(reason) -> str | None:
    """The kind of a skip reason: its text before the first colon ("quality gate: hook 0.2" → "quality gate");
    None when there is no reason."""
    return None if missing(reason) else str(reason).split(":")[0].strip()


def _summary_table(summary: list[tuple[str, str]]) -> str:
    if not summary:
        return f'<p class="nodata">{NO_DATA}</p>'
    e = html.escape
    rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in summary)
    return f'<table class="summary"><tbody>{rows}</tbody></table>'


def _generators_table(df: pd.DataFrame, true_best: str) -> str:
    if is_empty(df):
        return f'<p class="nodata">{NO_DATA}</p>'
    frame = df.assign(generator_name=df["generator_name"].astype(str))
    frame = frame.sort_values(
        ["f_per_1k_true", "generator_name"], ascending=[False, True], kind="stable", na_position="last"
    )
    weights = frame["weight"].astype(float)
    top_weight = str(frame.loc[weights.idxmax(), "generator_name"]) if weights.notna().any() else None
    rows, classes = [], []
    for row in frame.itertuples(index=False):
        marks = []
        if row.generator_name == true_best:
            marks.append("★ true best")
        if row.generator_name == top_weight:
            marks.append("▲ highest weight")
        rows.append(
            [
                row.generator_name,
                fmt(row.posts),
                fmt(row.weight, ".3f"),
                fmt(row.f_per_1k_measured, ".2f"),
                fmt(row.f_per_1k_true, ".2f"),
                ", ".join(marks),
            ]
        )
        flags = (("best", row.generator_name == true_best), ("top", row.generator_name == top_weight))
        classes.append(" ".join(c for c, on in flags if on))
    header = ["generator", "posts", "final weight", "F/1K measured", "F/1K true", "marks"]
    legend = (
        '<p class="legend">Sorted by true F/1K. ★ marks the true best generator, ▲ the one holding the highest '
        "weight now; when they are on the same row the learner has found it.</p>"
    )
    extra = ""
    if true_best not in set(frame["generator_name"]):
        extra = f'<p class="legend">The true best generator {html.escape(true_best)} is not in this table.</p>'
    return html_table(header, rows, classes, cls="generators") + legend + extra


def _candidates_table(df: pd.DataFrame) -> str:
    if is_empty(df):
        return f'<p class="nodata">{NO_DATA}</p>'
    frame = pd.DataFrame({"status": df["status"].map(label), "reason": df["reason"].map(label)})
    counts = frame.groupby(["status", "reason"], sort=True).size().rename("n").reset_index()
    totals = frame.groupby("status", sort=True).size()
    status_rank = {s: i for i, s in enumerate(("posted", "skipped"))}
    counts["rank"] = counts["status"].map(lambda s: status_rank.get(s, len(status_rank)))
    counts = counts.sort_values(["rank", "status", "n", "reason"], ascending=[True, True, False, True], kind="stable")
    rows = [
        [r.status, r.reason, str(int(r.n)), f"{r.n / totals[r.status]:.0%}"] for r in counts.itertuples(index=False)
    ]
    total = len(frame)
    ordered = sorted(totals.index, key=lambda s: (status_rank.get(s, len(status_rank)), s))
    line = " · ".join(f"{s}: {int(totals[s])}" for s in ordered)
    head = f'<p class="legend">{total} candidates — {html.escape(line)}.</p>'
    return head + html_table(["status", "reason", "count", "share of status"], rows, cls="candidates")


def _timings_table(timings: dict[str, float]) -> str:
    total = sum(timings.values())
    rows = [[name, f"{seconds:.1f}", f"{seconds / total:.0%}" if total > 0 else "—"]
            for name, seconds in timings.items()]
    rows.append(["total", f"{total:.1f}", "100%" if total > 0 else "—"])
    return html_table(["part", "seconds", "share"], rows, cls="timings")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.6em}
h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .7em;text-align:left}
thead th{background:#f3f3f3}
table.summary th{background:#f7f7f7;font-weight:600}
table.generators td:nth-child(n+2):nth-child(-n+5),table.candidates td:nth-child(n+3),
table.timings td:nth-child(n+2){text-align:right}
tr.best td{background:#fff5d6;font-weight:600}
tr.top td:last-child{color:#1f5fa8}
figure{margin:1.8em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.92em;color:#444;margin-top:.3em}
.nodata{color:#888;font-style:italic}
.legend{font-size:.88em;color:#555}
.notes{background:#f8f8f8;border-left:3px solid #ccc;padding:.5em 1em .5em 2em}
""".strip()
