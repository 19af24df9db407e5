select
    video_id || '|' || segmenter_a || '|' || segmenter_b as temporal_score_id,
    video_id,
    segmenter_a,
    segmenter_b,
    cast(tolerance_seconds as {{ dbt.type_float() }}) as tolerance_seconds,
    cast(segments_a as integer) as segments_a,
    cast(segments_b as integer) as segments_b,
    cast(boundary_precision as {{ dbt.type_float() }}) as boundary_precision,
    cast(boundary_recall as {{ dbt.type_float() }}) as boundary_recall,
    cast(boundary_f1 as {{ dbt.type_float() }}) as boundary_f1,
    cast(mean_best_iou as {{ dbt.type_float() }}) as mean_best_iou,
    scorer_version,
    scored_at
from {{ source('actionlens', 'raw_temporal_scores') }}
-- Current trees only: a superseded tree's rows stay in the raw table for audit (null:
-- loaded before the flag existed, counted until the next load sets it).
where coalesce(is_current, true)
