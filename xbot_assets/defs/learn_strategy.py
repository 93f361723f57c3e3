"""The learn group's words (issue 17): `learn/formulas` (structures of the account's own winners and how the posts
that used them did) and `learn/strategy` (top topics, best hours, effective hooks, best formulas, generator
performance, each with its evidence), rebuilt with the rest of the group.

Settings: XBOT_FORMULA_MIN_ER (0.02), XBOT_FORMULA_MIN_IMPRESSIONS (5000): what makes a post a winner;
XBOT_LABELLER (rules | llm) and XBOT_LABELLER_MAX_POSTS (200): with llm, each account's gated posts without a label
are first labelled by the language model (acting/generators/llm_labels.py), here, because the learned layer never
imports acting; the formulas then read the model's hook and structure where there is one.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition time.

import dagster as dg

from xbot_assets.acting.generators.llm_labels import LabellerSettings, LabelRun, LLMLabeller, label_account
from xbot_assets.defs.isolation import AccountLoop
from xbot_assets.defs.metadata import markdown_table
from xbot_assets.defs.partitions import ACCOUNTS, ONE_RUN_PER_ACCOUNT, learning_accounts
from xbot_assets.defs.resources import ClockResource, WarehouseResource
from xbot_assets.learned.formulas import FormulaSettings, learn_formulas
from xbot_assets.learned.strategy import learn_strategy, strategy_summary

OUTCOMES = dg.AssetKey(["analytics", "outcomes"])
BANDIT_ARMS = dg.AssetKey(["learn", "bandit_arms"])
GENERATOR_PERFORMANCE = dg.AssetKey(["analytics", "generator_performance"])
FORMULAS = dg.AssetKey(["learn", "formulas"])
STRATEGY = dg.AssetKey(["learn", "strategy"])


@dg.asset(
    key=FORMULAS, group_name="learn", pool="warehouse", partitions_def=ACCOUNTS,
    backfill_policy=ONE_RUN_PER_ACCOUNT, deps=[OUTCOMES], kinds={"python", "sql"},
    description=(
        "Formulas from the account's own winners (ER >= 2 % or 5,000+ impressions): a structure read from the hook "
        "and the text, a name, one example, and the performance of every post with that structure (posts, mean "
        "impressions, ER, F/1K, a confidence growing with evidence), ranked account-wide and per generator. Other "
        "accounts' viral posts never become formulas. With XBOT_LABELLER=llm the hook and the structure of a post "
        "come from a language model's label where it gave one (act.post_labels), from the rules otherwise."
    ),
)
def formulas(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
             clock: ClockResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    wh.migrate()
    settings, now = FormulaSettings.from_env(), clock.now()
    labelling = LabellerSettings.from_env()
    loop = AccountLoop(context, wh, now, "learn/formulas")
    runs: dict[str, LabelRun] = {}
    label = None
    if labelling.kind == "llm":
        # One labeller for the run: a server found unusable for one account is not asked again for the next.
        labeller = LLMLabeller.from_env(wh, clock=lambda: now, job_name=context.job_name)

        def label(account_id: str) -> None:
            runs[account_id] = label_account(wh, labeller, account_id, labelling.max_posts, now)

    accounts, skipped = learning_accounts(context, wh)
    by_account = learn_formulas(wh, now, settings, run=loop.run, label=label, only=accounts)
    metadata: dict = {**skipped, "dagster/row_count": sum(len(f) for f in by_account.values()),
                      "dagster/relation_identifier": "learn.formulas", "accounts": len(by_account),
                      "winner: min ER": settings.min_er, "winner: min impressions": settings.min_impressions,
                      **labels_metadata(labelling.kind, runs, by_account)}
    for account_id, table in by_account.items():
        overall = table[table["generator_name"] == "*"]
        metadata[f"{account_id}: formulas"] = dg.MetadataValue.md(markdown_table(
            ["formula", "structure", "posts", "winners", "mean impressions", "ER", "F/1K", "confidence"],
            overall[["name", "structure", "posts", "winners", "mean_impressions", "engagement_rate", "f_per_1k",
                     "confidence"]].itertuples(index=False, name=None),
        ) if len(overall) else "No winner yet: no formula.")
    return dg.MaterializeResult(metadata=loop.finish(metadata))


def labels_metadata(kind: str, runs: dict[str, LabelRun], by_account: dict) -> dict:
    """How the posts' structures were read this run: labelled by the model now, read from the model's stored labels,
    read by the rules; and why the model could not be used, when it could not (reasons never hold the key)."""
    sources = [f.attrs.get("structures", {}) for f in by_account.values()]
    metadata: dict = {"labeller": kind,
                      "labels: by the model this run": sum(len(r.labels) for r in runs.values()),
                      "labels: by rules this run": sum(s.get("rules", 0) for s in sources),
                      "labels: model's, read this run": sum(s.get("model", 0) for s in sources)}
    reasons = list(dict.fromkeys(f"{a}: {reason}" for a, r in sorted(runs.items()) for reason in r.reasons))
    if reasons:
        metadata["labels: model not used"] = dg.MetadataValue.md("\n".join(f"- {r}" for r in reasons[:10]))
    return metadata


@dg.asset(
    key=STRATEGY, group_name="learn", pool="warehouse", partitions_def=ACCOUNTS,
    backfill_policy=ONE_RUN_PER_ACCOUNT, deps=[OUTCOMES, BANDIT_ARMS, FORMULAS],
    kinds={"python", "sql"},
    description=("The learned strategy in words, per account: top topics, best hours, effective hooks, best formulas "
                 "and generator performance, each with the evidence behind it (shown by `xbot status`)."),
)
def strategy(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
             clock: ClockResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    wh.migrate()
    now = clock.now()
    loop = AccountLoop(context, wh, now, "learn/strategy")
    accounts, skipped = learning_accounts(context, wh)
    by_account = learn_strategy(wh, now, run=loop.run, only=accounts)
    metadata: dict = {**skipped, "dagster/row_count": len(by_account), "dagster/relation_identifier": "learn.strategy"}
    for account_id, learned in by_account.items():
        metadata[f"{account_id}: strategy"] = dg.MetadataValue.md(strategy_markdown(learned))
    return dg.MaterializeResult(metadata=loop.finish(metadata))


def strategy_markdown(learned: dict) -> str:
    return "\n".join([*(f"- {name}: {words}" for name, words in strategy_summary(learned)),
                      f"- from {learned.get('posts', 0)} gated posts"])
