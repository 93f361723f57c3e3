import dagster as dg

# Everything downstream of the raw tables (and the raw tables' own bookkeeping), in one process: each step in a
# separate process would cost seconds of start-up and a re-import of dbt for milliseconds of work.
refresh_job = dg.define_asset_job(
    "refresh_job",
    selection=dg.AssetSelection.all(),
    description="Migrate and describe the raw tables, then rebuild every model and learned table from them.",
    executor_def=dg.in_process_executor,
)

# The tables a day of the loop writes (posting, collecting counters, reading the follower count). raw.viral_examples
# changes only when the operator harvests, raw.quarantine only records what was refused.
DAILY_RAW_TABLES = dg.AssetSelection.assets(
    dg.AssetKey(["raw", "posts"]), dg.AssetKey(["raw", "metric_snapshots"]), dg.AssetKey(["raw", "follower_snapshots"])
)

# The evaluation's daily cycle: what the day's data can reach, without the checks. Checks judge the data, they
# change no decision, and on a 60-day evaluation their ~80 dbt tests and Python checks are most of each run's cost;
# stg_viral_examples (a view no decision reads) is built by refresh_job.
learn_and_plan_job = dg.define_asset_job(
    "learn_and_plan_job",
    selection=DAILY_RAW_TABLES.downstream().without_checks() - dg.AssetSelection.groups("report"),
    description="Rebuild the marts, learn and plan, without running the asset checks or building the dashboard "
                "(used by `xbot evaluate` and `xbot demo`).",
    executor_def=dg.in_process_executor,
)

# The simulated loop's daily run (`xbot evaluate`, `xbot demo`) after its first: of what the day's data can reach,
# only what the next plan reads — act/planned_posts and everything upstream of it — and of that not the staging
# views. A view holds no rows: it is its SQL, which the loop's first run (learn_and_plan_job) created and which no
# loop changes, so re-creating it every day (dbt's create, rename and drop) was ~0.2 s a day for nothing. The
# analysts' marts (arm_performance, timing_performance, int_follower_intervals) and the strategy in words
# (learn/strategy) change no decision: the loop's last run (learn_and_plan_job or refresh_job) builds them, the
# incremental ones from everything loaded since their last build, so they end as a daily build would have left them.
daily_loop_job = dg.define_asset_job(
    "daily_loop_job",
    selection=(DAILY_RAW_TABLES.downstream().without_checks()
               & dg.AssetSelection.assets(dg.AssetKey(["act", "planned_posts"])).upstream())
    - dg.AssetSelection.key_prefixes(["staging"]),
    description="A simulated loop's day after its first: rebuild the marts the learning reads, learn and plan — "
                "without the checks, the staging views (the loop's first run created them), the analysts' marts, "
                "the strategy in words or the dashboard (used by `xbot evaluate` and `xbot demo`; their last run "
                "builds the rest).",
    executor_def=dg.in_process_executor,
)

# ------------------------------------------------------------------------------------------------------------------
# What the production schedules and sensors launch (xbot_assets/defs/automation.py). Each runs in one process, as the
# jobs above do. Runs that write the learn tables carry LEARN_RUN_TAG: deploy/dagster.yaml lets one such run at a
# time out of the run queue, so two learn runs never overlap.

LEARN_RUN_TAG = {"xbot/learn": "true"}

plan_job = dg.define_asset_job(
    "plan_job",
    selection=dg.AssetSelection.assets(dg.AssetKey(["act", "planned_posts"]), dg.AssetKey(["report", "operator_dashboard"])),
    description="Plan the rest of today's posts of every enabled account from what was learned (act/planned_posts), "
                "then rebuild the operator's dashboard.",
    executor_def=dg.in_process_executor,
)

optimize_job = dg.define_asset_job(
    "optimize_job",
    selection=dg.AssetSelection.assets(
        dg.AssetKey(["learn", "generator_weights"]), dg.AssetKey(["learn", "generator_posterior"])
    ),
    description="One optimization cycle of the generator weights, then the generator posteriors, with their checks.",
    executor_def=dg.in_process_executor,
    tags=LEARN_RUN_TAG,
)

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets(
        dg.AssetKey(["learn", "engagement_model"]), dg.AssetKey(["learn", "follow_model"])
    ),
    description="Retrain the engagement and follow models (requested by the retrain sensor on enough new outcomes).",
    executor_def=dg.in_process_executor,
    tags=LEARN_RUN_TAG,
)
