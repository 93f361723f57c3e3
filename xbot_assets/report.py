"""The demo's HTML report: the page a person opens instead of reading logs.

Pure: pandas frames in, one self-contained HTML file out (inline CSS, plots embedded as base64 PNG, nothing fetched).
No Dagster and no database here; whoever runs the loop gathers a `ReportData` and calls `write_report`.

matplotlib is imported inside the functions that draw, so importing this module costs nothing. Figures are built
with `matplotlib.figure.Figure` (the Agg canvas, no pyplot and no global backend switch), under a fixed rc context,
and saved without the "Software" PNG metadata, so the same `ReportData` always gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

NO_DATA = "no data yet"

# The five figures, in page order: the heading of each figure's caption.
FIGURE_TITLES = (
    "F/1K over time",
    "Generator weights over time",
    "Content-arm posteriors",
    "Timing UCB indices",
    "Predicted vs actual engagement",
)

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "f_per_1k_daily": ("day", "policy", "f_per_1k"),
    "weights": ("at", "generator_name", "weight"),
    "generators": ("generator_name", "posts", "weight", "f_per_1k_measured", "f_per_1k_true"),
    "content_arms": ("arm_value", "alpha", "beta", "plays"),  # true_success_prob is optional
    "timing_arms": ("hour", "plays", "mean_reward", "ucb_index"),
    "predictions": ("decision_id", "predicted_er", "actual_er", "model_source"),
    "candidates": ("status", "reason"),
}

POLICY_ORDER = ("learned", "static", "oracle")
POLICY_COLORS = {"learned": "#1f77b4", "static": "#ff7f0e", "oracle": "#2ca02c"}
SOURCE_COLORS = {"learned": "#1f77b4", "seed_default": "#9e9e9e"}
ROLLING_DAYS = 7

_RC = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "xbot-report",
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

    with matplotlib.rc_context(_RC):
        figures = [
            _figure_f_per_1k(data.f_per_1k_daily),
            _figure_weights(data.weights, data.true_best_generator),
            _figure_content_arms(data.content_arms),
            _figure_timing(data.timing_arms),
            _figure_predictions(data.predictions),
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


def _empty(frame: pd.DataFrame | None) -> bool:
    return frame is None or len(frame) == 0


def _fmt(value, spec: str = ".3g") -> str:
    if value is None:
        return "—"
    try:
        if isinstance(value, float | np.floating) and math.isnan(value):
            return "—"
    except TypeError:
        pass
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format(float(value), spec)
    return str(value)


def _new_figure(width: float = 9.0, height: float = 4.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    ax = fig.subplots()
    return fig, ax


def _no_data(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, NO_DATA, transform=ax.transAxes, ha="center", va="center", fontsize=16, color="#888888")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _palette(names: Iterable[str]) -> dict[str, tuple]:
    import matplotlib

    names = list(names)
    cmap = matplotlib.colormaps["tab20" if len(names) > 10 else "tab10"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


# --------------------------------------------------------------------------------------------------------------------
# Figures: each returns (title, base64 PNG, caption)


def _figure_f_per_1k(df: pd.DataFrame) -> tuple[str, str, str]:
    title = FIGURE_TITLES[0]
    fig, ax = _new_figure()
    xlabel, ylabel = "simulated day", "F/1K (followers gained per 1,000 impressions)"
    how = (
        f"Each faint dot is one simulated day's F/1K for a policy; the solid line is its {ROLLING_DAYS}-day rolling "
        "mean. The learned policy pulling above the static one means the loop is learning"
    )
    frame = None if _empty(df) else df.dropna(subset=["day", "policy"])
    if _empty(frame):
        _no_data(ax, title, xlabel, ylabel)
        return title, _png(fig), how + f". ({NO_DATA}.)"
    policies = [p for p in POLICY_ORDER if p in set(frame["policy"])]
    policies += sorted(set(frame["policy"].astype(str)) - set(POLICY_ORDER))
    extra = _palette([p for p in policies if p not in POLICY_COLORS])
    last: list[str] = []
    for policy in policies:
        daily = frame[frame["policy"] == policy].groupby("day")["f_per_1k"].mean().sort_index()
        rolling = daily.rolling(ROLLING_DAYS, min_periods=1).mean()
        color = POLICY_COLORS.get(policy, extra.get(policy))
        oracle = policy == "oracle"
        if not oracle:
            ax.scatter(daily.index, daily.values, s=14, alpha=0.3, color=color, linewidths=0)
        ax.plot(
            rolling.index,
            rolling.values,
            color=color,
            linestyle="--" if oracle else "-",
            linewidth=1.5 if oracle else 2.2,
            label=f"{policy} ({ROLLING_DAYS}-day mean)",
        )
        tail = daily.dropna().tail(ROLLING_DAYS)
        if len(tail):
            last.append(f"{policy} {tail.mean():.3g}")
    ax.set_title(f"{title}: learned vs static" + (" vs oracle" if "oracle" in policies else ""))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best")
    caption = how
    if "oracle" in policies:
        caption += "; the dashed line is the oracle (always the true best choices), the ceiling"
    caption += "."
    if last:
        caption += f" Mean of the last {ROLLING_DAYS} days: " + ", ".join(last) + "."
    return title, _png(fig), caption


def _figure_weights(df: pd.DataFrame, true_best: str) -> tuple[str, str, str]:
    title = FIGURE_TITLES[1]
    fig, ax = _new_figure(10.0, 4.6)
    xlabel, ylabel = "time", "generator weight (share of planning)"
    how = (
        "Each line is the planning weight a generator gets after each optimization or refresh; the thick black line "
        f"is the true best generator ({true_best}), the one the simulator secretly rewards most: it should rise "
        "when learning works"
    )
    frame = None if _empty(df) else df.dropna(subset=["at", "generator_name"])
    if _empty(frame):
        _no_data(ax, title, xlabel, ylabel)
        return title, _png(fig), how + f". ({NO_DATA}.)"
    frame = frame.assign(at=pd.to_datetime(frame["at"]), generator_name=frame["generator_name"].astype(str))
    table = frame.pivot_table(index="at", columns="generator_name", values="weight", aggfunc="mean").sort_index()
    names = sorted(table.columns)
    colors = _palette([n for n in names if n != true_best])
    x = table.index.to_pydatetime()
    for name in names:
        best = name == true_best
        ax.plot(
            x,
            table[name].to_numpy(dtype=float),
            color="black" if best else colors[name],
            linewidth=3.2 if best else 1.3,
            alpha=1.0 if best else 0.85,
            zorder=3 if best else 2,
            marker="o" if len(x) == 1 else None,
            label=f"{name} (true best)" if best else name,
        )
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_title(f"{title} (true best: {true_best})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 if len(names) <= 14 else 2)
    caption = how + "."
    final = table.ffill().iloc[-1].dropna()
    if len(final):
        leader = str(final.idxmax())
        caption += f" Highest weight at the end: {leader} ({final.max():.3g})."
        if true_best not in table.columns:
            caption += f" The true best generator {true_best} has no weight recorded."
    return title, _png(fig), caption


def _beta_pdf(x: np.ndarray, a: float, b: float) -> np.ndarray:
    try:
        from scipy.stats import beta as beta_dist
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        return np.exp(log_norm + (a - 1) * np.log(x) + (b - 1) * np.log1p(-x))
    return beta_dist.pdf(x, a, b)


def _figure_content_arms(df: pd.DataFrame) -> tuple[str, str, str]:
    title = FIGURE_TITLES[2]
    fig, ax = _new_figure()
    xlabel, ylabel = "success probability", "posterior density"
    how = (
        "Each curve is the current Beta(α, β) belief about how often a content type succeeds: further right is "
        "better, narrower is more certain"
    )
    frame = None if _empty(df) else df.dropna(subset=["arm_value", "alpha", "beta"])
    if frame is not None:
        frame = frame[(frame["alpha"] > 0) & (frame["beta"] > 0)]
    if _empty(frame):
        _no_data(ax, title, xlabel, ylabel)
        return title, _png(fig), how + f". ({NO_DATA}.)"
    frame = frame.assign(arm_value=frame["arm_value"].astype(str)).sort_values("arm_value", kind="stable")
    colors = _palette(frame["arm_value"])
    x = np.linspace(0.0, 1.0, 801)[1:-1]
    peak = 0.0
    any_truth = False
    for row in frame.itertuples(index=False):
        a, b = float(row.alpha), float(row.beta)
        y = _beta_pdf(x, a, b)
        color = colors[row.arm_value]
        plays = _fmt(getattr(row, "plays", None))
        ax.plot(x, y, color=color, linewidth=1.8, label=f"{row.arm_value} (mean {a / (a + b):.2f}, {plays} plays)")
        ax.fill_between(x, y, color=color, alpha=0.08, linewidth=0)
        interior = y[5:-5]
        if len(interior):
            peak = max(peak, float(np.nanmax(interior)))
        truth = getattr(row, "true_success_prob", None)
        if truth is not None and not pd.isna(truth):
            any_truth = True
            ax.axvline(float(truth), color=color, linestyle=":", linewidth=1.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, peak * 1.08 if peak > 0 else 1)
    ax.set_title(title + " (Beta per content type)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best")
    caption = how + "."
    if any_truth:
        caption += " Dotted verticals of the same color mark the simulator's true success probability."
    return title, _png(fig), caption


def _figure_timing(df: pd.DataFrame) -> tuple[str, str, str]:
    title = FIGURE_TITLES[3]
    fig, ax = _new_figure()
    xlabel, ylabel = "posting hour (local)", "UCB index"
    how = (
        "Bar height is each hour's upper-confidence-bound index (mean reward plus an exploration bonus); the "
        "scheduler picks the tallest. Dots mark the mean reward alone, n = times posted at that hour, and hatched "
        "bars are hours never tried (UCB treats them as maximally promising)"
    )
    frame = None if _empty(df) else df.dropna(subset=["hour"])
    if _empty(frame):
        _no_data(ax, title, xlabel, ylabel)
        return title, _png(fig), how + f". ({NO_DATA}.)"
    frame = frame.assign(hour=frame["hour"].astype(int)).sort_values("hour", kind="stable")
    ucb = frame["ucb_index"].astype(float)
    plays = frame["plays"].fillna(0).astype(int)
    unplayed = ucb.isna() | (plays == 0)
    finite = ucb[~unplayed & np.isfinite(ucb)]
    top = float(finite.max()) if len(finite) else 1.0
    top = top if top > 0 else 1.0
    hours = frame["hour"].to_numpy()
    heights = np.where(unplayed, top, ucb.fillna(top).to_numpy())
    heights = np.where(np.isfinite(heights), heights, top)
    played_mask = ~unplayed.to_numpy()
    ax.bar(hours[played_mask], heights[played_mask], color="#4c72b0", width=0.8, label="UCB index")
    if (~played_mask).any():
        ax.bar(
            hours[~played_mask],
            heights[~played_mask],
            color="white",
            edgecolor="#999999",
            hatch="//",
            width=0.8,
            label="unplayed",
        )
    means = frame["mean_reward"].astype(float).to_numpy()
    has_mean = played_mask & ~np.isnan(means)
    if has_mean.any():
        ax.scatter(hours[has_mean], means[has_mean], color="black", s=14, zorder=3, label="mean reward")
    for h, height, n, is_unplayed in zip(hours, heights, plays, unplayed):
        if is_unplayed:
            ax.text(h, height / 2, "unplayed", rotation=90, ha="center", va="center", fontsize=7, color="#666666")
        else:
            ax.text(h, height, f"n={n}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(0, 24))
    ax.set_xlim(-0.7, 23.7)
    low = min(0.0, float(np.nanmin(heights)), float(np.nanmin(means)) if has_mean.any() else 0.0)
    ax.set_ylim(low, max(top, float(np.nanmax(heights))) * 1.15)
    ax.set_title(title + " by hour")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize=7)
    caption = how + "."
    if played_mask.any():
        best = frame[played_mask].loc[ucb[played_mask].idxmax()]
        caption += f" Highest index among played hours: {int(best['hour']):02d}:00."
    return title, _png(fig), caption


def prediction_fit(predictions: pd.DataFrame) -> tuple[float, float, int]:
    """(R², MAE, n) of the learned predictions: rows with model_source 'learned' and both values known.

    R² = 1 − Σ(actual − predicted)² / Σ(actual − mean actual)²; NaN when n = 0 or the actuals do not vary.
    """
    if _empty(predictions):
        return math.nan, math.nan, 0
    rows = predictions[predictions["model_source"] == "learned"][["predicted_er", "actual_er"]].astype(float).dropna()
    n = len(rows)
    if n == 0:
        return math.nan, math.nan, 0
    pred = rows["predicted_er"].to_numpy()
    actual = rows["actual_er"].to_numpy()
    err = actual - pred
    mae = float(np.mean(np.abs(err)))
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else math.nan
    return r2, mae, n


def _figure_predictions(df: pd.DataFrame) -> tuple[str, str, str]:
    title = FIGURE_TITLES[4]
    fig, ax = _new_figure(6.4, 5.4)
    xlabel, ylabel = "predicted engagement rate", "actual engagement rate"
    how = (
        "Each dot is one posted decision: the engagement rate the model predicted at planning time against the "
        "one then measured; dots on the dashed diagonal y = x are perfect predictions"
    )
    frame = None if _empty(df) else df.dropna(subset=["predicted_er", "actual_er"])
    r2, mae, n = prediction_fit(df)
    if n == 0:
        fit = " No learned predictions yet."
    else:
        r2_text = f"{r2:.3f}" if not math.isnan(r2) else "n/a (actuals do not vary)"
        fit = f" Learned predictions: R² = {r2_text}, MAE = {mae:.4g} over n = {n}."
    if _empty(frame):
        _no_data(ax, title, xlabel, ylabel)
        return title, _png(fig), how + f". ({NO_DATA}.)" + fit
    sources = [s for s in ("seed_default", "learned") if s in set(frame["model_source"])]
    sources += sorted(set(frame["model_source"].astype(str)) - set(SOURCE_COLORS))
    extra = _palette([s for s in sources if s not in SOURCE_COLORS])
    for source in sources:
        part = frame[frame["model_source"].astype(str) == source]
        ax.scatter(
            part["predicted_er"].astype(float),
            part["actual_er"].astype(float),
            s=16,
            alpha=0.65,
            color=SOURCE_COLORS.get(source, extra.get(source)),
            linewidths=0,
            label=f"{source} ({len(part)})",
        )
    values = np.concatenate([frame["predicted_er"].astype(float), frame["actual_er"].astype(float)])
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = (hi - lo) * 0.05 or max(abs(hi) * 0.05, 1e-3)
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="black", linestyle="--", linewidth=1, label="y = x")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left")
    return title, _png(fig), how + "." + fit


# --------------------------------------------------------------------------------------------------------------------
# Tables


def _table(header: list[str], rows: list[list[str]], row_classes: list[str] | None = None, cls: str = "") -> str:
    e = html.escape
    out = [f'<table class="{e(cls)}">' if cls else "<table>", "<thead><tr>"]
    out += [f"<th>{e(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        rc = row_classes[i] if row_classes else ""
        out.append(f'<tr class="{e(rc)}">' if rc else "<tr>")
        out += [f"<td>{e(c)}</td>" for c in row]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _summary_table(summary: list[tuple[str, str]]) -> str:
    if not summary:
        return f'<p class="nodata">{NO_DATA}</p>'
    e = html.escape
    rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in summary)
    return f'<table class="summary"><tbody>{rows}</tbody></table>'


def _generators_table(df: pd.DataFrame, true_best: str) -> str:
    if _empty(df):
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
                _fmt(row.posts),
                _fmt(row.weight, ".3f"),
                _fmt(row.f_per_1k_measured, ".2f"),
                _fmt(row.f_per_1k_true, ".2f"),
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
    return _table(header, rows, classes, cls="generators") + legend + extra


def _candidates_table(df: pd.DataFrame) -> str:
    if _empty(df):
        return f'<p class="nodata">{NO_DATA}</p>'
    def label(value) -> str:
        return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

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
    return head + _table(["status", "reason", "count", "share of status"], rows, cls="candidates")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.6em}
h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .7em;text-align:left}
thead th{background:#f3f3f3}
table.summary th{background:#f7f7f7;font-weight:600}
table.generators td:nth-child(n+2):nth-child(-n+5),table.candidates td:nth-child(n+3){text-align:right}
tr.best td{background:#fff5d6;font-weight:600}
tr.top td:last-child{color:#1f5fa8}
figure{margin:1.8em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.92em;color:#444;margin-top:.3em}
.nodata{color:#888;font-style:italic}
.legend{font-size:.88em;color:#555}
.notes{background:#f8f8f8;border-left:3px solid #ccc;padding:.5em 1em .5em 2em}
""".strip()
