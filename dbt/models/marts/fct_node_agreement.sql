-- One row per node × field × pair of sources, at every tier.
-- depends_on: {{ ref('dim_videos') }}  (built first: its relationships test runs with this model)
select
    node_score_id,
    video_id,
    node_id,
    segmenter,
    node_level,
    tier,
    field,
    source_a,
    source_b,
    pair_name,
    opinion_source,
    lexical,
    semantic,
    is_high_lexical,
    is_high_semantic,
    is_low_lexical,
    is_low_semantic,
    agreement_level,
    scorer_version,
    scored_at
from {{ ref('int_node_scores_classified') }}
