-- One row per decision, typed; posted_hour is read in var account_timezone.
select
    cast(decision_id as varchar) as decision_id,
    cast(account_id as varchar) as account_id,
    cast(status as varchar) as status,
    cast(decision_type as varchar) as decision_type,
    content,
    thread_parts,
    (
        decision_type = 'thread'
        or (thread_parts is not null and trim(thread_parts) not in ('', '[]', 'null'))
    ) as is_thread,
    cast(content_type as varchar) as content_type,
    cast(generator_name as varchar) as generator_name,
    cast(topic as varchar) as topic,
    cast(quality_score as double precision) as quality_score,
    cast(novelty_score as double precision) as novelty_score,
    cast(expertise_score as double precision) as expertise_score,
    cast(viral_score as double precision) as viral_score,
    cast(predicted_er as double precision) as predicted_er,
    cast(predicted_follow_prob as double precision) as predicted_follow_prob,
    cast(content_propensity as double precision) as content_propensity,
    cast(timing_propensity as double precision) as timing_propensity,
    cast(generator_propensity as double precision) as generator_propensity,
    cast(hook as varchar) as hook,
    cast(hook_propensity as double precision) as hook_propensity,
    cast(topic_arm as varchar) as topic_arm,
    cast(topic_source as varchar) as topic_source,
    cast(topic_propensity as double precision) as topic_propensity,
    cast(scheduled_at as timestamp) as scheduled_at,
    cast(posted_at as timestamp) as posted_at,
    {{ xbot_local_hour('posted_at') }} as posted_hour,
    cast(tweet_id as varchar) as tweet_id,
    skip_reason,
    decision_reasons,
    cast(source as varchar) as source,
    cast(created_at as timestamp) as created_at,
    cast(loaded_at as timestamp) as loaded_at
from {{ source('raw', 'posts') }}
