-- Each node's tier in its tree: root (no parent), leaf (no children) or mid.
with nodes as (
    select * from {{ ref('stg_actionlens__nodes') }}
),

children as (
    select parent_id, count(*) as n_children
    from nodes
    where parent_id is not null
    group by parent_id
)

select
    nodes.*,
    coalesce(children.n_children, 0) as n_children,
    case
        when nodes.parent_id is null then 'root'
        when children.n_children is null then 'leaf'
        else 'mid'
    end as tier
from nodes
left join children on children.parent_id = nodes.node_id
