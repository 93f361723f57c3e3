"""The demo's HTML report: written, self-contained, deterministic, and calm about empty inputs."""

from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xbot_assets.operator.report import ReportData, reason_category, write_report
from xbot_assets.operator.report_figures import FIGURE_TITLES, NO_DATA, prediction_fit

PNG_TAG = '<img src="data:image/png;base64,'
GENERATORS = [f"gen_{i:02d}" for i in range(12)]
TRUE_BEST = "gen_07"


def synthetic(seed: int = 3, days: int = 30, n_predictions: int = 200) -> ReportData:
    rng = np.random.default_rng(seed)
    daily = []
    for day in range(days):
        daily.append((day, "learned", 1.0 + 0.04 * day + rng.normal(0, 0.3)))
        daily.append((day, "static", 1.0 + rng.normal(0, 0.3)))
        daily.append((day, "oracle", 2.4 + rng.normal(0, 0.1)))
    start = datetime(2025, 3, 1, tzinfo=timezone.utc)
    raw = rng.dirichlet(np.ones(len(GENERATORS)), size=days)
    weights = [
        (start + timedelta(days=d), g, float(raw[d, i] * (1 + (d / 10 if g == TRUE_BEST else 0))))
        for d in range(days)
        for i, g in enumerate(GENERATORS)
    ]
    true = {g: float(rng.uniform(0.5, 2.0)) for g in GENERATORS}
    true[TRUE_BEST] = 3.0
    generators = pd.DataFrame(
        {
            "generator_name": GENERATORS,
            "posts": rng.integers(0, 40, len(GENERATORS)),
            "weight": raw[-1],
            "f_per_1k_measured": [true[g] + rng.normal(0, 0.2) if i % 5 else np.nan for i, g in enumerate(GENERATORS)],
            "f_per_1k_true": [true[g] for g in GENERATORS],
        }
    )
    content_arms = pd.DataFrame(
        {
            "arm_value": ["thread", "hot_take", "tutorial", "meme <b>"],
            "alpha": [12.0, 3.0, 1.0, 0.7],
            "beta": [20.0, 9.0, 1.0, 2.5],
            "plays": [30, 10, 0, 2],
            "true_success_prob": [0.4, 0.2, 0.6, np.nan],
        }
    )
    hours = np.arange(24)
    plays = rng.integers(0, 6, 24)
    mean = np.where(plays > 0, rng.uniform(0, 1, 24), np.nan)
    timing_arms = pd.DataFrame(
        {
            "hour": hours,
            "plays": plays,
            "mean_reward": mean,
            "ucb_index": np.where(plays > 0, mean + 1 / np.sqrt(np.maximum(plays, 1)), np.nan),
        }
    )
    predicted = rng.uniform(0.01, 0.08, n_predictions)
    predictions = pd.DataFrame(
        {
            "decision_id": [f"d{i}" for i in range(n_predictions)],
            "predicted_er": predicted,
            "actual_er": predicted + rng.normal(0, 0.01, n_predictions),
            "model_source": np.where(np.arange(n_predictions) < n_predictions // 4, "seed_default", "learned"),
        }
    )
    candidates = pd.DataFrame(
        {
            "status": ["posted"] * 5 + ["skipped"] * 4 + ["blocked"],
            "reason": [None] * 5 + ["duplicate", "duplicate", "low score", "quiet hours"] + ["policy <x>"],
        }
    )
    return ReportData(
        title="xbot demo — scenario hidden_gem, 30 days, seed 11 & <friends>",
        summary=[("Days", str(days)), ("Learned vs static F/1K", "+18 %"), ("True best", TRUE_BEST)],
        f_per_1k_daily=pd.DataFrame(daily, columns=["day", "policy", "f_per_1k"]),
        weights=pd.DataFrame(weights, columns=["at", "generator_name", "weight"]),
        generators=generators,
        true_best_generator=TRUE_BEST,
        content_arms=content_arms,
        timing_arms=timing_arms,
        predictions=predictions,
        candidates=candidates,
        notes=["Simulated audience; numbers are not from X.", "a < b"],
    )


def empty() -> ReportData:
    return ReportData(
        title="xbot demo — nothing yet",
        summary=[],
        f_per_1k_daily=pd.DataFrame(columns=["day", "policy", "f_per_1k"]),
        weights=pd.DataFrame(),
        generators=pd.DataFrame(),
        true_best_generator="gen_00",
        content_arms=pd.DataFrame(columns=["arm_value", "alpha", "beta", "plays", "true_success_prob"]),
        timing_arms=pd.DataFrame(),
        predictions=pd.DataFrame(),
        candidates=pd.DataFrame(columns=["status", "reason"]),
    )


def pngs(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def captions(text: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<figcaption>(.*?)</figcaption>", text, re.S)]


def generator_row(text: str, name: str) -> str:
    return re.search(rf"<tr[^>]*><td>{name}</td>.*?</tr>", text, re.S).group(0)


def test_report_is_written_and_complete(tmp_path: Path):
    data = synthetic()
    out = write_report(data, tmp_path / "sub" / "report.html")
    assert out == tmp_path / "sub" / "report.html" and out.is_file()
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert f"<title>{html.escape(data.title)}</title>" in text
    assert f"<h1>{html.escape(data.title)}</h1>" in text
    assert "<friends>" not in text and "<b>" not in text and "<x>" not in text  # everything escaped
    assert text.count(PNG_TAG) == 5
    images = pngs(text)
    assert len(images) == 5 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in images)
    caps = captions(text)
    assert len(caps) == 5
    for title, cap in zip(FIGURE_TITLES, caps):
        assert cap.startswith(title + ".")
    assert "R² = " in caps[4] and "n = 150" in caps[4]
    # self-contained: nothing fetched
    assert "http://" not in text and "https://" not in text and "<script" not in text and "<link" not in text
    # summary and notes
    assert "<th>Learned vs static F/1K</th><td>+18 %</td>" in text
    assert "a &lt; b" in text


def test_generators_table_marks_true_best_and_top_weight(tmp_path: Path):
    data = synthetic()
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    table = re.search(r'<table class="generators">.*?</table>', text, re.S).group(0)
    best = generator_row(table, TRUE_BEST)
    assert "★ true best" in best and 'class="best' in best
    assert table.count("★ true best") == 1 and table.count("▲ highest weight") == 1
    top = data.generators.loc[data.generators["weight"].idxmax(), "generator_name"]
    assert "▲ highest weight" in generator_row(table, top)
    # sorted by true F/1K, descending: the true best comes first
    names = re.findall(r"<tr[^>]*><td>(gen_\d\d)</td>", table)
    expected = data.generators.sort_values("f_per_1k_true", ascending=False)["generator_name"].tolist()
    assert names == expected and names[0] == TRUE_BEST


def test_candidates_counted_by_status_and_reason(tmp_path: Path):
    text = write_report(synthetic(), tmp_path / "r.html").read_text(encoding="utf-8")
    table = re.search(r'<table class="candidates">.*?</table>', text, re.S).group(0)
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(\d+)</td>", table)
    assert rows == [
        ("posted", "—", "5"),
        ("skipped", "duplicate", "2"),
        ("skipped", "low score", "1"),
        ("skipped", "quiet hours", "1"),
        ("blocked", "policy &lt;x&gt;", "1"),
    ]
    assert "10 candidates" in text


def test_an_empty_reason_is_a_dash_never_nan(tmp_path: Path):
    import duckdb

    # As the demo reads them: a NULL skip_reason comes out of DuckDB as NaN, and str(NaN) would be "nan".
    frame = duckdb.sql("select * from (values ('posted', null), ('skipped', 'quality gate: hook 0.2'), "
                       "('skipped', ''), ('failed', '  ')) t(status, skip_reason)").df()
    assert frame["skip_reason"].isna().any()
    candidates = frame.rename(columns={"skip_reason": "reason"}).assign(
        reason=lambda f: f["reason"].map(reason_category))
    assert [r if isinstance(r, str) else None for r in candidates["reason"]] == [None, "quality gate", None, None]
    data = synthetic()
    data.candidates = pd.concat([candidates, pd.DataFrame({"status": ["posted"], "reason": [np.nan]})])
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    table = re.search(r'<table class="candidates">.*?</table>', text, re.S).group(0)
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(\d+)</td>", table)
    assert rows == [("posted", "—", "2"), ("skipped", "quality gate", "1"), ("skipped", "—", "1"),
                    ("failed", "—", "1")]
    assert "nan" not in table.lower()


def test_timings_are_a_small_table(tmp_path: Path):
    data = synthetic()
    data.timings = {"dagster runs (dbt, learn, plan)": 198.04, "act steps (publish, collect, followers)": 48.0}
    text = write_report(data, tmp_path / "r.html").read_text(encoding="utf-8")
    table = re.search(r'<h2>Where the time went</h2>\s*<table class="timings">.*?</table>', text, re.S).group(0)
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", table)
    assert rows == [("dagster runs (dbt, learn, plan)", "198.0", "80%"),
                    ("act steps (publish, collect, followers)", "48.0", "20%"), ("total", "246.0", "100%")]
    assert "timings: {" not in text  # no longer a JSON line among the notes
    assert "Where the time went" not in write_report(synthetic(), tmp_path / "none.html").read_text()


def test_writing_twice_gives_identical_bytes(tmp_path: Path):
    a = write_report(synthetic(), tmp_path / "a.html").read_bytes()
    b = write_report(synthetic(), tmp_path / "b.html").read_bytes()
    assert a == b


def test_empty_frames_give_a_report_with_no_data_yet(tmp_path: Path):
    text = write_report(empty(), tmp_path / "empty.html").read_text(encoding="utf-8")
    assert text.count(PNG_TAG) == 5
    assert NO_DATA in text
    caps = captions(text)
    assert len(caps) == 5 and all(NO_DATA in c for c in caps)
    assert "No learned predictions yet." in caps[4]


def test_no_learned_predictions_is_said_in_the_caption(tmp_path: Path):
    data = synthetic()
    data.predictions = data.predictions.assign(model_source="seed_default")
    caps = captions(write_report(data, tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "No learned predictions yet." in caps[4] and NO_DATA not in caps[4]


def test_r2_in_caption_matches_hand_computation(tmp_path: Path):
    data = empty()
    data.predictions = pd.DataFrame(
        {
            "decision_id": ["a", "b", "c", "d", "e"],
            "predicted_er": [0.02, 0.04, 0.05, 0.90, 0.10],
            "actual_er": [0.01, 0.05, 0.03, 0.00, 0.07],
            "model_source": ["learned", "learned", "learned", "seed_default", "learned"],
        }
    )
    # learned rows only: actual 0.01 0.05 0.03 0.07 (mean 0.04), predicted 0.02 0.04 0.05 0.10
    ss_res = 0.01**2 + 0.01**2 + 0.02**2 + 0.03**2  # 0.0015
    ss_tot = 0.03**2 + 0.01**2 + 0.01**2 + 0.03**2  # 0.0020
    r2 = 1 - ss_res / ss_tot  # 0.25
    mae = (0.01 + 0.01 + 0.02 + 0.03) / 4  # 0.0175
    assert r2 == pytest.approx(0.25)
    got_r2, got_mae, n = prediction_fit(data.predictions)
    assert (got_r2, got_mae, n) == (pytest.approx(r2), pytest.approx(mae), 4)
    caption = captions(write_report(data, tmp_path / "r.html").read_text(encoding="utf-8"))[4]
    assert f"R² = {r2:.3f}, MAE = {mae:.4g} over n = 4." in caption
    assert "R² = 0.250, MAE = 0.0175 over n = 4." in caption


def test_missing_columns_are_named(tmp_path: Path):
    data = synthetic()
    data.timing_arms = data.timing_arms.drop(columns=["ucb_index"])
    with pytest.raises(ValueError, match="timing_arms lacks ucb_index"):
        write_report(data, tmp_path / "r.html")


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, xbot_assets.operator.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
