-- Node scores with the node's tier, the threshold flags and, for pairs of the reference
-- with an opinion source, which opinion it is.
{%- set reference = var('reference_source') %}
{%- set opinions = var('opinion_sources') %}

with scores as (
    select * from {{ ref('stg_actionlens__node_scores') }}
),

nodes as (
    select node_id, tier from {{ ref('int_nodes_tiered') }}
)

select
    scores.*,
    nodes.tier,
    case
        when scores.source_a = '{{ reference }}'
            and scores.source_b in ('{{ opinions | join("', '") }}') then scores.source_b
        when scores.source_b = '{{ reference }}'
            and scores.source_a in ('{{ opinions | join("', '") }}') then scores.source_a
    end as opinion_source,
    scores.lexical >= {{ var('high_lexical') }} as is_high_lexical,
    scores.semantic >= {{ var('high_semantic') }} as is_high_semantic,
    scores.lexical < {{ var('low_lexical') }} as is_low_lexical,
    scores.semantic < {{ var('low_semantic') }} as is_low_semantic,
    {{ agreement_level('scores.lexical', 'scores.semantic') }} as agreement_level
from scores
left join nodes on nodes.node_id = scores.node_id
