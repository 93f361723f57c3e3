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

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "raw_tables", RAW_TABLES),
)
