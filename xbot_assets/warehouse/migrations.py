"""Versioned, idempotent migrations of the warehouse, in the SQL both DuckDB and PostgreSQL accept.

A migration is never edited once released: a change to a table is a new migration with the next version.
Timestamps are `timestamp` (without time zone) and always hold UTC.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    # The engines the statements run on; on the others the migration is recorded as applied with nothing to do.
    engines: tuple[str, ...] = ("duckdb", "postgres")


RAW_TABLES = (
    """
    create table if not exists raw.posts (
        decision_id varchar primary key,
        account_id varchar not null default 'main',
        status varchar not null,
        decision_type varchar not null,
        content text,
        thread_parts text,
        content_type varchar,
        generator_name varchar,
        topic varchar,
        quality_score double precision,
        novelty_score double precision,
        expertise_score double precision,
        viral_score double precision,
        predicted_er double precision,
        predicted_follow_prob double precision,
        content_propensity double precision,
        timing_propensity double precision,
        generator_propensity double precision,
        scheduled_at timestamp,
        posted_at timestamp,
        tweet_id varchar,
        skip_reason text,
        source varchar not null default 'real',
        created_at timestamp not null,
        loaded_at timestamp not null
    )
    """,
    """
    create table if not exists raw.metric_snapshots (
        account_id varchar not null default 'main',
        decision_id varchar not null,
        tweet_id varchar,
        collected_at timestamp not null,
        impressions bigint,
        likes bigint not null,
        retweets bigint not null,
        replies bigint not null,
        quotes bigint,
        bookmarks bigint,
        profile_clicks bigint,
        url_clicks bigint,
        source varchar not null default 'real',
        loaded_at timestamp not null,
        primary key (decision_id, collected_at)
    )
    """,
    """
    create table if not exists raw.follower_snapshots (
        account_id varchar not null default 'main',
        collected_at timestamp not null,
        followers bigint not null,
        source varchar not null default 'real',
        loaded_at timestamp not null,
        primary key (account_id, collected_at)
    )
    """,
    """
    create table if not exists raw.viral_examples (
        example_id varchar primary key,
        account_id varchar not null default 'main',
        author_handle varchar,
        content text not null,
        impressions bigint,
        likes bigint,
        retweets bigint,
        replies bigint,
        topic varchar,
        collected_at timestamp not null,
        source varchar not null default 'real',
        loaded_at timestamp not null
    )
    """,
    """
    create table if not exists raw.quarantine (
        quarantine_id varchar primary key,
        account_id varchar not null default 'main',
        target_table varchar not null,
        payload text not null,
        reason text not null,
        source_name varchar,
        received_at timestamp not null
    )
    """,
)

# The learned tables (schema `learn`): written by the learn group's assets and the operator controls
# (xbot_assets/learned/), read by planning. Identifiers are text (no engine-specific sequences), JSON is text;
# optimization_events.sequence orders one account's events (max + 1 under the account's lock), whatever the clock says.
LEARNED_TABLES = (
    "create schema if not exists learn",
    """
    create table if not exists learn.bandit_arms (
        account_id varchar not null,
        arm_name varchar not null,
        scope varchar not null,
        arm_value varchar not null,
        plays bigint not null,
        successes double precision not null,
        failures double precision not null,
        alpha double precision not null,
        beta double precision not null,
        mean_reward double precision,
        total_reward double precision not null,
        posterior_mean double precision,
        ucb_index double precision,
        selection_probability double precision not null,
        half_life_days double precision,
        last_posted_at timestamp,
        updated_at timestamp not null,
        primary key (account_id, arm_name)
    )
    """,
    """
    create table if not exists learn.model_registry (
        account_id varchar not null,
        model_name varchar not null,
        version bigint not null,
        model_type varchar not null,
        target varchar not null,
        model_json text not null,
        feature_names text not null,
        metrics text not null,
        primary_metric varchar not null,
        primary_value double precision,
        baseline_value double precision,
        beats_baseline boolean,
        n_samples bigint not null,
        n_train bigint not null,
        n_holdout bigint not null,
        window_start timestamp,
        window_end timestamp,
        data_fingerprint varchar not null,
        created_at timestamp not null,
        primary key (account_id, model_name, version)
    )
    """,
    """
    create table if not exists learn.generator_weights (
        account_id varchar not null,
        generator_name varchar not null,
        weight double precision not null,
        status varchar not null,
        posts bigint not null,
        impressions bigint not null,
        followers_gained double precision not null,
        f_per_1k double precision,
        tier varchar not null,
        notes text,
        updated_at timestamp not null,
        primary key (account_id, generator_name)
    )
    """,
    """
    create table if not exists learn.generator_performance_history (
        account_id varchar not null,
        event_id varchar not null,
        generator_name varchar not null,
        period_start timestamp,
        period_end timestamp,
        posts bigint not null,
        impressions bigint not null,
        followers_gained double precision not null,
        f_per_1k double precision,
        tier varchar not null,
        status varchar not null,
        weight_before double precision,
        weight_after double precision not null,
        created_at timestamp not null,
        primary key (event_id, generator_name)
    )
    """,
    """
    create table if not exists learn.optimization_events (
        event_id varchar primary key,
        account_id varchar not null,
        sequence bigint not null,
        event_type varchar not null,
        created_at timestamp not null,
        created_by varchar not null,
        posts_analysed bigint,
        period_days bigint,
        generators_updated bigint not null,
        changes text not null,
        top_performer varchar,
        top_performer_f_per_1k double precision,
        bottom_performer varchar,
        bottom_performer_f_per_1k double precision,
        duration_ms double precision,
        success boolean not null,
        error_message text,
        skipped_reason text,
        evidence_fingerprint varchar,
        state_fingerprint varchar
    )
    """,
    "create unique index if not exists optimization_events_account_sequence"
    " on learn.optimization_events (account_id, sequence)",
)

# Acting (issue 4): the accounts xbot acts for (connector and policy of each), why each candidate was posted or
# rejected, the planner/publisher locks when Redis is not configured, the generator posteriors of the
# posterior-sampling policy, and the simulated platform's own record of what was published to it (the simulator is a
# platform: it keeps its posts, as X does, apart from our warehouse).
ACTING_TABLES = (
    "alter table raw.posts add column if not exists decision_reasons text",
    "create schema if not exists act",
    """
    create table if not exists act.accounts (
        account_id varchar primary key,
        connector varchar not null,
        scenario varchar,
        sim_seed bigint,
        policy varchar not null,
        generator_policy varchar not null,
        posts_per_day bigint not null,
        enabled boolean not null,
        updated_at timestamp not null
    )
    """,
    """
    create table if not exists act.locks (
        lock_name varchar primary key,
        owner varchar not null,
        acquired_at timestamp not null,
        expires_at timestamp not null
    )
    """,
    """
    create table if not exists learn.generator_posteriors (
        account_id varchar not null,
        generator_name varchar not null,
        posts bigint not null,
        impressions double precision not null,
        followers_gained double precision not null,
        prior_shape double precision not null,
        prior_rate double precision not null,
        shape double precision not null,
        rate double precision not null,
        posterior_mean double precision not null,
        selection_probability double precision not null,
        half_life_days double precision,
        updated_at timestamp not null,
        primary key (account_id, generator_name)
    )
    """,
    "create schema if not exists sim",
    """
    create table if not exists sim.published (
        account_id varchar not null,
        post_index bigint not null,
        decision_id varchar not null,
        tweet_id varchar not null,
        posted_at timestamp not null,
        content_type varchar not null,
        generator_name varchar not null,
        quality_score double precision not null,
        is_thread boolean not null,
        primary key (account_id, post_index)
    )
    """,
)

# Automation (issue 5): the alerts the run-failure sensor records (xbot_assets/defs/automation.py). alert_id is
# derived from what is alerted on (e.g. `run_failure:<run_id>`), so recording the same failure twice adds no row.
ALERT_TABLES = (
    "create schema if not exists act",
    """
    create table if not exists act.alerts (
        alert_id varchar primary key,
        created_at timestamp not null,
        run_id varchar,
        job_name varchar,
        error text,
        severity varchar not null
    )
    """,
)

# The X connector (issue 10): accounts gain their handle, time zone, publishing switch (off = dry run), approval,
# credentials prefix and link policy; posts gain the 'publishing' state's start, a thread's ids and the publisher's
# note; metric snapshots gain per-post follows as the platform reports them; the cost ledger of API calls (with the
# raw JSON of every response), the reads already charged today, and the operator's approvals.
X_CONNECTOR_TABLES = (
    "alter table act.accounts add column if not exists handle varchar",
    "alter table act.accounts add column if not exists timezone varchar",
    "alter table act.accounts add column if not exists publish_enabled boolean default false",
    "alter table act.accounts add column if not exists approval_required boolean default false",
    "alter table act.accounts add column if not exists credentials_prefix varchar",
    "alter table act.accounts add column if not exists allow_urls boolean default false",
    "alter table raw.posts add column if not exists publishing_started_at timestamp",
    "alter table raw.posts add column if not exists thread_tweet_ids text",
    "alter table raw.posts add column if not exists publish_note text",
    "alter table raw.metric_snapshots add column if not exists follows bigint",
    """
    create table if not exists act.api_calls (
        call_id varchar primary key,
        account_id varchar not null,
        connector varchar not null,
        method varchar not null,
        endpoint varchar not null,
        status_code bigint,
        started_at timestamp not null,
        duration_ms double precision not null,
        price_kind varchar not null,
        resources bigint not null,
        cost_usd double precision not null,
        rate_limit text,
        response_json text,
        error text
    )
    """,
    """
    create table if not exists act.api_charges (
        account_id varchar not null,
        charge_day date not null,
        price_kind varchar not null,
        resource_id varchar not null,
        primary key (account_id, charge_day, price_kind, resource_id)
    )
    """,
    """
    create table if not exists act.approvals (
        decision_id varchar primary key,
        account_id varchar not null,
        decision varchar not null,
        reason text,
        decided_at timestamp not null,
        decided_by varchar not null
    )
    """,
)

# The language-model generator (issue 11): every call's model, persona and prompt version, tokens and cost.
LLM_TABLES = (
    """
    create table if not exists act.llm_calls (
        call_id varchar primary key,
        account_id varchar not null,
        model varchar not null,
        generator_name varchar not null,
        prompt_version varchar not null,
        started_at timestamp not null,
        duration_ms double precision not null,
        mode varchar not null,
        prompt_tokens bigint not null,
        completion_tokens bigint not null,
        cost_usd double precision not null,
        outcome varchar not null,
        error text
    )
    """,
)

# Account profiles (issue 11): the niche and voice an account writes in, one JSON document per account; and on
# every decision the version of the generator that wrote it and the model's name.
PROFILE_TABLES = (
    "alter table raw.posts add column if not exists generator_prompt_version varchar",
    "alter table raw.posts add column if not exists generator_model varchar",
    "alter table act.accounts add column if not exists generator varchar",
    """
    create table if not exists act.account_profiles (
        account_id varchar primary key,
        profile_json text not null,
        updated_at timestamp not null
    )
    """,
)

# History import (issue 12): whether a decision's content type was chosen by the planner or inferred from the text
# of a post imported from X's analytics export.
HISTORY_IMPORT_TABLES = (
    "alter table raw.posts add column if not exists content_type_source varchar",
)

# Bad input (issue 13): a quarantined row's source identity (a file's sha256, else the source's name), part of its
# key, so the same file under another name adds nothing and two files' identical rows are each kept.
QUARANTINE_SOURCE_TABLES = (
    "alter table raw.quarantine add column if not exists source_id varchar",
)

# Topic and hook arms (issue 17): every decision's hook type and the topic arm it was planned on (a profile topic),
# whether that topic came from the topic bandit or from the trending share, and both choices' propensities.
TOPIC_HOOK_TABLES = (
    "alter table raw.posts add column if not exists hook varchar",
    "alter table raw.posts add column if not exists hook_propensity double precision",
    "alter table raw.posts add column if not exists topic_arm varchar",
    "alter table raw.posts add column if not exists topic_source varchar",
    "alter table raw.posts add column if not exists topic_propensity double precision",
    # Formulas learned from the account's own winners; generator_name '*' ranks them over all generators' posts.
    """
    create table if not exists learn.formulas (
        account_id varchar not null,
        generator_name varchar not null,
        formula_id varchar not null,
        rank bigint not null,
        name varchar not null,
        structure varchar not null,
        hook varchar,
        length_class varchar not null,
        example text not null,
        example_decision_id varchar not null,
        posts bigint not null,
        winners bigint not null,
        mean_impressions double precision,
        engagement_rate double precision,
        f_per_1k double precision,
        confidence double precision not null,
        updated_at timestamp not null,
        primary key (account_id, generator_name, formula_id)
    )
    """,
    # The learned strategy in words: one JSON document per account (top topics, hours, hooks, formulas, generators).
    """
    create table if not exists learn.strategy (
        account_id varchar primary key,
        strategy_json text not null,
        posts_counted bigint not null,
        updated_at timestamp not null
    )
    """,
)

# Topic and hook effects in the simulator (issue 17): the simulated platform keeps each post's topic arm and hook
# type, so a replayed simulator applies the scenario's effects to the same posts.
SIM_TOPIC_HOOK_TABLES = (
    "alter table sim.published add column if not exists topic_arm varchar",
    "alter table sim.published add column if not exists hook varchar",
)

# Model labels (issue 17): a language model's hook type and structure of a post (XBOT_LABELLER=llm), read by
# learn/formulas instead of the rules; only the model's labels are stored (source 'model'), so a post the rules read
# is asked about again by a later run. raw.posts.hook stays the hook that was the decision.
POST_LABEL_TABLES = (
    """
    create table if not exists act.post_labels (
        decision_id varchar primary key,
        account_id varchar not null,
        hook varchar,
        structure varchar,
        source varchar not null,
        model varchar,
        prompt_version varchar,
        labelled_at timestamp not null
    )
    """,
)

# Topic arms on follows (issue 17): what an arm's alpha and beta are the posterior of — 'success' (Beta on the
# success rule) or 'f_per_1k' (Gamma shape and rate of followers per 1,000 impressions) — and the prior they started
# from, so the planner draws a topic never played from the same prior the learned ones had.
ARM_REWARD_TABLES = (
    "alter table learn.bandit_arms add column if not exists reward varchar",
    "alter table learn.bandit_arms add column if not exists prior_alpha double precision",
    "alter table learn.bandit_arms add column if not exists prior_beta double precision",
)

# The look-ups the incremental marts filter by (issue 15): rows loaded since the last build, and a post's snapshots by
# account and time. Without them every incremental filter reads the whole raw table on PostgreSQL, so the daily cycle
# grows with history. PostgreSQL only: DuckDB prunes such ranges by its zone maps, and its ART indexes slow every
# insert and update of the raw tables for no gain here.
RAW_LOOKUP_INDEXES = (
    "create index if not exists metric_snapshots_loaded_at on raw.metric_snapshots (loaded_at)",
    "create index if not exists metric_snapshots_account_collected on raw.metric_snapshots (account_id, collected_at)",
    "create index if not exists posts_loaded_at on raw.posts (loaded_at)",
    "create index if not exists follower_snapshots_loaded_at on raw.follower_snapshots (loaded_at)",
)

# A change point in the follow rate (issue 14): the generator posteriors forget the evidence before it.
CHANGE_POINT_COLUMNS = (
    "alter table learn.generator_posteriors add column if not exists forgotten_before timestamp",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "raw_tables", RAW_TABLES),
    Migration(2, "learned_tables", LEARNED_TABLES),
    Migration(3, "acting", ACTING_TABLES),
    Migration(4, "alerts", ALERT_TABLES),
    Migration(5, "x_connector", X_CONNECTOR_TABLES),
    Migration(6, "llm_generator", LLM_TABLES),
    Migration(7, "account_profiles", PROFILE_TABLES),
    Migration(8, "history_import", HISTORY_IMPORT_TABLES),
    Migration(9, "quarantine_source", QUARANTINE_SOURCE_TABLES),
    Migration(10, "topic_hook_arms", TOPIC_HOOK_TABLES),
    Migration(11, "sim_topic_hook", SIM_TOPIC_HOOK_TABLES),
    Migration(12, "post_labels", POST_LABEL_TABLES),
    Migration(13, "arm_reward", ARM_REWARD_TABLES),
    Migration(14, "raw_lookup_indexes", RAW_LOOKUP_INDEXES, engines=("postgres",)),
    Migration(15, "change_points", CHANGE_POINT_COLUMNS),
)
