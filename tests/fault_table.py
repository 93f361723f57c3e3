"""The fault-injection suite's summary table (tests/faults/conftest.py records one row per injected fault).

Each test's row travels on its teardown report (`user_properties`), so the table is assembled where the reports
arrive: the one pytest process, or pytest-xdist's controller when workers ran the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FAULT_PROPERTY = "xbot_fault"
ARTIFACT = Path(__file__).resolve().parents[1] / "test-artifacts" / "faults.md"


def rows_of(report: Any) -> list[dict[str, Any]]:
    """The fault rows a test report carries (its teardown report; none on the others)."""
    if getattr(report, "when", None) != "teardown":
        return []
    return [value for name, value in getattr(report, "user_properties", ()) if name == FAULT_PROPERTY]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| category | fault | warehouse | expected | measured | rows lost | double posts | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        result = {True: "ok", False: "FAILED", None: "not run"}[r["passed"]]
        lines.append(
            f"| {r['category']} | {r['fault']} | {r['warehouse']} | {r['expected']} | {r['measured'] or '—'} "
            f"| {r['rows_lost']} | {r['double_posts']} | {result} |"
        )
    return lines


def write_summary(terminalreporter: Any, rows: list[dict[str, Any]]) -> None:
    """The table in the terminal summary and in test-artifacts/faults.md, in the order of the tests' ids."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: r["nodeid"])
    kinds = {(r["category"], r["fault"]) for r in rows}
    survived = {(r["category"], r["fault"]) for r in rows if r["passed"]}
    totals = (
        f"{len(kinds)} fault kinds injected ({len(rows)} runs incl. both warehouses), {len(survived)} survived; "
        f"{len({r['fault'] for r in rows if r['category'] == 'input'})} bad-input kinds; "
        f"rows lost {sum(r['rows_lost'] for r in rows)}, double posts {sum(r['double_posts'] for r in rows)}"
    )
    terminalreporter.section("injected faults")
    for line in _table(rows):
        terminalreporter.write_line(line)
    terminalreporter.write_line(totals)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text("# Injected faults\n\n" + "\n".join(_table(rows)) + f"\n\n{totals}\n")
