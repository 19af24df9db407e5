"""The workshop notebook's cells, run on a copy of our published dataset (a script: FiftyOne
cannot share a process with Airflow, which the test session imports).

Sources, ported as they read (only their model-loading cells are replaced by the
platform's stages, as the issue asks):
- harpreetsahota204/fiftyone_video_workshop `workshop.ipynb`: section 3's root-hoisting
  loop over GPT_FIELDS, section 4's two operator loops over COMPARISON_PAIRS and
  section 5's TAGS cell;
- harpreetsahota204/text_evaluation_metrics: what its two operators execute
  (`base.py` `_get_text_pairs` / `_save_scores`, `compute_normalized_similarity.py`,
  `compute_semantic_similarity.py`). The App's operator machinery is not installed here,
  so `sim_op` / `sem_op` run each operator's `execute` body on a context like the one
  `_handle_calling` builds (a view of the collection for the lexical operator, the
  dataset for the semantic one).

Usage: python workshop_notebook.py <sentence model> (settings from ACTIONLENS_*). Prints
one JSON line: per video, the tags the notebook gave on the copy, the tags published on
the original and the notebook's scores. The copy is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import sys

from actionlens.settings import get_settings
from actionlens.store.mongo import mongo_uri

settings = get_settings()
os.environ["FIFTYONE_DATABASE_URI"] = mongo_uri(settings)
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")

import fiftyone as fo  # noqa: E402
import Levenshtein  # noqa: E402

MODEL_NAME = sys.argv[1]
published = fo.load_dataset(settings.fiftyone.dataset)
# A copy whose tags are cleared first: the notebook's tags are its own.
dataset = published.clone(f"{published.name}-notebook")
dataset.untag_samples(dataset.distinct("tags"))


# ------------------------------------------------------ text_evaluation_metrics plugin


class _Params(dict):
    pass


class _Ctx:
    """What the operators read from their ExecutionContext."""

    def __init__(self, params: dict, view=None, dataset=None):
        self.params = _Params(params)
        self._view = view if view is not None else dataset.view()
        self.dataset = self._view._dataset

    def target_view(self):
        return self._view


def _get_text_pairs(ctx):
    pred_field = ctx.params.get("pred_field")
    gt_field = ctx.params.get("gt_field")
    target_view = ctx.target_view()

    gt_strings = [v if v is not None else "" for v in target_view.values(gt_field)]
    pred_strings = [v if v is not None else "" for v in target_view.values(pred_field)]

    return gt_strings, pred_strings, target_view


def _safe_mean(values):
    valid = [v for v in values if v is not None]
    return sum(valid) / len(valid) if valid else None


def _save_scores(ctx, target_view, output_field, scores):
    ctx.dataset.add_sample_field(output_field, fo.FloatField)
    target_view.set_values(output_field, scores)
    ctx.dataset.save()

    return _safe_mean(scores)


def _normalized_levenshtein_similarity(s1, s2, case_sensitive=False):
    if len(s1) == 0 and len(s2) == 0:
        return 1.0
    if len(s1) == 0 or len(s2) == 0:
        return 0.0

    str1 = s1 if case_sensitive else s1.lower()
    str2 = s2 if case_sensitive else s2.lower()

    distance = Levenshtein.distance(str1, str2)
    max_len = max(len(str1), len(str2))
    similarity = 1.0 - (distance / max_len)

    return max(0.0, similarity)


def _compute_normalized_similarity(gt, pred, case_sensitive=False):
    return _normalized_levenshtein_similarity(gt.strip(), pred.strip(), case_sensitive)


def _compute_semantic_scores(gt_strings, pred_strings, model_name):
    from sentence_transformers import SentenceTransformer, util

    model = SentenceTransformer(model_name)

    gt_embeddings = model.encode(gt_strings, show_progress_bar=False)
    pred_embeddings = model.encode(pred_strings, show_progress_bar=False)

    scores = []
    for gt_emb, pred_emb in zip(gt_embeddings, pred_embeddings, strict=False):
        cosine = util.cos_sim(gt_emb, pred_emb).item()
        scores.append(max(0.0, cosine))

    return scores


def sim_op(
    sample_collection, pred_field, gt_field, output_field=None, case_sensitive=False, delegate=False
):
    """compute_normalized_similarity: ComputeNormalizedSimilarity.execute."""
    if output_field is None:
        output_field = f"{pred_field}_similarity"
    ctx = _Ctx(
        dict(
            pred_field=pred_field,
            gt_field=gt_field,
            output_field=output_field,
            case_sensitive=case_sensitive,
        ),
        view=sample_collection.view(),
    )
    gt_strings, pred_strings, target_view = _get_text_pairs(ctx)
    case_sensitive = ctx.params.get("case_sensitive", False)
    output_field = ctx.params.get("output_field")
    scores = [
        _compute_normalized_similarity(gt, pred, case_sensitive)
        for gt, pred in zip(gt_strings, pred_strings, strict=False)
    ]
    mean_score = _save_scores(ctx, target_view, output_field, scores)
    return {
        "output_field": output_field,
        "samples_evaluated": len(target_view),
        "mean_similarity": mean_score,
    }


def sem_op(
    sample_collection,
    pred_field,
    gt_field,
    output_field=None,
    model_name="all-MiniLM-L6-v2",
    delegate=False,
):
    """compute_semantic_similarity: ComputeSemanticSimilarity.execute."""
    if output_field is None:
        output_field = f"{pred_field}_semantic_similarity"
    ctx = _Ctx(
        dict(
            pred_field=pred_field,
            gt_field=gt_field,
            output_field=output_field,
            model_name=model_name,
        ),
        dataset=sample_collection,
    )
    gt_strings, pred_strings, target_view = _get_text_pairs(ctx)
    model_name = ctx.params.get("model_name", "all-MiniLM-L6-v2")
    output_field = ctx.params.get("output_field")
    scores = _compute_semantic_scores(gt_strings, pred_strings, model_name)
    mean_score = _save_scores(ctx, target_view, output_field, scores)
    return {
        "output_field": output_field,
        "samples_evaluated": len(target_view),
        "mean_semantic_similarity": mean_score,
    }


# ------------------------------------------------------ section 3: hoist the root labels

from fiftyone import ViewField as F  # noqa: E402

GPT_FIELDS = {
    "gpt_summary_brief": "gpt_summary_root_brief",
    "gpt_summary_detailed": "gpt_summary_root_detailed",
    "gpt_action_brief": "gpt_action_root_brief",
    "gpt_action_detailed": "gpt_action_root_detailed",
    "gpt_action_actor": "gpt_action_root_actor",
}

for src_field, dst_field in GPT_FIELDS.items():
    root_view = dataset.filter_labels(src_field, F("tier") == "root")
    nested = root_view.values(f"{src_field}.detections.label")
    flat = [labels[0] if labels else None for labels in nested]
    dataset.set_values(dst_field, flat)

# ------------------------------------------------------ section 4: measuring agreement

COMPARISON_PAIRS = [
    ("qwen3vl_summary_brief", "gpt_summary_root_brief", "lex_q_sum_brief"),
    ("qwen3vl_summary_detailed", "gpt_summary_root_detailed", "lex_q_sum_detailed"),
    ("qwen3vl_action_brief", "gpt_action_root_brief", "lex_q_act_brief"),
    ("qwen3vl_action_detailed", "gpt_action_root_detailed", "lex_q_act_detailed"),
    ("qwen3vl_action_actor", "gpt_action_root_actor", "lex_q_actor"),
    ("molmo_summary_brief", "gpt_summary_root_brief", "lex_m_sum_brief"),
    ("molmo_summary_detailed", "gpt_summary_root_detailed", "lex_m_sum_detailed"),
    ("molmo_action_brief", "gpt_action_root_brief", "lex_m_act_brief"),
    ("molmo_action_detailed", "gpt_action_root_detailed", "lex_m_act_detailed"),
    ("molmo_action_actor", "gpt_action_root_actor", "lex_m_actor"),
]

for pred_field, gt_field, output_field in COMPARISON_PAIRS:
    sim_op(
        dataset,
        pred_field=pred_field,
        gt_field=gt_field,
        output_field=output_field,
        case_sensitive=False,
        delegate=False,
    )

COMPARISON_PAIRS = [
    ("qwen3vl_summary_brief", "gpt_summary_root_brief", "sem_q_sum_brief"),
    ("qwen3vl_summary_detailed", "gpt_summary_root_detailed", "sem_q_sum_detailed"),
    ("qwen3vl_action_brief", "gpt_action_root_brief", "sem_q_act_brief"),
    ("qwen3vl_action_detailed", "gpt_action_root_detailed", "sem_q_act_detailed"),
    ("qwen3vl_action_actor", "gpt_action_root_actor", "sem_q_actor"),
    ("molmo_summary_brief", "gpt_summary_root_brief", "sem_m_sum_brief"),
    ("molmo_summary_detailed", "gpt_summary_root_detailed", "sem_m_sum_detailed"),
    ("molmo_action_brief", "gpt_action_root_brief", "sem_m_act_brief"),
    ("molmo_action_detailed", "gpt_action_root_detailed", "sem_m_act_detailed"),
    ("molmo_action_actor", "gpt_action_root_actor", "sem_m_actor"),
]

for pred_field, gt_field, output_field in COMPARISON_PAIRS:
    sem_op(
        dataset,
        pred_field=pred_field,
        gt_field=gt_field,
        model_name=MODEL_NAME,
        output_field=output_field,
        delegate=False,
    )

# ------------------------------------------------------ section 5: the confidence map

HIGH_LEX = 0.6
HIGH_SEM = 0.6
LOW_LEX = 0.3
LOW_SEM = 0.5

lex_q = F("lex_q_sum_detailed")
sem_q = F("sem_q_sum_detailed")
lex_m = F("lex_m_sum_detailed")
sem_m = F("sem_m_sum_detailed")

TAGS = {
    "qwen_agrees": (sem_q >= HIGH_SEM) & (lex_q >= HIGH_LEX),
    "molmo_agrees": (sem_m >= HIGH_SEM) & (lex_m >= HIGH_LEX),
    "triple_agreement": (sem_q >= HIGH_SEM) & (sem_m >= HIGH_SEM),
    "triple_disagreement": (sem_q < LOW_SEM) & (sem_m < LOW_SEM),
    "qwen_only": (sem_q >= HIGH_SEM) & (sem_m < LOW_SEM),
    "molmo_only": (sem_m >= HIGH_SEM) & (sem_q < LOW_SEM),
    "paraphrase": (lex_q < LOW_LEX) & (sem_q >= HIGH_SEM) & (lex_m < LOW_LEX) & (sem_m >= HIGH_SEM),
}

for tag, expr in TAGS.items():
    view = dataset.match(expr)
    view.tag_samples(tag)

# ------------------------------------------------------ what the test compares

score_fields = [f for _, _, f in COMPARISON_PAIRS] + [
    f.replace("sem_", "lex_", 1) for _, _, f in COMPARISON_PAIRS
]
platform_tags = dict(zip(published.values("video_id"), published.values("tags"), strict=True))
out = {}
for sample in dataset:
    out[sample["video_id"]] = {
        "notebook_tags": sorted(sample.tags),
        "published_tags": sorted(platform_tags[sample["video_id"]]),
        "scores": {f: sample[f] for f in score_fields},
        "texts": {
            f: sample[f] for f in (*GPT_FIELDS.values(), *[p for p, _, _ in COMPARISON_PAIRS])
        },
    }
dataset.delete()
print(json.dumps(out))
