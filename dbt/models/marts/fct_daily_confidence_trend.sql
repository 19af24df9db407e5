-- Agreement per scoring day (UTC), pair of sources and field.
select
    cast({{ utc_date('scored_at') }} as {{ dbt.type_string() }}) || '|' || pair_name || '|' || field
        as trend_id,
    {{ utc_date('scored_at') }} as score_date,
    pair_name,
    field,
    count(*) as n_scores,
    count(distinct video_id) as n_videos,
    avg(lexical) as mean_lexical,
    avg(semantic) as mean_semantic,
    {{ median('semantic') }} as median_semantic,
    avg(case when is_high_semantic then 1.0 else 0.0 end) as share_high_semantic
from {{ ref('fct_node_agreement') }}
group by {{ utc_date('scored_at') }}, pair_name, field
