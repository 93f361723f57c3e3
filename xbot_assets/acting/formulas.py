"""The learned formulas a generator writes with (learn/formulas): its best ones, best first, as plain dicts the
writers read (name, structure, hook, length, example, performance)."""

from __future__ import annotations

from collections.abc import Sequence

from xbot_assets.warehouse.connection import Connection

FORMULAS_PER_GENERATOR = 3
_COLUMNS = ("generator_name", "name", "structure", "hook", "length_class", "example", "posts", "mean_impressions",
            "engagement_rate", "f_per_1k", "confidence")


def best_formulas(conn: Connection, account_id: str, generators: Sequence[str],
                  limit: int = FORMULAS_PER_GENERATOR) -> dict[str, list[dict]]:
    """Per generator: the formulas ranked on its own posts, topped up with the account-wide ranking ('*'), so a
    generator that never used a formula still writes with the account's best."""
    if not conn.table_exists("learn", "formulas"):
        return {}
    rows = conn.fetchall(f"select {', '.join(_COLUMNS)} from learn.formulas where account_id = ? "
                         "order by generator_name, rank", [account_id])
    ranked: dict[str, list[dict]] = {}
    for row in rows:
        document = dict(zip(_COLUMNS, row, strict=True))
        document["length"] = document.pop("length_class")
        ranked.setdefault(str(document.pop("generator_name")), []).append(document)
    overall = ranked.get("*", [])
    result = {}
    for generator in generators:
        own = ranked.get(generator, [])
        names = {f["name"] for f in own}
        chosen = (own + [f for f in overall if f["name"] not in names])[:limit]
        if chosen:
            result[generator] = chosen
    return result
