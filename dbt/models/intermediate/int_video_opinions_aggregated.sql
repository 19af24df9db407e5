-- One row per video and opinion source: its agreement with the reference, averaged
-- over every scored node and field (all tiers) and over the root alone.
select
    video_id,
    opinion_source,
    count(*) as n_scores,
    count(distinct node_id) as n_nodes,
    avg(lexical) as mean_lexical,
    avg(semantic) as mean_semantic,
    avg(case when tier = 'root' then lexical end) as root_mean_lexical,
    avg(case when tier = 'root' then semantic end) as root_mean_semantic,
    max(scored_at) as last_scored_at
from {{ ref('int_node_scores_classified') }}
where opinion_source is not null
group by video_id, opinion_source
