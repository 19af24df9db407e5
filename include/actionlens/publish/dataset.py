"""MongoDB nodes + warehouse confidence → a FiftyOne video dataset.

One video sample per video, with the public FiftyOne Action100M dataset's fields
(Voxel51/action100m_tiny_subset) so its users' notebooks work: `title`, `description`,
`full_video_url`, `upload_date` (datetime), `view_count`, `like_count`,
`full_video_duration`, `transcript`, `tree_depth`, `transcript_segments`, and one
`TemporalDetections` field per source and annotation field (`gpt_summary_brief`, …) with
`node_id`, `parent_id`, `level` and `tier` on each detection; "N/A" actions are left out
of the action fields, as there, except on the root.

The root is the exception because the notebook hoists each sample's root label with
`filter_labels(field, F("tier") == "root").values(...)`, which drops samples without one
and then `set_values` misaligns every later sample: so every sample has exactly one
root detection in each reference field, its "N/A" kept as written, and a video without
the reference's root text gets an unlabeled root detection (`label` None, `missing`
True), which the notebook reads as None.

What the workshop notebook's cells read, with the types they expect:
- the reference's `gpt_*` TemporalDetections (section 3 hoists their `tier == "root"`
  label);
- the opinion models' root answers as flat string fields, `qwen3vl_summary_brief` …
  `qwen3vl_action_actor` from `agreement.qwen_source` and `molmo_summary_brief` …
  `molmo_action_actor` from `agreement.molmo_source` (None where that model gave no
  answer); "N/A" answers are kept as written;
- the video's workshop tags (`fct_video_confidence`) as its sample tags.

Every opinion source's per-node answers are TemporalDetections named
`<source>_nodes_<field>` (`qwen3vl_nodes_summary_brief`, `molmo2_nodes_action_actor`, …)
so they never collide with the flat fields; other sources (`gpt`, `ours`) keep
`<source>_<field>`. Beyond it: caption sources (`plm_caption`, `plm_action`,
`llama3_caption`), the root's agreement per pair and field and the video's confidence.

Fiftyone must be imported after FIFTYONE_DATABASE_URI points at our mongod, and never in
a process that imported Airflow (their importlib_metadata uses clash): run it as the
`publish-fiftyone` command.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path

from actionlens.annotations import FIELDS, NA, field_text, normalise_na, usable
from actionlens.records import transcript_text
from actionlens.settings import Settings
from actionlens.store.mongo import SCORES

log = logging.getLogger(__name__)
DEFAULT_FPS = 30.0
# The notebook's names for the flat root answers of its two opinion models.
WORKSHOP_PREFIXES = {"qwen": "qwen3vl", "molmo": "molmo"}


def _fiftyone(settings: Settings):
    from actionlens.store.mongo import mongo_uri

    os.environ["FIFTYONE_DATABASE_URI"] = mongo_uri(settings)
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    import fiftyone as fo

    return fo


def tiers(nodes: Sequence[dict]) -> dict[str, str]:
    parents = {n.get("parent_id") for n in nodes}
    return {
        n["_id"]: "root"
        if n.get("parent_id") is None
        else ("mid" if n["_id"] in parents else "leaf")
        for n in nodes
    }


def annotation_field(source: str, field: str, opinion_sources: Collection[str] = ()) -> str:
    """The TemporalDetections field of a source's per-node answers (see the module doc)."""
    middle = "_nodes" if source in opinion_sources else ""
    return f"{field_prefix(source)}{middle}_{field}"


def workshop_fields() -> list[str]:
    """The flat string fields the notebook reads: qwen3vl_<field>, molmo_<field>."""
    return [f"{p}_{f}" for p in WORKSHOP_PREFIXES.values() for f in FIELDS]


def root_answers(nodes: Sequence[dict], source: str, reference: str) -> dict[str, str | None]:
    """A source's answer on the root node, field by field (None: no usable answer).

    The root compared with the reference is the one carrying the reference's annotation;
    a video segmented twice has one root per tree, so that one is preferred, then the
    first by segmenter.
    """
    roots = [
        n
        for n in nodes
        if n.get("parent_id") is None and usable((n.get("annotations") or {}).get(source))
    ]
    roots.sort(
        key=lambda n: (
            not usable((n.get("annotations") or {}).get(reference)),
            n.get("segmenter") or "",
        )
    )
    if not roots:
        return dict.fromkeys(FIELDS)
    ann = roots[0]["annotations"][source]
    out: dict[str, str | None] = {}
    for field, (group, key) in FIELDS.items():
        value = (ann.get(group) or {}).get(key)
        out[field] = None if value is None else str(value)
    return out


def workshop_values(nodes: Sequence[dict], settings: Settings) -> dict[str, str | None]:
    """The notebook's flat fields for one video: its two opinion models' root answers."""
    cfg = settings.agreement
    out: dict[str, str | None] = {}
    for role, source in (("qwen", cfg.qwen_source), ("molmo", cfg.molmo_source)):
        for field, value in root_answers(nodes, source, cfg.reference_source).items():
            out[f"{WORKSHOP_PREFIXES[role]}_{field}"] = value
    return out


def detection_fields(
    nodes: Sequence[dict], opinion_sources: Collection[str] = ()
) -> dict[str, list[dict]]:
    """field name → detections as plain dicts (label, start, end, node facts)."""
    tier = tiers(nodes)
    out: dict[str, list[dict]] = defaultdict(list)
    for n in sorted(nodes, key=lambda n: (n.get("level") or 0, n.get("start") or 0.0)):
        base = {
            "start": float(n.get("start") or 0.0),
            "end": float(n.get("end") or 0.0),
            "node_id": n["_id"],
            "parent_id": n.get("parent_id"),
            "level": int(n.get("level") or 0),
            "tier": tier[n["_id"]],
        }
        for source, ann in (n.get("annotations") or {}).items():
            if not usable(ann):
                continue
            for field in FIELDS:
                label = field_text(ann, field)
                if (
                    field.startswith("action_")
                    and normalise_na(label) == NA
                    and base["tier"] != "root"
                ):
                    continue  # intros, ads: no action (the public dataset leaves them out)
                out[annotation_field(source, field, opinion_sources)].append(
                    {**base, "label": label}
                )
        for source, entry in (n.get("captions") or {}).items():
            # Imported trees keep plain strings (plm, llama3); our captioners store
            # {"video": {"text"}, "frame": {"text"}} with their prompt version and usage.
            if isinstance(entry, dict):
                for kind, name in (("video", "caption"), ("frame", "frame_caption")):
                    text = (entry.get(kind) or {}).get("text")
                    if text:
                        out[f"{field_prefix(source)}_{name}"].append({**base, "label": str(text)})
            elif entry:
                out[f"{field_prefix(source)}_caption"].append({**base, "label": str(entry)})
        for source, text in (n.get("actions") or {}).items():
            if text:
                out[f"{field_prefix(source)}_action"].append({**base, "label": str(text)})
    return dict(out)


def ensure_reference_roots(
    fields: dict[str, list[dict]], reference: str, duration: float
) -> dict[str, list[dict]]:
    """One root detection per reference field on every sample (see the module doc)."""
    for field in FIELDS:
        name = annotation_field(reference, field)
        dets = fields.setdefault(name, [])
        if not any(d.get("tier") == "root" for d in dets):
            dets.insert(
                0,
                {
                    "label": None,
                    "start": 0.0,
                    "end": duration,
                    "level": 0,
                    "tier": "root",
                    "missing": True,
                },
            )
    return fields


def _number(value: object, kind: type):
    """One type per field across samples (FiftyOne refuses a float after an int)."""
    return None if value is None else kind(value)


def upload_datetime(value: object) -> datetime | None:
    """YouTube's YYYYMMDD upload date as a datetime (the public dataset's type)."""
    try:
        return datetime.strptime(str(value), "%Y%m%d")
    except ValueError:
        return None


def transcript_detections(video: dict, duration: float) -> list[dict]:
    """ASR segments as detections; those starting after the clip's end are dropped."""
    segments = (video.get("transcript") or {}).get("segments") or []
    return [
        {"label": str(s["text"]), "start": float(s["start"]), "end": float(s["end"])}
        for s in segments
        if s.get("text") and float(s["start"]) < duration
    ]


def temporal_detections(fo, dets: list[dict], fps: float, last_frame: int):
    """Detections in seconds → a TemporalDetections in 1-based frames within the clip."""
    return fo.TemporalDetections(
        detections=[
            fo.TemporalDetection(
                label=d["label"],
                support=[
                    min(last_frame, int(d["start"] * fps) + 1),
                    max(1, min(last_frame, int(round(d["end"] * fps)))),
                ],
                **{k: d[k] for k in ("node_id", "parent_id", "level", "tier", "missing") if k in d},
            )
            for d in dets
        ]
    )


def field_prefix(source: str) -> str:
    """A source name (a model id for captioners) as a FiftyOne field-name prefix."""
    return re.sub(r"[^0-9A-Za-z]+", "_", source).strip("_").lower() or "source"


def publish(settings: Settings, video_ids: Sequence[str] | None = None) -> dict:
    """Replace the videos' samples in the dataset; returns counts."""
    from actionlens.store.mongo import NODES, VIDEOS, connect
    from actionlens.tree import CURRENT
    from actionlens.warehouse import video_confidence

    db = connect(settings)
    if video_ids is None:
        video_ids = sorted(db[NODES].distinct("video_id"))
    ids = list(video_ids)
    fo = _fiftyone(settings)
    from fiftyone import ViewField as F

    name = settings.fiftyone.dataset
    dataset = fo.load_dataset(name) if fo.dataset_exists(name) else fo.Dataset(name)
    dataset.persistent = True
    declare_workshop_fields(fo, dataset)
    opinion_sources = set(settings.agreement.opinion_sources) | {
        s.source for s in settings.opinions.sources
    }
    confidence = video_confidence(settings, ids)
    nodes_by_video: dict[str, list[dict]] = defaultdict(list)
    for n in db[NODES].find({"video_id": {"$in": ids}, **CURRENT}):  # superseded trees: audit
        nodes_by_video[n["video_id"]].append(n)
    root_scores: dict[str, dict[str, float]] = defaultdict(dict)
    roots = {n["_id"] for ns in nodes_by_video.values() for n in ns if n.get("parent_id") is None}
    for s in db[SCORES].find({"node_id": {"$in": sorted(roots)}}):
        key = f"agreement_{s['source_a']}_{s['source_b']}_{s['field']}"
        root_scores[s["video_id"]][f"{key}_lexical"] = s["lexical"]
        root_scores[s["video_id"]][f"{key}_semantic"] = s["semantic"]

    samples = []
    for video in db[VIDEOS].find({"_id": {"$in": ids}}):
        vid = video["_id"]
        clip = video.get("clip") or {}
        meta = video.get("metadata") or {}
        fps = float(clip.get("fps") or DEFAULT_FPS)
        nodes = nodes_by_video.get(vid, [])
        duration = float(
            clip.get("duration")
            or max((n.get("end") or 0.0 for n in nodes), default=0.0)
            or meta.get("duration")
            or 0.0
        )
        filepath = clip.get("uri") or str(Path(settings.bucket_uri()) / "clips" / f"{vid}.mp4")
        conf = confidence.get(vid, {})
        sample = fo.Sample(
            filepath=filepath,
            video_id=vid,
            title=meta.get("title"),
            description=meta.get("description"),
            full_video_url=settings.acquire.url_template.format(video_id=vid),
            upload_date=upload_datetime(meta.get("upload_date")),
            view_count=_number(meta.get("view_count"), int),
            like_count=_number(meta.get("like_count"), int),
            full_video_duration=_number(meta.get("duration"), float),
            transcript=transcript_text(video),
            tree_depth=max((int(n.get("level") or 0) for n in nodes), default=None),
            category_1=(video.get("source") or {}).get("category_1"),
            category_2=(video.get("source") or {}).get("category_2"),
            task_name=video.get("task_name"),
            confidence_semantic=conf.get("confidence_semantic"),
            confidence_lexical=conf.get("confidence_lexical"),
            tags=list(conf.get("tags", [])),
        )
        sample.metadata = fo.VideoMetadata(
            duration=duration, frame_rate=fps, total_frame_count=int(round(duration * fps))
        )
        last_frame = max(1, int(round(duration * fps)))

        fields = ensure_reference_roots(
            detection_fields(nodes, opinion_sources), settings.agreement.reference_source, duration
        )
        for field, dets in fields.items():
            sample[field] = temporal_detections(fo, dets, fps, last_frame)
        for field, value in workshop_values(nodes, settings).items():
            sample[field] = value
        sample["transcript_segments"] = temporal_detections(
            fo, transcript_detections(video, duration), fps, last_frame
        )
        for key, value in root_scores.get(vid, {}).items():
            sample[key] = value
        samples.append(sample)

    existing = dataset.match(F("video_id").is_in(ids))
    removed = len(existing)
    if removed:
        dataset.delete_samples(existing)
    if samples:
        dataset.add_samples(samples, progress=False)
    log.info("published %d videos to FiftyOne dataset %s", len(samples), name)
    published = dataset.match(F("video_id").is_in(ids))
    links = record_samples(
        settings,
        name,
        ids,
        dict(zip(published.values("video_id"), published.values("id"), strict=True)),
    )
    return {
        "dataset": name,
        "samples": len(samples),
        "replaced": removed,
        "total_samples": len(dataset),
        "links_recorded": links,
        "app_url": settings.fiftyone.app_url,
    }


def declare_workshop_fields(fo, dataset) -> None:
    """The notebook's flat fields exist as strings even where no video has a value.

    A dataset published before they were strings (they were opinion TemporalDetections)
    has those fields replaced: their per-node answers live under `<source>_nodes_*` now.
    """
    schema = dataset.get_field_schema()
    for name in workshop_fields():
        if name in schema and not isinstance(schema[name], fo.StringField):
            log.info(
                "%s: replacing field %s (%s) by a string field",
                dataset.name,
                name,
                type(schema[name]).__name__,
            )
            dataset.delete_sample_field(name)
            schema.pop(name)
        if name not in schema:
            dataset.add_sample_field(name, fo.StringField)


def record_samples(
    settings: Settings, dataset: str, video_ids: Sequence[str], sample_ids: dict[str, str]
) -> int | None:
    """Which sample shows each video, in the warehouse (the dashboard links to it).

    The videos' rows are replaced in one transaction, so a video that left the dataset
    loses its link. None when the warehouse has no loader here (BigQuery).
    """
    from datetime import UTC, datetime

    from actionlens.warehouse import FIFTYONE_SAMPLES, open_warehouse

    if settings.warehouse not in ("duckdb", "postgres"):
        log.warning("warehouse %s: FiftyOne sample links not recorded", settings.warehouse)
        return None
    now = datetime.now(UTC)
    rows = [(vid, dataset, sample_ids[vid], now) for vid in video_ids if vid in sample_ids]
    warehouse = open_warehouse(settings)
    try:
        warehouse.ensure_tables()
        warehouse.replace(video_ids, {FIFTYONE_SAMPLES: rows}, tables=[FIFTYONE_SAMPLES])
    finally:
        warehouse.close()
    return len(rows)
