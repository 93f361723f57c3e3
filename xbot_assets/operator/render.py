"""The operator's text: the dashboard (`xbot status`), the health verdict (`xbot health`) and what the operator
controls print (`xbot optimize`, `xbot weights`), plus the JSON dump the `--json` flags print."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from xbot_assets.defs.metadata import markdown_table
from xbot_assets.learned.controls import ControlReport
from xbot_assets.learned.strategy import strategy_summary
from xbot_assets.learned.weights import OptimizationReport
from xbot_assets.learning.generator_weights import LOCKED, PINNED
from xbot_assets.operator.health import NO_ACCOUNTS_REASON, HealthVerdict
from xbot_assets.operator.status import jsonable


def _pct(value: Any) -> str | None:
    return None if value is None else f"{float(value):.1%}"


def _num(value: Any, digits: int = 3) -> str | None:
    return None if value is None else f"{float(value):.{digits}f}"


def _when(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).replace("T", " ")[:16]


def render_health(verdicts: Sequence[HealthVerdict], status: str, *, notes: bool = True,
                  others: Sequence[HealthVerdict] = ()) -> str:
    """The accounts' verdicts, then the others' (the Dagster jobs, the locks and the cache)."""
    lines = [f"health: {status.upper()}"]
    if not verdicts:
        lines.append(f"  {NO_ACCOUNTS_REASON}")
    for v in [*verdicts, *others]:
        lines.append(f"  {v.account_id}: {v.status}")
        lines += [f"    - {r}" for r in v.reasons]
        if notes:
            lines += [f"    · note {n}" for n in v.notes]
    return "\n".join(lines)


def render_status(status: dict[str, Any], runs: Sequence[dict[str, Any]] | None = None) -> str:
    """The dashboard as text (markdown tables)."""
    table = markdown_table
    clock = status.get("clock", {}).get("description") or f"as of {_when(status['as_of'])} UTC"
    out = [f"xbot status {clock} — warehouse {status['warehouse']}",
           f"health: {status['health']['status'].upper()}"]
    out += [f"  - {r}" for r in status["health"]["reasons"]]
    for a in status["accounts"]:
        registration = ("enabled" if a["enabled"] else "disabled") if a["registered"] else \
            "not registered in act.accounts"
        out += ["", f"== account {a['account_id']} ({registration}) — health {a['health']['status'].upper()} =="]
        out += [f"  - {r}" for r in a["health"]["reasons"]]
        out += [f"  · note {n}" for n in a["health"]["notes"]]
        learned = a.get("learned_from") or {}
        if a.get("static"):
            out.append(f"not learned: a static account plans from the seed defaults (generator weights, content "
                       f"types uniformly, fixed hours); {learned.get('posted', 0)} posted")
        else:
            out.append(f"learned from {learned.get('posts', 0)} posts ({learned.get('imported', 0)} imported; "
                       f"{learned.get('reported_followers', 0)} with X's own follower counts) of "
                       f"{learned.get('posted', 0)} posted: those past the learning gate")
        window = a["learning_window"]
        out += ["", f"generators (learning window {window}; F/1K over posts past the learning gate):"]
        out.append(table(
            ["generator", "status", "weight", f"posts {window}", f"F/1K {window}", "posts all time", "F/1K all time",
             "tier"],
            [(g["generator"], g["status"] + (" 🔒" if g["locked"] else ""), _pct(g["weight"]), g["posted_window"],
              _num(g["f_per_1k_window"], 2), g["posted_all_time"], _num(g["f_per_1k_all_time"], 2), g["tier"])
             for g in a["generators"]],
        ) if a["generators"] else "  none")
        out += ["", "content arms (Beta posteriors; picked by Thompson sampling):"]
        out.append(table(
            ["arm", "plays", "successes", "posterior mean", "P(Thompson picks)"],
            [(c["arm_name"], c["plays"], _num(c["successes"], 1), _num(c["posterior_mean"]),
              _pct(c["selection_probability"])) for c in a["content_arms"]],
        ) if a["content_arms"] else "  none")
        played = [t for t in a["timing_arms"] if t["plays"]]
        unplayed = len(a["timing_arms"]) - len(played)
        out += ["", f"timing arms (UCB1; played hours; {unplayed} unplayed hours are tried first):"]
        out.append(table(
            ["hour", "plays", "successes", "mean reward", "posterior mean", "UCB index", "P(UCB picks)"],
            [(t["hour"], t["plays"], _num(t["successes"], 1), _num(t["mean_reward"], 4), _num(t["posterior_mean"]),
              _num(t["ucb_index"], 4), _pct(t["selection_probability"])) for t in played],
        ) if played else "  none played")
        out += ["", "models (newest version; holdout metric, lower is better):"]
        out.append(table(
            ["model", "version", "metric", "value", "baseline", "beats baseline", "samples", "created"],
            [(m["model_name"], m["version"], m["primary_metric"], _num(m["primary_value"], 4),
              _num(m["baseline_value"], 4), {True: "yes", False: "NO", None: "—"}[m["beats_baseline"]],
              m["n_samples"], _when(m["created_at"])) for m in a["models"]],
        ) if a["models"] else "  none trained (planning uses the default predictions)")
        if a["generator_posteriors"]:
            out += ["", "generator posteriors (Gamma–Poisson F/1K; the posterior-sampling policy):"]
            out.append(table(
                ["generator", "posts", "posterior F/1K", "P(sampling picks)"],
                [(p["generator_name"], p["posts"], _num(p["posterior_mean"], 2), _pct(p["selection_probability"]))
                 for p in a["generator_posteriors"]],
            ))
        if a.get("forgetting"):
            out += ["", "forgetting (half-life of the evidence, chosen by the data under auto): " + ", ".join(
                f"{name} {'never' if days is None else format(days, 'g') + ' days'}"
                for name, days in a["forgetting"].items())]
        if a.get("change_found"):
            out.append(f"the follow rate changed: the generator posteriors forget the evidence before "
                       f"{_when(a['change_found'])} and try every generator again")
        out += strategy_lines(a.get("strategy"))
        api = a.get("api") or {}
        budget = api.get("budget_usd")
        out += ["", f"platform API this month ({api.get('month')}): {api.get('calls', 0)} calls "
                    f"({api.get('failed_calls', 0)} failed), ${api.get('spend_usd', 0.0):.3f} spent"
                    + (f" of a ${budget:.2f} budget" if budget is not None else " (no budget set: "
                       "XBOT_X_MONTHLY_BUDGET_USD)")]
        llm = a.get("llm") or {}
        if llm.get("month"):
            today, month, daily = llm["today"], llm["month"], llm.get("daily_budget_usd")
            out.append(f"language model today: {today['calls']} calls ({today['failed_calls']} failed), "
                       f"{today['prompt_tokens']:,} + {today['completion_tokens']:,} tokens, "
                       f"${today['spend_usd']:.4f}" + (f" of a ${daily:.2f} daily budget" if daily is not None
                                                       else " (no budget set: XBOT_LLM_DAILY_BUDGET_USD)"))
            out.append(f"language model this month: {month['calls']} calls, {month['prompt_tokens']:,} + "
                       f"{month['completion_tokens']:,} tokens, ${month['spend_usd']:.4f}")
        out += ["", "optimization events (newest first):"]
        out.append(table(
            ["at", "event", "by", "ok", "generators updated", "detail"],
            [(_when(e["created_at"]), e["event_type"], e["created_by"], "yes" if e["success"] else "NO",
              e["generators_updated"], e["error_message"] or e["skipped_reason"] or
              (f"top {e['top_performer']}" if e["top_performer"] else None))
             for e in a["optimization_events"]],
        ) if a["optimization_events"] else "  none")
    if runs is not None:
        out += ["", "jobs (newest run):"]
        out.append(table(
            ["job", "status", "started (UTC)", "ended (UTC)", "seconds", "run id"],
            [(r["job"], r["status"], _when(r["start_time"]), _when(r["end_time"]), r["duration_s"],
              (r["run_id"] or "")[:8] or None) for r in runs],
        ))
    return "\n".join(out)


def strategy_lines(strategy: dict[str, Any] | None) -> list[str]:
    """learn/strategy in words, each item with its evidence (posts, mean ER; formulas with their confidence)."""
    if not strategy:
        return ["", "learned strategy: not built yet (learn/strategy)"]
    return ["", f"learned strategy (from {strategy.get('posts', 0)} gated posts, {_when(strategy.get('as_of'))}):",
            *(f"  {name}: {words}" for name, words in strategy_summary(strategy))]


def _change_line(change: dict[str, Any]) -> str:
    old, new = change.get("old_weight"), change.get("new_weight")
    pct = change.get("change_percent")
    delta = f" ({pct:+.1f}%)" if pct is not None else ""
    status = ""
    if change.get("old_status") and change.get("old_status") != change.get("new_status"):
        status = f" [{change['old_status']} → {change['new_status']}]"
    return f"  {change['generator']}: {_pct(old)} → {_pct(new)}{delta}{status} — {change.get('reason')}"


def render_optimization(report: OptimizationReport) -> str:
    mode = "dry run (nothing written)" if report.dry_run else ("written" if report.written else "nothing written")
    # A dry run applies nothing, so it never says it did.
    outcome = "would apply" if report.dry_run and report.status == "applied" else report.status
    lines = [f"account {report.account_id}: {outcome} — {report.detail} [{mode}]"]
    if report.error:
        lines.append(f"  error: {report.error}")
    if report.posts_analysed:
        lines.append(f"  posts analysed: {report.posts_analysed}")
    if report.top_performer:
        lines.append(f"  top performer: {report.top_performer[0]} (F/1K {report.top_performer[1]:.2f})")
    if report.bottom_performer:
        lines.append(f"  bottom performer: {report.bottom_performer[0]} (F/1K {report.bottom_performer[1]:.2f})")
    verb = "would change" if report.dry_run else "changes"
    if report.changes:
        lines.append(f"  {verb} ({len(report.changes)}):")
        lines += [_change_line(c) for c in report.changes]
    else:
        lines.append(f"  no weight {'would change' if report.dry_run else 'changed'}")
    locked = sorted(g for g, s in report.statuses.items() if s == LOCKED)
    if locked:
        lines.append(f"  locked (kept as they are): {', '.join(locked)}")
    pinned = sorted(g for g, s in report.statuses.items() if s == PINNED)
    if pinned:
        lines.append(f"  pinned by `xbot weights set` (kept until unlocked): {', '.join(pinned)}")
    if report.event_id:
        lines.append(f"  logged as optimization event {report.event_id}")
    lines.append(weights_table(report.weights_before, report.weights_after, report.statuses))
    return "\n".join(lines)


def weights_table(before: dict[str, float], after: dict[str, float], statuses: dict[str, str]) -> str:
    names = sorted(set(before) | set(after), key=lambda n: (-after.get(n, before.get(n, 0.0)), n))
    return markdown_table(
        ["generator", "status", "before", "after", "change"],
        [(n, statuses.get(n), _pct(before.get(n)), _pct(after.get(n)),
          None if abs(after.get(n, 0.0) - before.get(n, 0.0)) < 1e-12
          else f"{(after.get(n, 0.0) - before.get(n, 0.0)) * 100:+.2f} pts") for n in names],
    )


def render_control(report: ControlReport) -> str:
    if report.event_id is None:
        return f"account {report.account_id}: {report.generator} {report.detail} (no event logged)"
    lines = [f"account {report.account_id}: {report.event_type} {report.generator} — {report.detail}",
             f"  logged as optimization event {report.event_id}"]
    lines.append(weights_table(report.weights_before, report.weights_after, report.statuses))
    return "\n".join(lines)


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)

