"""The learn group's words (issue 17): `learn/formulas` (structures of the account's own winners and how the posts
that used them did) and `learn/strategy` (top topics, best hours, effective hooks, best formulas, generator
performance, each with its evidence), rebuilt with the rest of the group.

Settings: XBOT_FORMULA_MIN_ER (0.02), XBOT_FORMULA_MIN_IMPRESSIONS (5000): what makes a post a winner.
"""

# No `from __future__ import annotations` here: Dagster inspects the `context` annotation at definition time.

import dagster as dg

from xbot_assets.defs.isolation import AccountLoop
from xbot_assets.defs.metadata import markdown_table
from xbot_assets.defs.resources import ClockResource, WarehouseResource
from xbot_assets.learned.formulas import FormulaSettings, learn_formulas
from xbot_assets.learned.strategy import learn_strategy

OUTCOMES = dg.AssetKey(["analytics", "outcomes"])
BANDIT_ARMS = dg.AssetKey(["learn", "bandit_arms"])
GENERATOR_PERFORMANCE = dg.AssetKey(["analytics", "generator_performance"])
FORMULAS = dg.AssetKey(["learn", "formulas"])
STRATEGY = dg.AssetKey(["learn", "strategy"])


@dg.asset(
    key=FORMULAS, group_name="learn", pool="warehouse", deps=[OUTCOMES], kinds={"python", "sql"},
    description=(
        "Formulas from the account's own winners (ER >= 2 % or 5,000+ impressions): a structure read from the hook "
        "and the text, a name, one example, and the performance of every post with that structure (posts, mean "
        "impressions, ER, F/1K, a confidence growing with evidence), ranked account-wide and per generator. Other "
        "accounts' viral posts never become formulas."
    ),
)
def formulas(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
             clock: ClockResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    wh.migrate()
    settings, now = FormulaSettings.from_env(), clock.now()
    loop = AccountLoop(context, wh, now, "learn/formulas")
    by_account = learn_formulas(wh, now, settings, run=loop.run)
    metadata: dict = {"dagster/row_count": sum(len(f) for f in by_account.values()),
                      "dagster/relation_identifier": "learn.formulas", "accounts": len(by_account),
                      "winner: min ER": settings.min_er, "winner: min impressions": settings.min_impressions}
    for account_id, table in by_account.items():
        overall = table[table["generator_name"] == "*"]
        metadata[f"{account_id}: formulas"] = dg.MetadataValue.md(markdown_table(
            ["formula", "structure", "posts", "winners", "mean impressions", "ER", "F/1K", "confidence"],
            overall[["name", "structure", "posts", "winners", "mean_impressions", "engagement_rate", "f_per_1k",
                     "confidence"]].itertuples(index=False, name=None),
        ) if len(overall) else "No winner yet: no formula.")
    return dg.MaterializeResult(metadata=loop.finish(metadata))


@dg.asset(
    key=STRATEGY, group_name="learn", pool="warehouse", deps=[OUTCOMES, BANDIT_ARMS, FORMULAS],
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
    by_account = learn_strategy(wh, now, run=loop.run)
    metadata: dict = {"dagster/row_count": len(by_account), "dagster/relation_identifier": "learn.strategy"}
    for account_id, learned in by_account.items():
        metadata[f"{account_id}: strategy"] = dg.MetadataValue.md(strategy_markdown(learned))
    return dg.MaterializeResult(metadata=loop.finish(metadata))


def strategy_markdown(learned: dict) -> str:
    def items(key: str, name: str) -> str:
        found = learned.get(key) or []
        return ", ".join(f"{i[name]} ({i['posts']} posts, ER {i['mean_er']:.2%})" for i in found
                         if i.get("mean_er") is not None) or "not learned yet"

    formulas = ", ".join(f"{f['name']} ({f['posts']} posts)" for f in learned.get("best_formulas") or []) or "none yet"
    generators = ", ".join(f"{g['generator']} (F/1K {g['f_per_1k']:.2f}, {g['posts']} posts)"
                           for g in (learned.get("generator_performance") or [])[:3] if g.get("f_per_1k") is not None)
    return "\n".join([f"- top topics: {items('top_topics', 'topic')}", f"- best hours: {items('best_hours', 'hour')}",
                      f"- effective hooks: {items('effective_hooks', 'hook')}", f"- best formulas: {formulas}",
                      f"- generators: {generators or 'not learned yet'}",
                      f"- from {learned.get('posts', 0)} gated posts"])
