-- The workshop's confidence map, exactly as its notebook computes it: per video, one
-- score pair per opinion model on the ROOT node's var('workshop_field') (the reference's
-- root text against the opinion's answer for the whole clip), and the notebook's seven
-- tags. var('qwen_source') plays the notebook's Qwen3-VL (q), var('molmo_source') its
-- Molmo2 (m); thresholds are the vars high_/low_ lexical/semantic.
--
-- A video missing one opinion gets none of the rules that need it (a null comparison is
-- false here); the notebook would score an empty string in its place instead.
-- The generalisation to every tier, field and opinion source is fct_node_confidence.
{%- set q = var('qwen_source') %}
{%- set m = var('molmo_source') %}
{%- set hl, hs = var('high_lexical'), var('high_semantic') %}
{%- set ll, ls = var('low_lexical'), var('low_semantic') %}

with root_scores as (
    select video_id, opinion_source, lexical, semantic, scored_at
    from {{ ref('int_node_scores_classified') }}
    where tier = 'root'
        and field = '{{ var("workshop_field") }}'
        and opinion_source in ('{{ q }}', '{{ m }}')
),

-- One root carries the reference per video; should two trees carry it, their mean.
wide as (
    select
        video_id,
        avg(case when opinion_source = '{{ q }}' then lexical end) as lex_q,
        avg(case when opinion_source = '{{ q }}' then semantic end) as sem_q,
        avg(case when opinion_source = '{{ m }}' then lexical end) as lex_m,
        avg(case when opinion_source = '{{ m }}' then semantic end) as sem_m,
        count(distinct opinion_source) as n_opinion_sources,
        count(*) as n_scores,
        avg(semantic) as confidence_semantic,
        avg(lexical) as confidence_lexical,
        max(scored_at) as last_scored_at
    from root_scores
    group by video_id
),

tagged as (
    select
        wide.*,
        coalesce(sem_q >= {{ hs }} and lex_q >= {{ hl }}, false) as is_qwen_agrees,
        coalesce(sem_m >= {{ hs }} and lex_m >= {{ hl }}, false) as is_molmo_agrees,
        coalesce(sem_q >= {{ hs }} and sem_m >= {{ hs }}, false) as is_triple_agreement,
        coalesce(sem_q < {{ ls }} and sem_m < {{ ls }}, false) as is_triple_disagreement,
        coalesce(sem_q >= {{ hs }} and sem_m < {{ ls }}, false) as is_qwen_only,
        coalesce(sem_m >= {{ hs }} and sem_q < {{ ls }}, false) as is_molmo_only,
        coalesce(
            lex_q < {{ ll }} and sem_q >= {{ hs }} and lex_m < {{ ll }} and sem_m >= {{ hs }},
            false
        ) as is_paraphrase
    from wide
)

select
    tagged.*,
    '{{ q }}' as qwen_source,
    '{{ m }}' as molmo_source,
    '{{ var("workshop_field") }}' as workshop_field,
    videos.title,
    videos.duration_seconds,
    -- In the notebook's TAGS order.
    concat_ws(
        ',',
        case when is_qwen_agrees then 'qwen_agrees' end,
        case when is_molmo_agrees then 'molmo_agrees' end,
        case when is_triple_agreement then 'triple_agreement' end,
        case when is_triple_disagreement then 'triple_disagreement' end,
        case when is_qwen_only then 'qwen_only' end,
        case when is_molmo_only then 'molmo_only' end,
        case when is_paraphrase then 'paraphrase' end
    ) as tags
from tagged
left join {{ ref('dim_videos') }} as videos on videos.video_id = tagged.video_id
