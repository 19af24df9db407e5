select
    video_id || '|' || lens || '|' || cast(neighbour_rank as {{ dbt.type_string() }}) as video_neighbour_id,
    video_id,
    lens,
    model_id as lens_model_id,
    cast(k as integer) as k,
    cast(neighbour_rank as integer) as neighbour_rank,
    neighbour_video_id,
    cast(score as {{ dbt.type_float() }}) as score,
    updated_at
from {{ source('actionlens', 'raw_video_neighbours') }}
