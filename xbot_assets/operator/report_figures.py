"""The report's five figures, each drawn from a pandas frame to a base64 PNG with its title and caption.

matplotlib is imported inside the functions that draw, so importing this module costs nothing. Figures are built
with `matplotlib.figure.Figure` (the Agg canvas, no pyplot and no global backend switch), under a fixed rc context
(`RC`), and saved without the "Software" PNG metadata, so the same frames always give the same bytes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable

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


POLICY_ORDER = ("learned", "static", "oracle")
POLICY_COLORS = {"learned": "#1f77b4", "static": "#ff7f0e", "oracle": "#2ca02c"}
SOURCE_COLORS = {"learned": "#1f77b4", "seed_default": "#9e9e9e"}
ROLLING_DAYS = 7

RC = {
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


def is_empty(frame: pd.DataFrame | None) -> bool:
    return frame is None or len(frame) == 0


def fmt(value, spec: str = ".3g") -> str:
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


def figure_f_per_1k(df: pd.DataFrame) -> tuple[str, str, str]:
    title = FIGURE_TITLES[0]
    fig, ax = _new_figure()
    xlabel, ylabel = "simulated day", "F/1K (followers gained per 1,000 impressions)"
    how = (
        f"Each faint dot is one simulated day's F/1K for a policy; the solid line is its {ROLLING_DAYS}-day rolling "
        "mean. The learned policy pulling above the static one means the loop is learning"
    )
    frame = None if is_empty(df) else df.dropna(subset=["day", "policy"])
    if is_empty(frame):
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


def figure_weights(df: pd.DataFrame, true_best: str) -> tuple[str, str, str]:
    title = FIGURE_TITLES[1]
    fig, ax = _new_figure(10.0, 4.6)
    xlabel, ylabel = "time", "generator weight (share of planning)"
    how = (
        "Each line is the planning weight a generator gets after each optimization or refresh; the thick black line "
        f"is the true best generator ({true_best}), the one the simulator secretly rewards most: it should rise "
        "when learning works"
    )
    frame = None if is_empty(df) else df.dropna(subset=["at", "generator_name"])
    if is_empty(frame):
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


def figure_content_arms(df: pd.DataFrame) -> tuple[str, str, str]:
    title = FIGURE_TITLES[2]
    fig, ax = _new_figure()
    xlabel, ylabel = "success probability", "posterior density"
    how = (
        "Each curve is the current Beta(α, β) belief about how often a content type succeeds: further right is "
        "better, narrower is more certain"
    )
    frame = None if is_empty(df) else df.dropna(subset=["arm_value", "alpha", "beta"])
    if frame is not None:
        frame = frame[(frame["alpha"] > 0) & (frame["beta"] > 0)]
    if is_empty(frame):
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
        plays = fmt(getattr(row, "plays", None))
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


def figure_timing(df: pd.DataFrame) -> tuple[str, str, str]:
    title = FIGURE_TITLES[3]
    fig, ax = _new_figure()
    xlabel, ylabel = "posting hour (local)", "UCB index"
    how = (
        "Bar height is each hour's upper-confidence-bound index (mean reward plus an exploration bonus); the "
        "scheduler picks the tallest. Dots mark the mean reward alone, n = times posted at that hour, and hatched "
        "bars are hours never tried (UCB treats them as maximally promising)"
    )
    frame = None if is_empty(df) else df.dropna(subset=["hour"])
    if is_empty(frame):
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
    if is_empty(predictions):
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


def figure_predictions(df: pd.DataFrame) -> tuple[str, str, str]:
    title = FIGURE_TITLES[4]
    fig, ax = _new_figure(6.4, 5.4)
    xlabel, ylabel = "predicted engagement rate", "actual engagement rate"
    how = (
        "Each dot is one posted decision: the engagement rate the model predicted at planning time against the "
        "one then measured; dots on the dashed diagonal y = x are perfect predictions"
    )
    frame = None if is_empty(df) else df.dropna(subset=["predicted_er", "actual_er"])
    r2, mae, n = prediction_fit(df)
    if n == 0:
        fit = " No learned predictions yet."
    else:
        r2_text = f"{r2:.3f}" if not math.isnan(r2) else "n/a (actuals do not vary)"
        fit = f" Learned predictions: R² = {r2_text}, MAE = {mae:.4g} over n = {n}."
    if is_empty(frame):
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


