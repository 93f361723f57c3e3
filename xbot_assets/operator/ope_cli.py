"""`xbot ope`: what another policy would have earned on an account, estimated from its logged decisions before the
policy goes live (off-policy evaluation: IPW, SNIPW and doubly robust, with bootstrap intervals and the effective
sample size). Refuses with the reason, exit code 2, when the logs cannot support an estimate."""

from __future__ import annotations

import argparse
import json

from xbot_assets.learning.ope import (
    DEFAULT_BOOTSTRAP,
    ESTIMATORS,
    MIN_EFFECTIVE_POSTS,
    OffPolicyRefused,
    TooFewEffectivePosts,
)

REFUSED_EXIT = 2


def add_ope_parser(sub) -> None:
    ope = sub.add_parser(
        "ope", help="estimate another generator, content, topic or hook policy's F/1K and engagement rate from the "
                    "logged posts",
        description="Off-policy evaluation of the content type, generator, topic and hook choices (the hour is "
                    "chosen by UCB1, deterministically, and is never evaluated). Targets: weights (the current "
                    "generator weights), posterior (posterior sampling on the current generator posteriors), uniform "
                    "(every usable generator alike) — the other choices stay the logged ones — or FILE.json with "
                    '{"generators": {name: prob}, "content_types": {name: prob}, "topics": {topic: prob}, "hooks": '
                    "{hook type: prob}} (a missing key keeps the logged policy's own).")
    ope.add_argument("--account", required=True)
    ope.add_argument("--target", required=True, help="weights | posterior | uniform | FILE.json")
    ope.add_argument("--days", type=int, default=30, help="the window of logged posts (default 30 days)")
    ope.add_argument("--as-of", default=None, help="the window's end (ISO 8601, UTC; default: the account's newest "
                                                   "post past the learning gate)")
    ope.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, help="bootstrap resamples (default 1000)")
    ope.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default 0)")
    ope.add_argument("--min-effective-posts", type=float, default=MIN_EFFECTIVE_POSTS,
                     help=f"refuse when the importance weights leave fewer effective posts than this (default "
                          f"{MIN_EFFECTIVE_POSTS}; 0 estimates whatever the weights leave)")
    ope.add_argument("--json", action="store_true", help="print the JSON object only")
    ope.set_defaults(func=cmd_ope)


def cmd_ope(args: argparse.Namespace) -> int:
    import sys

    from xbot_assets.ingest.parse import parse_timestamp
    from xbot_assets.learned.ope_data import off_policy_report
    from xbot_assets.settings import WarehouseTarget
    from xbot_assets.warehouse.connection import Warehouse

    as_of = parse_timestamp(args.as_of, "--as-of") if args.as_of else None
    try:
        report = off_policy_report(Warehouse(WarehouseTarget.from_env()), args.account, args.target, days=args.days,
                                   as_of=as_of, bootstrap=args.bootstrap, seed=args.seed,
                                   min_effective=args.min_effective_posts)
    except OffPolicyRefused as exc:
        hint = (" (--min-effective-posts lowers the floor, at the price of an estimate that may be far off)"
                if isinstance(exc, TooFewEffectivePosts) else "")
        print(f"xbot ope: refused: {exc}{hint}", file=sys.stderr)
        return REFUSED_EXIT
    print(json.dumps(report, indent=2) if args.json else describe(report))
    return 0


def describe(report: dict) -> str:
    level = report["f_per_1k"]["level"]
    lines = [f"account {report['account']}: {report['posts']} logged posts from {report['window']['from']} to "
             f"{report['window']['to']}",
             f"target {report['target']}: {report['target_description']}",
             f"evaluated: {', '.join(report['evaluated'])}; effective sample size "
             f"{report['effective_sample_size']:.1f} of {report['posts']}"]
    lines += [f"  excluded {n} posts {why}" for why, n in report["excluded"].items()]
    for key, label, fmt in (("f_per_1k", "F/1K (followers per 1000 impressions)", "{:.2f}"),
                            ("engagement_rate", "engagement rate", "{:.2%}")):
        values = report[key]
        lines.append(f"{label}: logged policy {fmt.format(values['observed'])}; target, {level:.0%} intervals:")
        for name in ESTIMATORS:
            e = values["estimates"][name]
            lines.append(f"  {name:<6} {fmt.format(e['value'])}  [{fmt.format(e['ci_low'])}, "
                         f"{fmt.format(e['ci_high'])}]")
    lines += [f"direct method ({k}): {v}" for k, v in report["direct_method"].items()]
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)


def describe_validation(ope: dict) -> str:
    """The `ope` part of `xbot evaluate` in words."""
    if not ope.get("seeds_estimated"):
        return f"  off-policy check: refused ({ope.get('refused', 'no seed could be estimated')})"
    estimates = "; ".join(f"{name} {e['value']:.2f} [{e['ci_low']:.2f}, {e['ci_high']:.2f}]"
                          for name, e in ope["estimates"].items())
    refused = (f"; {ope['seeds_refused']} more refused ({ope['refusals'][0]['reason']})"
               if ope.get("seeds_refused") else "")
    error, error_vs_value = ope["dr_mean_abs_relative_error"], ope["dr_mean_abs_relative_error_vs_policy_value"]
    return (f"  off-policy check, {ope['target_description']} from the {ope['behaviour']} account's logs: the static "
            f"run's F/1K {ope['true_value']:.2f}, the policy's expected value {ope['policy_value']:.2f} (on the "
            f"logged slots {ope['true_value_on_logged_slots']:.2f}); {estimates}; DR error {error:.1%} "
            f"({error_vs_value:.1%} against the expected value), its {ope['level']:.0%} interval covers the run's "
            f"F/1K in {ope['dr_coverage']:.0%} of {ope['seeds_estimated']} seeds, the expected value in "
            f"{ope['dr_coverage_of_policy_value']:.0%}{refused}")
