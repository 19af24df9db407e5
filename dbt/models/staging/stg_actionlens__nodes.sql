select
    node_id,
    video_id,
    segmenter,
    parent_id,
    cast(level as integer) as node_level,
    cast(start_seconds as {{ dbt.type_float() }}) as start_seconds,
    cast(end_seconds as {{ dbt.type_float() }}) as end_seconds,
    cast(end_seconds - start_seconds as {{ dbt.type_float() }}) as duration_seconds,
    coalesce(annotation_sources, '') as annotation_sources,
    coalesce(caption_sources, '') as caption_sources,
    loaded_at
from {{ source('actionlens', 'raw_nodes') }}
-- Current trees only: a superseded tree's rows stay in the raw table for audit (null:
-- loaded before the flag existed, counted until the next load sets it).
where coalesce(is_current, true)
