-- An extension of the workshop's rules, never a replacement for them (those are
-- fct_video_confidence): per node and field, at every tier, over every source in
-- var('opinion_sources') that answered it, with tags of their own names:
--   <s>_matches   s is semantically and lexically high (the workshop's <s>_agrees)
--   consensus     ≥ 2 opinions and every one semantically high
--   dissent       ≥ 2 opinions and every one semantically low
--   <s>_alone     ≥ 2 opinions, s semantically high and every other one low
--   reworded      ≥ 2 opinions, every one lexically low and semantically high
{%- set opinions = var('opinion_sources') %}
{%- set hl, hs = var('high_lexical'), var('high_semantic') %}
{%- set ll, ls = var('low_lexical'), var('low_semantic') %}

with scores as (
    select * from {{ ref('int_node_scores_classified') }}
    where opinion_source is not null
),

wide as (
    select
        node_id,
        field,
        max(video_id) as video_id,
        max(tier) as tier,
        max(node_level) as node_level,
        {%- for s in opinions %}
        avg(case when opinion_source = '{{ s }}' then lexical end) as {{ s }}_lexical,
        avg(case when opinion_source = '{{ s }}' then semantic end) as {{ s }}_semantic,
        {%- endfor %}
        count(distinct opinion_source) as n_opinion_sources,
        avg(semantic) as mean_semantic,
        avg(lexical) as mean_lexical,
        max(scored_at) as last_scored_at
    from scores
    group by node_id, field
),

flags as (
    select
        wide.*,
        {%- for s in opinions %}
        coalesce({{ s }}_semantic >= {{ hs }} and {{ s }}_lexical >= {{ hl }}, false) as is_{{ s }}_matches,
        coalesce({{ s }}_semantic >= {{ hs }}, false) as {{ s }}_high,
        coalesce({{ s }}_semantic < {{ ls }}, false) as {{ s }}_low,
        coalesce({{ s }}_lexical < {{ ll }} and {{ s }}_semantic >= {{ hs }}, false) as {{ s }}_reworded{{ "," if not loop.last }}
        {%- endfor %}
    from wide
),

tagged as (
    select
        flags.*,
        n_opinion_sources >= 2
        {%- for s in opinions %} and ({{ s }}_semantic is null or {{ s }}_high){% endfor %}
            as is_consensus,
        n_opinion_sources >= 2
        {%- for s in opinions %} and ({{ s }}_semantic is null or {{ s }}_low){% endfor %}
            as is_dissent,
        n_opinion_sources >= 2
        {%- for s in opinions %} and ({{ s }}_semantic is null or {{ s }}_reworded){% endfor %}
            as is_reworded,
        {%- for s in opinions %}
        n_opinion_sources >= 2 and {{ s }}_high
        {%- for o in opinions if o != s %} and ({{ o }}_semantic is null or {{ o }}_low){% endfor %}
            as is_{{ s }}_alone{{ "," if not loop.last }}
        {%- endfor %}
    from flags
)

select
    node_id || '|' || field as node_field_id,
    tagged.*,
    concat_ws(
        ',',
        {%- for s in opinions %}
        case when is_{{ s }}_matches then '{{ s }}_matches' end,
        {%- endfor %}
        case when is_consensus then 'consensus' end,
        case when is_dissent then 'dissent' end,
        {%- for s in opinions %}
        case when is_{{ s }}_alone then '{{ s }}_alone' end,
        {%- endfor %}
        case when is_reworded then 'reworded' end
    ) as node_tags
from tagged
