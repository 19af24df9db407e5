"""The raw tables: names, columns and portable SQL types (DuckDB and Postgres).

`load-warehouse` fills the tables of LOADED_TABLES from MongoDB, per video;
`load-neighbours` replaces `raw_video_neighbours` whole; `publish-fiftyone` fills
`raw_fiftyone_samples` (which FiftyOne sample shows a video, for the dashboard's
links into the App). Each writer replaces only its own tables' rows of a video.
"""

from __future__ import annotations

TEXT, INT, FLOAT, TS = "varchar", "bigint", "double precision", "timestamp with time zone"
BOOL = "boolean"

TABLES: dict[str, dict[str, str]] = {
    "raw_videos": {
        "video_id": TEXT,
        "title": TEXT,
        "description": TEXT,
        "duration_seconds": FLOAT,
        "upload_date": TEXT,
        "view_count": INT,
        "like_count": INT,
        "category_1": TEXT,
        "category_2": TEXT,
        "task_id": TEXT,
        "task_name": TEXT,
        "state": TEXT,
        "clip_uri": TEXT,
        "clip_duration_seconds": FLOAT,
        "fps": FLOAT,
        "created_at": TS,
        "updated_at": TS,
        "loaded_at": TS,
    },
    "raw_nodes": {
        "node_id": TEXT,
        "video_id": TEXT,
        "segmenter": TEXT,
        "parent_id": TEXT,
        "level": INT,
        "start_seconds": FLOAT,
        "end_seconds": FLOAT,
        "annotation_sources": TEXT,
        "caption_sources": TEXT,
        "loaded_at": TS,
        "is_current": BOOL,  # false: a superseded tree, kept for audit, never counted
    },
    "raw_node_scores": {
        "video_id": TEXT,
        "node_id": TEXT,
        "segmenter": TEXT,
        "level": INT,
        "field": TEXT,
        "source_a": TEXT,
        "source_b": TEXT,
        "lexical": FLOAT,
        "semantic": FLOAT,
        "language_a": TEXT,
        "language_b": TEXT,
        "script_a": TEXT,
        "script_b": TEXT,
        "model_covers_pair": BOOL,
        "language_detector": TEXT,
        "scorer_version": TEXT,
        "scored_at": TS,
        "loaded_at": TS,
        "is_current": BOOL,
    },
    "raw_temporal_scores": {
        "video_id": TEXT,
        "segmenter_a": TEXT,
        "segmenter_b": TEXT,
        "tolerance_seconds": FLOAT,
        "segments_a": INT,
        "segments_b": INT,
        "boundary_precision": FLOAT,
        "boundary_recall": FLOAT,
        "boundary_f1": FLOAT,
        "mean_best_iou": FLOAT,
        "scorer_version": TEXT,
        "scored_at": TS,
        "loaded_at": TS,
        "is_current": BOOL,
    },
    # The lens facts of a video (its vectors stay in MongoDB): model, status and the
    # zero-shot category on the category lens.
    "raw_video_lenses": {
        "video_id": TEXT,
        "lens": TEXT,
        "backend": TEXT,
        "model_id": TEXT,
        "baseline": BOOL,
        "lens_version": TEXT,
        "status": TEXT,
        "dim": INT,
        "category": TEXT,
        "category_score": FLOAT,
        "updated_at": TS,
        "loaded_at": TS,
    },
    # Corpus-wide (every list changes when videos arrive): replaced whole by
    # `load-neighbours`, not per video.
    "raw_video_neighbours": {
        "video_id": TEXT,
        "lens": TEXT,
        "model_id": TEXT,
        "k": INT,
        "neighbour_rank": INT,
        "neighbour_video_id": TEXT,
        "score": FLOAT,
        "updated_at": TS,
        "loaded_at": TS,
    },
    "raw_fiftyone_samples": {
        "video_id": TEXT,
        "dataset": TEXT,
        "sample_id": TEXT,
        "published_at": TS,
    },
}
LOADED_TABLES = (
    "raw_videos",
    "raw_nodes",
    "raw_node_scores",
    "raw_temporal_scores",
    "raw_video_lenses",
)
FIFTYONE_SAMPLES = "raw_fiftyone_samples"
NEIGHBOUR_TABLE = "raw_video_neighbours"


# Columns added after a table was first created: a warehouse made before gets them too.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "raw_nodes": ("is_current",),
    "raw_node_scores": (
        "language_a",
        "language_b",
        "script_a",
        "script_b",
        "model_covers_pair",
        "language_detector",
        "is_current",
    ),
    "raw_temporal_scores": ("is_current",),
}


def create_statements(schema: str) -> list[str]:
    out = [f'create schema if not exists "{schema}"']
    for name, columns in TABLES.items():
        cols = ", ".join(f'"{c}" {t}' for c, t in columns.items())
        out.append(f'create table if not exists "{schema}"."{name}" ({cols})')
        for col in ADDED_COLUMNS.get(name, ()):
            out.append(
                f'alter table "{schema}"."{name}" add column if not exists "{col}" {columns[col]}'
            )
    return out
