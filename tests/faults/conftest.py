"""The fault-injection suite: each test injects one fault and records what xbot should do and what it did.

Run it alone to read it: `.venv/bin/pytest tests/faults -p no:cacheprovider -q`. The summary prints one line per
injected fault (its kind, the expected outcome, the measured one, rows lost, double posts) and writes the same table
to test-artifacts/faults.md. A test asserts its expectation as well, so the table can only say what passed or failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pytest
from fault_table import FAULT_PROPERTY

# Tests import the suite's service URLs as `from conftest import REDIS_URL`; whichever conftest pytest imported last
# answers to that name, so this one offers the same names (they live in tests/services.py).
from services import PG_ADMIN_URL, REDIS_URL, _admin_connection  # noqa: F401

CATEGORIES = ("platform", "input", "crash", "infrastructure")


@dataclass
class FaultRecord:
    test: str
    category: str = ""
    fault: str = ""
    expected: str = ""
    measured: str = ""
    rows_lost: int = 0
    double_posts: int = 0
    passed: bool | None = None

    @property
    def warehouse(self) -> str:
        """The warehouse the test ran on, from its parameters (`warehouse_url` gives duckdb or postgres)."""
        for name in ("duckdb", "postgres"):
            if f"[{name}" in self.test or f"-{name}]" in self.test or f"-{name}-" in self.test:
                return name
        return "—"

    def expect(self, category: str, fault: str, expected: str) -> FaultRecord:
        """Name the fault about to be injected and the outcome xbot promises for it."""
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {CATEGORIES}, not {category!r}")
        self.category, self.fault, self.expected = category, fault, expected
        return self

    def measure(self, measured: str, *, rows_lost: int = 0, double_posts: int = 0) -> None:
        """What the test observed (computed from the warehouse, the servers' logs or the output — never assumed)."""
        self.measured, self.rows_lost, self.double_posts = measured, rows_lost, double_posts


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    record = getattr(item, "_fault_record", None)
    if record is None:
        return
    if report.when == "call":
        record.passed = report.passed
    elif report.when == "teardown" and record.fault:
        # The row rides on the teardown report to wherever the reports are gathered (tests/fault_table.py).
        report.user_properties.append((FAULT_PROPERTY, {**asdict(record), "warehouse": record.warehouse,
                                                        "nodeid": item.nodeid}))


@pytest.fixture
def fault(request) -> FaultRecord:
    """One injected fault of this test (parametrized tests get one per parameter set)."""
    record = FaultRecord(test=request.node.nodeid.split("::", 1)[-1])
    request.node._fault_record = record
    return record
