"""A `dbt build`'s data tests check the rows the build changed; `dbt test` and a full refresh check everything.

macros/test_scope.sql limits the tests on the incremental models and the staging views to the units rows loaded
since the previous build touch. Each test here corrupts a row and shows which command sees it, on both warehouses,
with the steps of tests/test_incremental_marts.py.
"""

from __future__ import annotations

from datetime import timedelta

from test_dbt_models import METRIC_COLUMNS, POST_COLUMNS, post, snap, t
from test_incremental_marts import MARKED, STEPS, _dbt, _dbt_build, _load, _steps

from xbot_assets.settings import WarehouseTarget
from xbot_assets.warehouse.connection import Warehouse

RATE_TEST = "between_outcomes_engagement_rate__1__0"
TRAINING_RATE_TEST = "between_training_set_engagement_rate__1__0"  # no model reads training_set
TYPE_TEST = "accepted_values_stg_posts_decision_type__single__thread__reply"


def _built_through(step: int, warehouse_url: str) -> tuple[WarehouseTarget, Warehouse, dict]:
    target = WarehouseTarget.parse(warehouse_url)
    wh = Warehouse(target)
    wh.migrate()
    steps = _steps()
    for s in range(1, step + 1):
        _load(wh, steps[s])
        _dbt_build(target, s)
    return target, wh, steps


def _failed(proc, test_name: str) -> bool:
    return proc.returncode != 0 and any(test_name in line and "FAIL" in line for line in proc.stdout.splitlines())


def test_a_build_checks_the_units_it_recomputed_and_dbt_test_checks_every_row(warehouse_url):
    target, wh, steps = _built_through(2, warehouse_url)
    untouched = MARKED[3][0]  # a6: nothing loaded in step 3 can change it
    with wh.connect() as c:
        c.execute("update analytics.training_set set engagement_rate = 7 where decision_id = ?", [untouched])
    _load(wh, steps[3])
    _dbt_build(target, 3)  # its tests read only what step 3 touched
    with wh.connect() as c:
        assert c.scalar("select engagement_rate from analytics.training_set where decision_id = ?", [untouched]) == 7
    whole = _dbt(target, 3, "test")
    assert _failed(whole, TRAINING_RATE_TEST), whole.stdout[-3000:]

    # New data that makes a recomputed row wrong fails the build: a later snapshot of a6 with more likes than
    # impressions (an engagement rate of 50).
    with wh.connect() as c:
        c.insert_rows("raw.metric_snapshots", METRIC_COLUMNS,
                      [snap(untouched, t(10, 9), 10, 500, 0, 0, None)[:-1] + (STEPS[3] + timedelta(minutes=1),)])
    rebuilt = _dbt(target, 3, "build")
    assert _failed(rebuilt, RATE_TEST), rebuilt.stdout[-3000:]
    with wh.connect() as c:
        assert c.scalar("select engagement_rate from analytics.outcomes where decision_id = ?", [untouched]) == 50


def test_a_bad_row_loaded_since_fails_the_build_and_an_unseen_one_fails_a_full_refresh(warehouse_url):
    target, wh, steps = _built_through(2, warehouse_url)
    # loaded before the last build read (past the lookback): no incremental build looks at it again
    unseen = post("zz_old", "acct_a", "bogus", "myth_busting", "dataNerd", STEPS[1])[:-1] + (STEPS[1],)
    with wh.connect() as c:
        c.insert_rows("raw.posts", POST_COLUMNS, [unseen])
    _load(wh, steps[3])
    _dbt_build(target, 3)
    full = _dbt(target, 3, "build", "--full-refresh")
    assert _failed(full, TYPE_TEST), full.stdout[-3000:]
    with wh.connect() as c:
        c.execute("delete from raw.posts where decision_id = 'zz_old'")
    _dbt_build(target, 3, full_refresh=True)

    fresh = post("zz_new", "acct_a", "bogus", "myth_busting", "dataNerd", STEPS[3])[:-1] + (
        STEPS[3] + timedelta(minutes=1),)
    with wh.connect() as c:
        c.insert_rows("raw.posts", POST_COLUMNS, [fresh])
    incremental = _dbt(target, 3, "build")
    assert _failed(incremental, TYPE_TEST), incremental.stdout[-3000:]
