-- Outcomes that pass the learning gate, with the model features and targets.
-- follow_label: the post won at least var follow_min_followers (1) whole followers (followers_gained: the platform's
-- own number when it reports one, else the attributed one). Attribution spreads every gain over all live posts, so
-- "more than 0" would be true of nearly every post and teach nothing.
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
    age_hours,
    engagement_rate,
    followers_gained,
    followers_reported,
    followers_attributed,
    followers_gained >= {{ var('follow_min_followers') }} as follow_label
from {{ ref('outcomes') }}
where passes_learning_gate
