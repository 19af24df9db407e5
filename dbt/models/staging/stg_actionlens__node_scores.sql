select
    node_id || '|' || field || '|' || source_a || '|' || source_b as node_score_id,
    video_id,
    node_id,
    segmenter,
    cast(level as integer) as node_level,
    field,
    source_a,
    source_b,
    source_a || '__' || source_b as pair_name,
    cast(lexical as {{ dbt.type_float() }}) as lexical,
    cast(semantic as {{ dbt.type_float() }}) as semantic,
    language_a,
    language_b,
    script_a,
    script_b,
    -- null: scored before languages were detected (the next scoring run fills it)
    not model_covers_pair as is_language_uncovered,
    language_detector,
    scorer_version,
    scored_at,
    loaded_at
from {{ source('actionlens', 'raw_node_scores') }}
-- Current trees only: a superseded tree's rows stay in the raw table for audit (null:
-- loaded before the flag existed, counted until the next load sets it).
where coalesce(is_current, true)
