-- Each video's nearest videos per lens, with both titles and whether their zero-shot
-- categories agree: "what else looks like this", per way of looking.
with neighbours as (
    select * from {{ ref('stg_actionlens__video_neighbours') }}
),

videos as (
    select video_id, title, zero_shot_category from {{ ref('dim_videos') }}
)

select
    neighbours.video_neighbour_id,
    neighbours.video_id,
    videos.title,
    neighbours.lens,
    neighbours.lens_model_id,
    neighbours.neighbour_rank,
    neighbours.neighbour_video_id,
    neighbour.title as neighbour_title,
    neighbours.score,
    case
        when videos.zero_shot_category is null or neighbour.zero_shot_category is null then null
        else videos.zero_shot_category = neighbour.zero_shot_category
    end as same_category,
    neighbours.updated_at
from neighbours
left join videos on videos.video_id = neighbours.video_id
left join videos as neighbour on neighbour.video_id = neighbours.neighbour_video_id
