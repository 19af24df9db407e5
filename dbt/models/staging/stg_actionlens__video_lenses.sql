select
    video_id || '|' || lens as video_lens_id,
    video_id,
    lens,
    backend as lens_backend,
    model_id as lens_model_id,
    baseline as is_baseline,
    lens_version,
    status as lens_status,
    cast(dim as integer) as dim,
    category as zero_shot_category,
    cast(category_score as {{ dbt.type_float() }}) as zero_shot_category_score,
    updated_at
from {{ source('actionlens', 'raw_video_lenses') }}
