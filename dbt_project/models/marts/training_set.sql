-- Outcomes that pass the learning gate, with the model features and targets.
select
    account_id,
    decision_id,
    posted_at,
    generator_name,
    decision_type,
    content_type,
    posted_hour,
    is_thread,
    quality_score,
    novelty_score,
    expertise_score,
    viral_score,
    impressions,
    engagement_rate,
    followers_gained,
    followers_gained > 0 as follow_label
from {{ ref('outcomes') }}
where passes_learning_gate
