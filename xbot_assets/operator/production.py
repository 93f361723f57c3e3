"""The production loop from the command line: accounts, the approval queue, and plan / publish / collect / harvest,
each of those four one Dagster run recorded in the instance (the same jobs the schedules run).

    xbot accounts add NAME --connector simulator|x-api|x-web [--handle H] [--timezone TZ] [--posts-per-day N]
                      [--generator-policy weights|posterior] [--publish | --no-publish] [--approval | --no-approval]
                      [--allow-links | --no-allow-links] [--credentials-prefix P]
    xbot accounts list [--json]          xbot accounts enable|disable NAME
    xbot accounts token NAME --file TOKEN.json   (OAuth 2.0 user tokens: the first pair)
    xbot accounts profile NAME --file PROFILE.yaml
    xbot queue list [--account A] [--json]    xbot queue approve ID    xbot queue reject ID --reason TEXT
    xbot plan|publish|collect [--account A] [--as-of ISO]
    xbot harvest viral --account A --query Q [--min-likes N] [--max-results N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from typing import Any

AS_OF_HELP = "the run's 'now' (ISO 8601, UTC unless an offset is given); default: the wall clock"
ACCOUNT_FLAGS = ("connector", "handle", "timezone", "posts_per_day", "generator_policy", "publish_enabled",
                 "approval_required", "allow_urls", "credentials_prefix", "scenario", "sim_seed", "generator")


def _warehouse():
    from xbot_assets.settings import WarehouseTarget
    from xbot_assets.warehouse.connection import Warehouse

    wh = Warehouse(WarehouseTarget.from_env())
    wh.migrate()
    return wh


def _now(args: argparse.Namespace):
    from xbot_assets.operator.cli import _as_of

    return _as_of(args)


def _account_line(a) -> str:
    mode = "PUBLISHING" if a.publish_enabled else "dry run"
    extras = [f"@{a.handle}" if a.handle else None, a.timezone or "tz from XBOT_TIMEZONE",
              f"{a.posts_per_day}/day", f"generators by {a.generator_policy}",
              f"written by {a.generator or os.environ.get('XBOT_GENERATOR') or 'offline'}",
              "approval required" if a.approval_required else None, "links allowed" if a.allow_urls else None,
              f"credentials {a.credentials_prefix}*" if a.credentials_prefix else None,
              f"scenario {a.scenario}" if a.connector == "simulator" else None]
    state = "enabled" if a.enabled else "disabled"
    return f"  {a.account_id:<16} {a.connector:<9} {state:<8} {mode:<10} " + ", ".join(e for e in extras if e)


def cmd_accounts(args: argparse.Namespace) -> int:
    from xbot_assets.acting.accounts import Account, accounts, find_account, register_account

    wh = _warehouse()
    now = _now(args)
    if args.action == "list":
        from xbot_assets.acting.profile import load_profile

        with wh.connect() as conn:
            found = accounts(conn, enabled_only=False)
            profiles = {a.account_id: load_profile(conn, a.account_id) for a in found}
        if args.json:
            print(json.dumps([{**asdict(a), "profile": p.model_dump() if (p := profiles[a.account_id]) else None}
                              for a in found], indent=2))
        elif not found:
            print("no accounts yet: xbot accounts add NAME --connector x-api --handle YOU")
        else:
            print(f"{len(found)} account(s) in {wh.target.describe()}:")
            for a in found:
                print(_account_line(a))
                profile = profiles[a.account_id]
                print(f"  {'':<16} profile: {profile.niche} — topics {', '.join(t.name for t in profile.topics)}"
                      if profile else f"  {'':<16} no profile (xbot accounts profile {a.account_id} --file F.yaml)")
        return 0
    with wh.connect() as conn:
        existing = find_account(conn, args.name)
    if args.action == "token":
        return _store_token(existing, args)
    if args.action == "profile":
        return _store_profile(wh, existing, args, now)
    if args.action in ("enable", "disable"):
        if existing is None:
            print(f"xbot accounts {args.action}: no account {args.name!r} (xbot accounts list)", file=sys.stderr)
            return 2
        account = replace(existing, enabled=args.action == "enable")
    else:
        given = {k: getattr(args, k) for k in ACCOUNT_FLAGS if getattr(args, k) is not None}
        if existing is None:
            if "connector" not in given:
                print("xbot accounts add: --connector is required for a new account", file=sys.stderr)
                return 2
            if given["connector"] != "simulator":
                given.setdefault("scenario", None)
            account = Account(args.name, **given)
        else:
            account = replace(existing, **given)
    register_account(wh, account, now)
    from xbot_assets.runtime.instance import add_account_partitions

    # The learn and act assets are partitioned by account: the new account's partition, in the instance the
    # daemon's schedules and sensors read.
    add_account_partitions([account.account_id])
    verb = {"enable": "enabled", "disable": "disabled"}.get(args.action, "updated" if existing else "added")
    print(f"account {account.account_id} {verb}:")
    print(_account_line(account))
    if account.dry_run and args.action == "add":
        print("  dry run: decisions are planned and stored, nothing is published until --publish")
    return 0


def _store_profile(wh, account, args: argparse.Namespace, now) -> int:
    from xbot_assets.acting.profile import ProfileError, read_profile, store_profile

    if account is None:
        print(f"xbot accounts profile: no account {args.name!r} (xbot accounts add first)", file=sys.stderr)
        return 2
    if not args.file:
        print("xbot accounts profile: --file PROFILE.yaml is required", file=sys.stderr)
        return 2
    try:
        profile = read_profile(args.file)
    except ProfileError as exc:
        print(f"xbot accounts profile: {exc}", file=sys.stderr)
        return 2
    store_profile(wh, account.account_id, profile, now)
    topics = ", ".join(f"{name} {share:.0%}" for name, share in profile.topic_weights().items())
    print(f"profile of {account.account_id} stored: {profile.niche}; topics {topics}; language {profile.language}; "
          f"links {'allowed' if profile.links_allowed else 'not allowed'}; {len(profile.banned_words)} banned "
          f"words, {len(profile.banned_claims)} banned claims")
    return 0


def _store_token(account, args: argparse.Namespace) -> int:
    """The first OAuth 2.0 token pair of an account (the JSON X's consent flow returned), into its token file."""
    import os
    from datetime import UTC, datetime

    from xbot_assets.connectors.x_api.auth import default_token_file, oauth2_variables
    from xbot_assets.connectors.x_api.oauth2 import TokenError, TokenStore

    if account is None or account.connector != "x-api":
        print(f"xbot accounts token: {args.name!r} is not an x-api account", file=sys.stderr)
        return 2
    if not args.file:
        print("xbot accounts token: --file TOKEN.json is required", file=sys.stderr)
        return 2
    client_var, _, file_var = oauth2_variables(account.credentials_prefix)
    path = os.environ.get(file_var) or default_token_file(account.credentials_prefix)
    try:
        with open(args.file) as handle:
            token = json.load(handle)
        store = TokenStore(path)
        store.store(token)
        expires = datetime.fromtimestamp(store.read()["expires_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OSError, ValueError, TokenError) as exc:
        print(f"xbot accounts token: {exc}", file=sys.stderr)
        return 2
    print(f"OAuth 2.0 token of {account.account_id} stored in {path} (owner-only); the access token is valid "
          f"until {expires} and is refreshed from then on" + ("" if os.environ.get(client_var) else
                                                             f"; set {client_var} to use it"))
    return 0


def _queue_rows(frame) -> list[dict[str, Any]]:
    from xbot_assets.warehouse.values import to_python

    return [{k: to_python(v) for k, v in row.items()} for row in frame.to_dict("records")]


def cmd_queue(args: argparse.Namespace) -> int:
    from xbot_assets.acting.approvals import ApprovalError, approve, queue, reject

    wh = _warehouse()
    if args.action == "list":
        rows = _queue_rows(queue(wh, args.account))
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return 0
        if not rows:
            print("the queue is empty")
            return 0
        for r in rows:
            reasons = "; ".join(json.loads(r["decision_reasons"])) if r.get("decision_reasons") else ""
            print(f"[{r['state']}] {r['decision_id']}  {r['account_id']}  at {r['scheduled_at']} UTC  "
                  f"{r['content_type']} by {r['generator_name']}")
            parts = json.loads(r["thread_parts"]) if r.get("thread_parts") else [r["content"]]
            for i, part in enumerate(parts):
                print(f"    {'(' + str(i + 1) + ') ' if len(parts) > 1 else ''}{part}")
            er, follow = r.get("predicted_er"), r.get("predicted_follow_prob")
            print(f"    quality {r['quality_score']:.2f}, predicted ER {er:.2%}, P(follow) {follow:.2f}; {reasons}"
                  if er is not None and follow is not None else f"    {reasons}")
        return 0
    try:
        if args.action == "approve":
            post = approve(wh, args.id, _now(args))
            print(f"approved {args.id} ({post['account_id']}, at {post['scheduled_at']} UTC)")
        else:
            post = reject(wh, args.id, args.reason or "", _now(args))
            print(f"rejected {args.id}: {args.reason}")
    except ApprovalError as exc:
        print(f"xbot queue {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0


def _run(job: str, args: argparse.Namespace, op_config: dict[str, dict[str, Any]] | None = None,
         accounts: list[str] | None = None) -> int:
    from xbot_assets.operator.cli import report_run
    from xbot_assets.runtime.instance import run_job

    now = _now(args) if getattr(args, "as_of", None) else None
    started = time.perf_counter()
    result = run_job(job, now=now, tags={"xbot/trigger": f"cli-{args.command}"}, op_config=op_config,
                     accounts=accounts)
    return report_run(result, time.perf_counter() - started)


def cmd_plan(args: argparse.Namespace) -> int:
    # act/planned_posts is partitioned by account: --account plans that one partition, else every account's.
    from xbot_assets.acting.accounts import find_account

    if args.account:
        with _warehouse().connect() as conn:
            if find_account(conn, args.account) is None:
                print(f"xbot plan: no account {args.account!r} (xbot accounts list)", file=sys.stderr)
                return 2
    return _run("plan_job", args, accounts=[args.account] if args.account else None)


def cmd_publish(args: argparse.Namespace) -> int:
    return _run("publish_job", args, {"publish_due_posts": {"account": args.account or ""}})


def cmd_collect(args: argparse.Namespace) -> int:
    config = {"account": args.account or ""}
    return _run("collect_job", args, {"collect_post_metrics": config, "snapshot_account_followers": config})


def cmd_harvest(args: argparse.Namespace) -> int:
    if not 10 <= args.max_results <= 100:
        raise ValueError("--max-results must be between 10 and 100 (X's recent search)")
    return _run("harvest_viral_job", args, {"harvest_viral_examples": {
        "account": args.account, "query": args.query, "min_likes": args.min_likes, "max_results": args.max_results}})


def add_commands(sub) -> None:
    accounts = sub.add_parser("accounts", help="add, list, enable or disable the accounts xbot acts for",
                              description="Publishing is off (dry run) until --publish; --approval makes every "
                              "queued post wait for `xbot queue approve`. Re-running add updates the given flags.")
    accounts.add_argument("action", choices=["add", "list", "enable", "disable", "token", "profile"])
    accounts.add_argument("name", nargs="?", default=None)
    accounts.add_argument("--connector", choices=["simulator", "x-api", "x-web"], default=None)
    accounts.add_argument("--handle", default=None, help="the account's @handle (without @)")
    accounts.add_argument("--timezone", default=None, help="IANA time zone of the account's day, e.g. Europe/Berlin")
    accounts.add_argument("--posts-per-day", type=int, default=None)
    accounts.add_argument("--generator-policy", choices=["weights", "posterior"], default=None)
    accounts.add_argument("--generator", choices=["offline", "llm"], default=None,
                          help="who writes: the offline templates or the language model (default XBOT_GENERATOR)")
    accounts.add_argument("--publish", dest="publish_enabled", action=argparse.BooleanOptionalAction, default=None,
                          help="publish for real (default: off, a dry run)")
    accounts.add_argument("--approval", dest="approval_required", action=argparse.BooleanOptionalAction,
                          default=None, help="every queued post waits for `xbot queue approve`")
    accounts.add_argument("--allow-links", dest="allow_urls", action=argparse.BooleanOptionalAction, default=None,
                          help="let posts contain links (X charges $0.20 instead of $0.015 for such a post)")
    accounts.add_argument("--credentials-prefix", default=None,
                          help="read this account's X credentials from PREFIXAPI_KEY etc. (default XBOT_X_)")
    accounts.add_argument("--scenario", default=None, help="simulator accounts: the scenario")
    accounts.add_argument("--seed", dest="sim_seed", type=int, default=None, help="simulator accounts: the seed")
    accounts.add_argument("--json", action="store_true", help="list: print JSON")
    accounts.add_argument("--file", default=None, help="token: the OAuth 2.0 token JSON from X's consent flow; "
                          "profile: the profile YAML (niche, topics, audience, tone, banned words and claims, ...)")
    accounts.add_argument("--as-of", default=None, help=AS_OF_HELP)
    accounts.set_defaults(func=_required("name", "NAME", cmd_accounts))

    queue = sub.add_parser("queue", help="the queued posts; approve or reject them (accounts with --approval)")
    queue.add_argument("action", choices=["list", "approve", "reject"])
    queue.add_argument("id", nargs="?", default=None, help="approve/reject: the decision_id (see `xbot queue list`)")
    queue.add_argument("--reason", default=None, help="reject: why (stored with the decision)")
    queue.add_argument("--account", default=None)
    queue.add_argument("--json", action="store_true")
    queue.add_argument("--as-of", default=None, help=AS_OF_HELP)
    queue.set_defaults(func=_required("id", "ID", cmd_queue))

    for name, func, text in (
        ("plan", cmd_plan, "plan the rest of today's posts (one Dagster run of plan_job)"),
        ("publish", cmd_publish, "publish the due, approved posts (one Dagster run of publish_job)"),
        ("collect", cmd_collect, "read the due posts' metrics and the follower count (one run of collect_job)"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--account", default=None, help="one enabled account (default: every enabled one)")
        command.add_argument("--as-of", default=None, help=AS_OF_HELP)
        command.set_defaults(func=func)

    harvest = sub.add_parser("harvest", help="fill raw.viral_examples from X's recent search (prompts only)")
    harvest.add_argument("what", choices=["viral"])
    harvest.add_argument("--account", required=True, help="the x-api account whose access and budget are used")
    harvest.add_argument("--query", required=True, help="X search query, e.g. 'sleep science -is:retweet lang:en'")
    harvest.add_argument("--min-likes", type=int, default=100)
    harvest.add_argument("--max-results", type=int, default=100)
    harvest.add_argument("--as-of", default=None, help=AS_OF_HELP)
    harvest.set_defaults(func=cmd_harvest)


def _required(field: str, label: str, func):
    """Every action but `list` names its target (NAME, ID)."""
    def wrapped(args: argparse.Namespace) -> int:
        if args.action != "list" and not getattr(args, field):
            print(f"xbot {args.command} {args.action}: {label} is required", file=sys.stderr)
            return 2
        return func(args)
    return wrapped
