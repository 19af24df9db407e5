-- One row per video with opinions: each opinion source's agreement with the reference,
-- the overall confidence, and the workshop tags generalised to var('opinion_sources'):
--   <s>_agrees           s is semantically high (≥ high_semantic)
--   triple_agreement     ≥ 2 opinions present and all agree
--   triple_disagreement  ≥ 2 opinions present and all are semantically low (< low_semantic)
--   <s>_only             ≥ 2 opinions present, s agrees and no other does
--   paraphrase           every present opinion is lexically low (< low_lexical) and
--                        semantically high
{%- set opinions = var('opinion_sources') %}

with opinions as (
    select * from {{ ref('int_video_opinions_aggregated') }}
),

wide as (
    select
        video_id,
        {%- for s in opinions %}
        max(case when opinion_source = '{{ s }}' then mean_semantic end) as {{ s }}_semantic,
        max(case when opinion_source = '{{ s }}' then mean_lexical end) as {{ s }}_lexical,
        {%- endfor %}
        count(*) as n_opinion_sources,
        sum(n_scores) as n_scores,
        max(n_nodes) as n_nodes_scored,
        avg(mean_semantic) as confidence_semantic,
        avg(mean_lexical) as confidence_lexical,
        max(last_scored_at) as last_scored_at
    from opinions
    group by video_id
),

flags as (
    select
        wide.*,
        {%- for s in opinions %}
        coalesce({{ s }}_semantic >= {{ var('high_semantic') }}, false) as {{ s }}_agrees,
        coalesce({{ s }}_semantic < {{ var('low_semantic') }}, false) as {{ s }}_disagrees,
        coalesce(
            {{ s }}_lexical < {{ var('low_lexical') }} and {{ s }}_semantic >= {{ var('high_semantic') }},
            false
        ) as {{ s }}_paraphrases{{ "," if not loop.last }}
        {%- endfor %}
    from wide
),

tagged as (
    select
        flags.*,
        n_opinion_sources >= 2
        {%- for s in opinions %} and ({{ s }}_semantic is null or {{ s }}_agrees){% endfor %}
            as is_triple_agreement,
        n_opinion_sources >= 2
        {%- for s in opinions %} and ({{ s }}_semantic is null or {{ s }}_disagrees){% endfor %}
            as is_triple_disagreement,
        n_opinion_sources >= 1
        {%- for s in opinions %} and ({{ s }}_semantic is null or {{ s }}_paraphrases){% endfor %}
            as is_paraphrase,
        {%- for s in opinions %}
        n_opinion_sources >= 2 and {{ s }}_agrees
        {%- for o in opinions if o != s %} and not {{ o }}_agrees{% endfor %}
            as is_{{ s }}_only{{ "," if not loop.last }}
        {%- endfor %}
    from flags
)

select
    tagged.*,
    videos.title,
    videos.duration_seconds,
    concat_ws(
        ',',
        case when is_triple_agreement then 'triple_agreement' end,
        case when is_triple_disagreement then 'triple_disagreement' end,
        case when is_paraphrase then 'paraphrase' end,
        {%- for s in opinions %}
        case when {{ s }}_agrees then '{{ s }}_agrees' end,
        case when is_{{ s }}_only then '{{ s }}_only' end{{ "," if not loop.last }}
        {%- endfor %}
    ) as tags
from tagged
left join {{ ref('dim_videos') }} as videos on videos.video_id = tagged.video_id
