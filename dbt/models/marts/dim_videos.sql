-- One row per video in the ledger, with the shape of its trees, its temporal agreement and
-- the zero-shot category of its category lens.
with videos as (
    select * from {{ ref('stg_actionlens__videos') }}
),

nodes as (
    select
        video_id,
        count(*) as n_nodes,
        sum(case when tier = 'leaf' then 1 else 0 end) as n_leaves,
        max(node_level) as max_level,
        count(distinct segmenter) as n_segmentations,
        max(case when tier = 'root' then duration_seconds end) as tree_duration_seconds,
        max(case when annotation_sources like '%{{ var("reference_source") }}%' then 1 else 0 end)
            as has_reference_int
    from {{ ref('int_nodes_tiered') }}
    group by video_id
),

lenses as (
    select
        video_id,
        sum(case when lens_status = 'ok' then 1 else 0 end) as n_lenses_ok
    from {{ ref('stg_actionlens__video_lenses') }}
    group by video_id
),

-- Only the category lens carries a category; after a change of that setting the newest wins.
categories as (
    select
        video_id,
        lens as zero_shot_category_lens,
        zero_shot_category,
        zero_shot_category_score,
        row_number() over (partition by video_id order by updated_at desc, lens) as newest
    from {{ ref('stg_actionlens__video_lenses') }}
    where lens_status = 'ok' and zero_shot_category is not null
),

temporal as (
    select video_id, avg(boundary_f1) as boundary_f1, avg(mean_best_iou) as mean_best_iou
    from {{ ref('stg_actionlens__temporal_scores') }}
    group by video_id
)

select
    videos.video_id,
    videos.title,
    videos.category_1,
    videos.category_2,
    videos.task_name,
    videos.upload_date,
    videos.ledger_state,
    videos.clip_uri,
    coalesce(videos.clip_duration_seconds, nodes.tree_duration_seconds, videos.metadata_duration_seconds)
        as duration_seconds,
    coalesce(nodes.n_nodes, 0) as n_nodes,
    coalesce(nodes.n_leaves, 0) as n_leaves,
    nodes.max_level,
    coalesce(nodes.n_segmentations, 0) as n_segmentations,
    coalesce(nodes.has_reference_int, 0) = 1 as has_reference,
    temporal.boundary_f1,
    temporal.mean_best_iou,
    coalesce(lenses.n_lenses_ok, 0) as n_lenses_ok,
    categories.zero_shot_category,
    categories.zero_shot_category_score,
    categories.zero_shot_category_lens
from videos
left join nodes on nodes.video_id = videos.video_id
left join temporal on temporal.video_id = videos.video_id
left join lenses on lenses.video_id = videos.video_id
left join categories on categories.video_id = videos.video_id and categories.newest = 1
