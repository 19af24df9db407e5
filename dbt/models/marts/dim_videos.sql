-- One row per video in the ledger, with the shape of its trees and its temporal agreement.
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
    temporal.mean_best_iou
from videos
left join nodes on nodes.video_id = videos.video_id
left join temporal on temporal.video_id = videos.video_id
