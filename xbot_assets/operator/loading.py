"""`xbot load KIND FILE`: the account's own history from CSV — xbot's own columns (posts, metrics, followers, viral)
or X's analytics exports (x-analytics) — through the validated writers; bad rows are quarantined with a reason."""

from __future__ import annotations

import argparse
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from xbot_assets.settings import DEFAULT_ACCOUNT

# Each kind's columns for `--help` and for refusing a file that has none of them: (required, optional).
KIND_COLUMNS = {
    "posts": ("tweet_id or decision_id; posted_at (or status + scheduled_at)",
              "content, thread_parts (JSON list), content_type, generator_name, topic, account_id, decision_type, "
              "status, the 0–1 scores (quality_score, novelty_score, expertise_score, viral_score, predicted_er, "
              "predicted_follow_prob, *_propensity)"),
    "metrics": ("decision_id or tweet_id; collected_at; likes, retweets, replies",
                "impressions, quotes, bookmarks, profile_clicks, url_clicks, follows, account_id"),
    "followers": ("collected_at; followers", "account_id"),
    "viral": ("example_id or tweet_id; content", "author_handle, impressions, likes, retweets, replies, topic, "
                                                 "collected_at, account_id"),
    "x-analytics": ("X's own export: the per-post account_analytics_content_<from>_<to>.csv, the classic "
                    "tweet_activity_metrics_<handle>_<from>_<to>_<lang>.csv, or account_overview_analytics.csv",
                    "--account, --collected-at (default: the file name's end date), --followers-now "
                    "(the overview's count at the end of its last day)"),
}
_KNOWN = {"posts": ("decision_id", "tweet_id", "posted_at", "scheduled_at", "status", "content"),
          "metrics": ("decision_id", "tweet_id", "collected_at", "likes", "retweets", "replies", "impressions"),
          "followers": ("collected_at", "followers"), "viral": ("example_id", "tweet_id", "content")}
DATE_COLUMNS = ("posted_at", "scheduled_at", "created_at", "collected_at", "publishing_started_at")


def add_load_parser(sub) -> None:
    def wrap(label: str, text: str) -> str:
        return textwrap.fill(text, 100, initial_indent=f"    {label}: ", subsequent_indent=" " * 14)

    epilog = "columns of each kind (matched by name: case and spaces do not matter):\n" + "\n".join(
        f"  {kind}:\n{wrap('required', required)}\n{wrap('optional', optional)}"
        for kind, (required, optional) in KIND_COLUMNS.items())
    load = sub.add_parser("load", help="import your own history from a CSV file (bad rows are quarantined)",
                          epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    load.add_argument("kind", choices=list(KIND_COLUMNS))
    load.add_argument("file")
    load.add_argument("--account", default=None, help=f"the account the rows belong to (default: the rows' "
                      f"account_id, else {DEFAULT_ACCOUNT!r})")
    load.add_argument("--encoding", default=None, help="the file's text encoding when it is not UTF-8 (e.g. cp1252, "
                      "what Excel saves as CSV; latin-1; utf-16); a file that is not in it is refused whole")
    load.add_argument("--date-format", default=None, help="how to read dates like 03/11/2025 (e.g. %%d/%%m/%%Y); "
                      "without it an ambiguous date is quarantined")
    load.add_argument("--collected-at", default=None, help="x-analytics: when the export was taken (ISO 8601, "
                      "UTC); default: the end of the last day in its file name")
    load.add_argument("--followers-now", type=int, default=None, help="x-analytics overview: the follower count "
                      "at the end of the file's last day (default: the newest collected count)")
    load.set_defaults(func=cmd_load)


def _where(report_tables: list[str], source_name: str) -> str:
    tables = ", ".join(f"'{t}'" for t in report_tables)
    return (f"quarantined rows are in raw.quarantine; read them with:\n  select target_table, reason, payload from "
            f"raw.quarantine where source_name = '{source_name}' and target_table in ({tables}) "
            f"order by received_at desc")


def cmd_load(args: argparse.Namespace) -> int:
    from xbot_assets.clock import WallClock
    from xbot_assets.ingest.csv_files import read_csv_file
    from xbot_assets.ingest.load import RAW_TABLE_OF, WRITERS, normalised_rows
    from xbot_assets.ingest.parse import header_name, normalise_dates
    from xbot_assets.operator.cli import _warehouse
    from xbot_assets.runtime.instance import report_raw_materialization

    path = Path(args.file)
    if not path.exists():
        print(f"xbot load: no such file: {path}", file=sys.stderr)
        return 2
    try:  # read whole before anything is written: a refused file leaves the warehouse as it was
        file = read_csv_file(path, args.encoding)
    except (OSError, ValueError) as exc:
        print(f"xbot load {args.kind}: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    now = WallClock().now()
    wh = _warehouse()
    if args.kind == "x-analytics":
        return _load_x_analytics(args, path, file, wh, now, report_raw_materialization)
    rows = normalised_rows(file)
    headers = {header_name(h) for h in file.headers}
    if rows and not headers & set(_KNOWN[args.kind]):
        required, optional = KIND_COLUMNS[args.kind]
        print(f"xbot load {args.kind}: {path} has none of the columns of {args.kind} (it has: "
              f"{', '.join(sorted(headers))}); nothing loaded.\n  required: {required}\n  optional: {optional}",
              file=sys.stderr)
        return 2
    if args.date_format:
        normalise_dates(rows, DATE_COLUMNS, args.date_format)
    if args.account:
        for row in rows:
            row["account_id"] = args.account
    wh.migrate()
    with wh.connect() as conn:
        report = WRITERS[args.kind](conn, rows, now=now, source_name=path.name, source_id=file.digest)
    print(f"{path}: {len(rows)} rows read ({file.encoding}) into {wh.target.describe()}")
    print(report.summary())
    if report.quarantined_total:
        print(_where([report.table], path.name))
    if report.loaded or report.updated or report.quarantined_total:
        report_raw_materialization(RAW_TABLE_OF[args.kind], report.as_metadata(), f"xbot load {args.kind} {path.name}")
    return 0


def _load_x_analytics(args: argparse.Namespace, path: Path, file, wh, now: datetime,
                      report_raw_materialization) -> int:
    from xbot_assets.ingest.parse import BadValue, header_name, normalise_dates, parse_count, parse_timestamp
    from xbot_assets.ingest.x_exports import ExportError, collected_at_from_name, import_export, read_export

    account = args.account or DEFAULT_ACCOUNT
    headers, rows = file.headers, file.rows
    # The file's modification time bounds the collection time (an export cannot count past its download), so
    # loading the same file again gives its snapshots the same time — not the wall clock's.
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    try:
        followers_now = None if args.followers_now is None else parse_count(args.followers_now, "--followers-now")
        if args.collected_at:
            collected_at, said = parse_timestamp(args.collected_at, "--collected-at"), "--collected-at"
        elif (from_name := collected_at_from_name(path.name)) is not None:
            collected_at, said = min(from_name, modified), "the end of the file name's last day"
            if modified < from_name:
                said = "the file's modification time (before the end of the file name's last day)"
        else:
            collected_at = modified
            said = "the file's modification time (the name carries no dates; --collected-at sets it)"
    except BadValue as exc:
        print(f"xbot load x-analytics: {exc}; nothing loaded", file=sys.stderr)
        return 2
    collected_at = min(collected_at, now)
    if args.date_format:
        normalise_dates(rows, tuple(h for h in headers if header_name(h) in ("date", "time")), args.date_format)
    wh.migrate()
    with wh.connect() as conn:
        known = None
        if followers_now is not None:
            known = (None, followers_now)
        else:
            newest = conn.fetchone("select collected_at, followers from raw.follower_snapshots where account_id = ? "
                                   "order by collected_at desc limit 1", [account])
            if newest:
                known = (parse_timestamp(newest[0], "collected_at"), int(newest[1]))
        try:
            export = read_export(rows, headers, account_id=account, collected_at=collected_at, known_followers=known)
        except ExportError as exc:
            print(f"xbot load x-analytics: {path}: {exc}; nothing loaded", file=sys.stderr)
            return 2
        report = import_export(conn, export, account_id=account, now=now, source_name=path.name,
                               source_id=file.digest)
    print(f"{path}: X's {export.kind} export, {len(rows)} rows ({file.encoding}) for account {account!r} into "
          f"{wh.target.describe()}"
          + ("" if export.kind == "overview" else f"; collected at {collected_at:%Y-%m-%d %H:%M} UTC ({said})"))
    print(report.rows.identity() + ("" if export.kind == "overview" else
                                    " (file rows: one writes a post and its snapshot)"))
    for reason, n in sorted(report.rows.quarantined.items()):
        print(f"  quarantined {n:>5}  {reason}")
    for table in report.tables:
        print(table.summary().splitlines()[0])
    if report.rows.quarantined_total:
        quarantine_tables = ["raw.follower_snapshots"] if export.kind == "overview" else ["raw.posts",
                                                                                          "raw.metric_snapshots"]
        print(_where(quarantine_tables, path.name))
    for i, table in enumerate(report.tables):
        # Rows refused before reaching a writer are quarantined under the first table (posts, or followers).
        if table.loaded or table.updated or table.quarantined_total or (i == 0 and export.rejected):
            report_raw_materialization(table.table.split(".", 1)[1],
                                       {**table.as_metadata(), "file rows": report.rows.identity()},
                                       f"xbot load x-analytics {path.name}")
    return 0
