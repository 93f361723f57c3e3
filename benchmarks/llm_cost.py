"""What the language-model generator costs per planned post, and why candidates are rejected, measured in one run.

Plans N days for one account written by the model (the real openai SDK) against the local OpenAI-compatible test
server (`tests/openai_server.py`), whose writer composes a varied draft from each prompt's topic and form and, at
seeded rates, answers with malformed JSON, a single post where a thread was asked for, or a banned word. The
token counts are the server's usage numbers (characters / 4, about what a real tokenizer gives English). Usage:

    .venv/bin/python benchmarks/llm_cost.py [--days 5] [--posts-per-day 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

PROFILE = """
niche: everyday health habits backed by evidence
topics: [{name: sleep, weight: 3}, {name: morning light, weight: 2}, hydration, walking, caffeine timing]
audience: busy adults who want one practical change at a time
tone_rules: [plain words, one idea per post]
banned_words: [miracle, cure]
"""
OPENINGS = ("{n1} minutes of {t} a day changed my week.", "Most people get {t} wrong by {n1}%.",
            "Myth: {t} needs hours. {n1} minutes is the line.", "Why does {t} matter at {n1}?",
            "New: {n1} adults tried {t} for {n2} weeks.")
FOLLOWS = ("Start with {n2} days and keep what works.", "The change showed up after {n2} days.",
           "Track it for {n2} days, then decide.", "{n2} of {n1} kept it up a month later.")


def writer(rng: np.random.Generator, rates: dict[str, float]):
    def write(body: dict) -> str:
        ask = next(m["content"] for m in body["messages"] if m["role"] == "user")
        topic = re.search(r" about (.+?)\.\n", ask + "\n").group(1)
        thread = "Write one thread" in ask
        draw = rng.random()
        if draw < rates["malformed"]:
            return '{"text": "an unfinished answer'
        n1, n2 = int(rng.integers(3, 95)), int(rng.integers(2, 30))

        def sentence() -> str:
            return " ".join((OPENINGS[int(rng.integers(len(OPENINGS)))], FOLLOWS[int(rng.integers(len(FOLLOWS)))])
                            ).format(t=topic, n1=n1, n2=n2)
        text = sentence() + (" A small miracle." if draw < rates["malformed"] + rates["banned"] else "")
        wrong_form = draw > 1 - rates["wrong_form"]
        if thread and not wrong_form:
            parts = [text, *(f"{i}/ " + sentence() for i in range(2, 2 + int(rng.integers(1, 4))))]
            return json.dumps({"text": None, "parts": parts, "topic": topic, "hook": "surprising number",
                               "claim": f"{topic} helps"})
        return json.dumps({"text": text, "parts": None, "topic": topic, "hook": "surprising number",
                           "claim": f"{topic} helps"})

    return write


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--posts-per-day", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from openai_server import FakeOpenAIServer

    work = Path(tempfile.mkdtemp(prefix="xbot-llm-bench-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # the run leaves nothing in the temp folder
    rates = {"malformed": 0.05, "banned": 0.05, "wrong_form": 0.05}
    with FakeOpenAIServer() as server:
        server.state.writer = writer(np.random.default_rng(args.seed), rates)
        os.environ.update({"XBOT_WAREHOUSE": str(work / "warehouse.duckdb"), "DAGSTER_HOME": str(work / "dagster"),
                           "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test-key",
                           "XBOT_LLM_MODEL": "test-model", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                           "DAGSTER_DISABLE_TELEMETRY": "true"})
        from xbot_assets.operator.cli import main as xbot
        from xbot_assets.warehouse.connection import Warehouse

        (work / "profile.yaml").write_text(PROFILE)
        assert xbot(["accounts", "add", "me", "--connector", "simulator", "--generator", "llm",
                     "--posts-per-day", str(args.posts_per_day)]) == 0
        assert xbot(["accounts", "profile", "me", "--file", str(work / "profile.yaml")]) == 0
        for day in range(args.days):
            assert xbot(["plan", "--account", "me", "--as-of", f"2026-12-{day + 1:02d}T00:00:00Z"]) == 0
        with Warehouse.from_url(str(work / "warehouse.duckdb")).connect() as conn:
            decisions = conn.fetchall("select status, skip_reason from raw.posts where account_id = 'me'")
            calls = conn.fetchall("select outcome, count(*), sum(prompt_tokens), sum(completion_tokens), "
                                  "sum(cost_usd) from act.llm_calls group by 1 order by 1")
    queued = sum(s == "queued" for s, _ in decisions)
    reasons = Counter(re.sub(r"\(.*", "", r).split(":")[0].strip() if r else "" for s, r in decisions
                      if s == "skipped")
    prompt = sum(int(p or 0) for _, _, p, _, _ in calls)
    completion = sum(int(c or 0) for _, _, _, c, _ in calls)
    cost = sum(float(c or 0) for *_, c in calls)
    print(f"\n{args.days} days × {args.posts_per_day} posts, seed {args.seed}, scripted fault rates {rates}")
    print(f"candidates {len(decisions)}: {queued} queued, {len(decisions) - queued} skipped")
    for reason, n in reasons.most_common():
        print(f"  skipped {n:3d} ({n / len(decisions):.1%} of candidates): {reason}")
    print("calls: " + ", ".join(f"{o} {n}" for o, n, *_ in calls) + f"; tokens {prompt} prompt + {completion} "
          f"completion; ${cost:.5f} at the default prices")
    if queued:
        print(f"per queued post: {sum(n for _, n, *_ in calls) / queued:.2f} calls, "
              f"{(prompt + completion) / queued:.0f} tokens, ${cost / queued:.6f}")


if __name__ == "__main__":
    main()
