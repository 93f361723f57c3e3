"""The operator's approval of queued posts (`act.approvals`), for accounts with approval required.

`xbot queue list` shows what waits (text, scheduled time, predictions, reasons, approval state); approve lets the
publisher send a post at its time; reject skips it for good, with the reason stored on the post and in the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from xbot_assets.clock import utc_naive
from xbot_assets.ingest.load import write_posts
from xbot_assets.warehouse.connection import Warehouse
from xbot_assets.warehouse.values import to_python

APPROVAL_COLUMNS = ("decision_id", "account_id", "decision", "reason", "decided_at", "decided_by")
QUEUE_COLUMNS = ("decision_id", "account_id", "scheduled_at", "content_type", "generator_name", "content",
                 "thread_parts", "quality_score", "predicted_er", "predicted_follow_prob", "content_propensity",
                 "timing_propensity", "generator_propensity", "decision_reasons")


class ApprovalError(ValueError):
    """The decision cannot be approved or rejected (unknown, not queued, already decided)."""


def queue(warehouse: Warehouse, account_id: str | None = None, limit: int = 50) -> pd.DataFrame:
    """Queued posts, pending approvals first, then by scheduled time, with their approval state."""
    where, params = "p.status = 'queued'", []
    if account_id:
        where += " and p.account_id = ?"
        params.append(account_id)
    with warehouse.connect(read_only=True) as conn:
        frame = conn.fetch_df(
            f"select {', '.join('p.' + c for c in QUEUE_COLUMNS)}, coalesce(acc.approval_required, false) as "
            "approval_required, a.decision as approval, a.decided_by, a.decided_at from raw.posts p "
            "left join act.accounts acc on acc.account_id = p.account_id "
            "left join act.approvals a on a.decision_id = p.decision_id "
            f"where {where} order by p.scheduled_at, p.decision_id", params)
    pending = frame["approval_required"].astype(bool) & frame["approval"].isna()
    frame.insert(0, "state", ["pending approval" if p else (a if isinstance(a, str) else "no approval needed")
                              for p, a in zip(pending, frame["approval"], strict=True)])
    frame = pd.concat([frame[pending], frame[~pending]]).head(limit)
    return frame.reset_index(drop=True)


def _decide(warehouse: Warehouse, decision_id: str, decision: str, reason: str | None, now: datetime,
            actor: str) -> dict[str, Any]:
    now = utc_naive(now)
    with warehouse.connect() as conn:
        row = conn.fetch_df("select * from raw.posts where decision_id = ?", [decision_id])
        if row.empty:
            raise ApprovalError(f"no decision {decision_id!r} (see `xbot queue list`)")
        post = {k: to_python(v) for k, v in row.iloc[0].to_dict().items() if k != "loaded_at"}
        if post["status"] != "queued":
            raise ApprovalError(f"decision {decision_id} is {post['status']}, not queued: nothing to {decision[:-1]}")
        done = conn.fetchone("select decision, decided_at from act.approvals where decision_id = ?", [decision_id])
        if done is not None:
            raise ApprovalError(f"decision {decision_id} was already {done[0]} at {done[1]}")
        conn.insert_rows("act.approvals", APPROVAL_COLUMNS,
                         [[decision_id, post["account_id"], decision, reason, now, actor]])
        if decision == "rejected":
            post.update(status="skipped", skip_reason=f"rejected by {actor}: {reason}")
            write_posts(conn, [post], now=now, source_name="approval")
    return post


def approve(warehouse: Warehouse, decision_id: str, now: datetime, actor: str = "operator") -> dict[str, Any]:
    return _decide(warehouse, decision_id, "approved", None, now, actor)


def reject(warehouse: Warehouse, decision_id: str, reason: str, now: datetime, actor: str = "operator"
           ) -> dict[str, Any]:
    if not reason or not reason.strip():
        raise ApprovalError("a rejection needs a reason (--reason TEXT): it is kept with the decision")
    return _decide(warehouse, decision_id, "rejected", reason.strip(), now, actor)
