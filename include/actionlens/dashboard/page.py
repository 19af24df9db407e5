"""Data for the dashboard (read from the marts) and its HTML, with charts as inline SVG
so the page needs no script or network access. Airflow-free; the plugin serves it."""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from actionlens.settings import Settings
from actionlens.warehouse.query import fiftyone_sample_url  # noqa: F401 - the plugin's lookup

BUCKETS = 10


def freshness(settings: Settings) -> dict[str, Any]:
    """How fresh the page's data is: on DuckDB the marts snapshot's build and publication
    times and the last failed build after it (from the build status); live elsewhere."""
    if settings.warehouse != "duckdb":
        return {"source": "live", "warehouse": settings.warehouse}
    from actionlens.warehouse.snapshot import read_status, snapshot_path

    status = read_status(settings)
    return {
        "source": "snapshot" if snapshot_path(settings).exists() else "warehouse",
        "built_at": status.get("built_at"),
        "published_at": status.get("published_at"),
        "failed_at": status.get("failed_at"),
        "failure": status.get("failure"),
    }


def gather(settings: Settings, schema: str | None = None, least: int = 20) -> dict[str, Any]:
    """Everything the page shows, as plain data, with how fresh it is. It never waits for
    a build: a warehouse held by a writer before any snapshot exists shows empty
    sections and says who holds it."""
    from actionlens.warehouse.backends import WarehouseLocked

    fresh = freshness(settings)
    try:
        return _gather(settings, schema, least) | {"freshness": fresh}
    except WarehouseLocked as exc:
        empty = {"histograms": {}, "tags": {}, "trend": {}, "least_trusted": [], "n_videos": 0}
        empty |= {"uncovered": [], "n_uncovered": 0}
        return empty | {
            "confidence_meaning": confidence_meaning(settings),
            "fiftyone_url": _fiftyone_url(settings),
            "freshness": fresh | {"unavailable": str(exc)},
        }


def _fiftyone_url(settings: Settings) -> str:
    return f"{settings.fiftyone.app_url.rstrip('/')}/datasets/{quote(settings.fiftyone.dataset)}"


def _gather(settings: Settings, schema: str | None, least: int) -> dict[str, Any]:
    from functools import partial

    from actionlens.warehouse.query import query as query_any

    query = partial(query_any, snapshot=True)
    histogram = query(
        settings,
        f"""
        select pair_name, field, least(cast(floor(semantic * {BUCKETS}) as integer), {BUCKETS - 1}) as bucket,
               count(*) as n
        from {{schema}}.fct_node_agreement
        group by 1, 2, 3 order by 1, 2, 3""",
        schema=schema,
    )
    videos = query(
        settings,
        """
        select video_id, title, confidence_semantic, confidence_lexical, tags
        from {schema}.fct_video_confidence order by confidence_semantic, video_id""",
        schema=schema,
    )
    trend = query(
        settings,
        """
        select cast(score_date as varchar) as day, pair_name,
               sum(mean_semantic * n_scores) / sum(n_scores) as mean_semantic, sum(n_scores) as n
        from {schema}.fct_daily_confidence_trend group by 1, 2 order by 1, 2""",
        schema=schema,
    )
    uncovered = uncovered_languages(settings, schema)
    hist: dict[str, list[int]] = defaultdict(lambda: [0] * BUCKETS)
    for row in histogram:
        hist[f"{row['pair_name']} · {row['field']}"][int(row["bucket"])] += int(row["n"])
    tags = Counter(t for v in videos for t in (v["tags"] or "").split(",") if t)
    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in trend:
        series[row["pair_name"]].append((row["day"], float(row["mean_semantic"])))
    return {
        "confidence_meaning": confidence_meaning(settings),
        "histograms": dict(hist),
        "tags": dict(tags.most_common()),
        "trend": dict(series),
        "least_trusted": videos[:least],
        "uncovered": uncovered[:20],
        "n_uncovered": sum(int(r["n"]) for r in uncovered),
        "n_videos": len(videos),
        "fiftyone_url": _fiftyone_url(settings),
    }


def uncovered_languages(settings: Settings, schema: str | None = None) -> list[dict]:
    """Flagged pairs (a text the sentence model does not read) by languages and pair; none
    from marts built before language detection (they lack the column until dbt reruns)."""
    from actionlens.warehouse.query import query

    sql = """
        select coalesce(language_a, '-') || ' / ' || coalesce(language_b, '-') as languages,
               pair_name, count(*) as n
        from {schema}.fct_node_agreement where is_language_uncovered
        group by 1, 2 order by 3 desc, 1, 2"""
    try:
        return query(settings, sql, schema=schema, snapshot=True)
    except Exception as exc:  # noqa: BLE001 - only a missing column is expected here
        if "is_language_uncovered" not in str(exc) and "language_" not in str(exc):
            raise
        return []


def confidence_meaning(settings: Settings) -> str:
    """What a video's confidence number is (fct_video_confidence.confidence_semantic)."""
    cfg = settings.agreement
    return (
        f"A video's confidence is the mean semantic agreement with the reference "
        f"({cfg.reference_source}) of the workshop's two opinion models ({cfg.qwen_source} "
        f"as Qwen3-VL, {cfg.molmo_source} as Molmo2) on the root node's {cfg.workshop_field}, "
        f"the scores the workshop's tags are computed on (one model's alone when the other "
        f"gave no opinion); lexical likewise. Every other tier and field is in "
        f"fct_node_agreement and fct_node_confidence."
    )


def bars_svg(values: list[float], labels: list[str], width: int = 320, height: int = 140) -> str:
    top = max(values, default=0) or 1
    n = max(len(values), 1)
    bw = (width - 20) / n
    parts = [f'<svg class="chart" width="{width}" height="{height + 30}" role="img">']
    for i, (v, label) in enumerate(zip(values, labels, strict=True)):
        h = (height - 10) * v / top
        x = 10 + i * bw
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{height - h:.1f}" width="{bw * 0.8:.1f}" '
            f'height="{h:.1f}"><title>{html.escape(label)}: {v:g}</title></rect>'
        )
        parts.append(
            f'<text x="{x + bw * 0.4:.1f}" y="{height + 14}" font-size="9" '
            f'text-anchor="middle">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_svg(
    series: dict[str, list[tuple[str, float]]], width: int = 640, height: int = 180
) -> str:
    days = sorted({d for points in series.values() for d, _ in points})
    parts = [f'<svg class="chart" width="{width}" height="{height + 30}" role="img">']
    if days:
        step = (width - 40) / max(len(days) - 1, 1)
        colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
        for k, (name, points) in enumerate(sorted(series.items())):
            xy = [(20 + days.index(d) * step, 10 + (height - 20) * (1 - v)) for d, v in points]
            color = colors[k % len(colors)]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            parts.append(
                f'<polyline class="line" fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
            )
            for x, y in xy:
                parts.append(
                    f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>'
                )
            parts.append(
                f'<text x="{width - 150}" y="{16 + 14 * k}" fill="{color}" font-size="11">'
                f"{html.escape(name)}</text>"
            )
        parts.append(f'<text x="20" y="{height + 20}" font-size="10">{html.escape(days[0])}</text>')
        parts.append(
            f'<text x="{width - 90}" y="{height + 20}" font-size="10">{html.escape(days[-1])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _age(iso: str | None, now: datetime) -> str:
    if not iso:
        return "never"
    seconds = max(0, int((now - datetime.fromisoformat(iso)).total_seconds()))
    ago = (
        f"{seconds} s"
        if seconds < 120
        else f"{seconds // 60} min"
        if seconds < 7200
        else f"{seconds // 3600} h"
    )
    return f"{iso} ({ago} ago)"


def freshness_html(fresh: dict[str, Any], now: datetime | None = None) -> str:
    """The line saying how old the data is, and whether the last build failed."""
    now = now or datetime.now(UTC)
    parts = []
    if fresh.get("source") == "live":
        parts.append(f"Live from the {html.escape(fresh['warehouse'])} warehouse.")
    elif fresh.get("source") == "snapshot":
        parts.append(
            f"Marts built at {html.escape(_age(fresh.get('built_at'), now))}; "
            f"snapshot published at {html.escape(_age(fresh.get('published_at'), now))}."
        )
    elif fresh.get("source") == "warehouse":
        parts.append("No marts snapshot published yet: read from the warehouse itself.")
    if fresh.get("failed_at"):
        failure = (fresh.get("failure") or "").strip()
        parts.append(
            f'<span class="failed">The last build failed at '
            f"{html.escape(_age(fresh['failed_at'], now))}; this page shows the last good "
            "build.</span>" + (f"<pre>{html.escape(failure)}</pre>" if failure else "")
        )
    if fresh.get("unavailable"):
        parts.append(f'<span class="failed">{html.escape(fresh["unavailable"])}</span>')
    return f'<div id="freshness">{" ".join(parts)}</div>' if parts else ""


def render(data: dict[str, Any]) -> str:
    """The dashboard page."""
    labels = [f"{i / BUCKETS:.1f}" for i in range(BUCKETS)]
    hists = (
        "".join(
            f"<figure><figcaption>{html.escape(name)}</figcaption>{bars_svg(values, labels)}</figure>"
            for name, values in sorted(data["histograms"].items())
        )
        or "<p>No agreement rows yet.</p>"
    )
    tag_names = list(data["tags"])
    tags = (
        bars_svg(
            [float(v) for v in data["tags"].values()],
            tag_names,
            width=max(320, 90 * len(tag_names)),
        )
        if tag_names
        else "<p>No tags yet.</p>"
    )
    fo = html.escape(data["fiftyone_url"])
    # Relative to the page (/confidence/): the plugin redirects to the video's sample.
    rows = "".join(
        '<tr><td><a href="videos/{vid}/fiftyone">{vid}</a></td><td>{title}</td><td>{sem:.3f}</td>'
        "<td>{lex:.3f}</td><td>{tags}</td></tr>".format(
            vid=html.escape(v["video_id"]),
            title=html.escape(v.get("title") or ""),
            sem=v["confidence_semantic"] or 0.0,
            lex=v["confidence_lexical"] or 0.0,
            tags=html.escape((v["tags"] or "").replace(",", ", ")),
        )
        for v in data["least_trusted"]
    )
    uncovered = "".join(
        f"<tr><td>{html.escape(r['languages'])}</td><td>{html.escape(r['pair_name'])}</td>"
        f"<td>{int(r['n'])}</td></tr>"
        for r in data.get("uncovered", [])
    )
    languages = (
        f"<p>{data.get('n_uncovered', 0)} scored pairs hold a text the sentence model does not "
        "read (another language or script, or no words): their semantic score is no evidence "
        "either way. They are kept and flagged (<code>is_language_uncovered</code>); set a "
        "multilingual <code>agreement.embedding_model</code> to score them.</p>"
        '<table id="uncovered-languages"><tr><th>languages (a / b)</th><th>pair</th><th>pairs</th>'
        f"</tr>{uncovered}</table>"
        if uncovered
        else "<p>Every scored pair is in a language the sentence model reads.</p>"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>actionlens · confidence</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
figure {{ display: inline-block; margin: 8px; }} figcaption {{ font-size: 12px; }}
.bar {{ fill: #4c78a8; }} .failed {{ color: #b00020; }} table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px; font-size: 13px; text-align: left; }}
</style></head><body>
<h1>Confidence of machine-written annotations</h1>
<p>{data["n_videos"]} videos scored. Browse them in the <a href="{fo}">FiftyOne App</a>.</p>
<p id="confidence-meaning">{html.escape(data["confidence_meaning"])}</p>
{freshness_html(data.get("freshness") or {})}
<h2>Semantic agreement per pair and field</h2><section id="distributions">{hists}</section>
<h2>Workshop tags (per video)</h2><section id="tags">{tags}</section>
<h2>Daily trend (mean semantic agreement)</h2><section id="trend">{line_svg(data["trend"])}</section>
<h2>Least-trusted videos</h2>
<table id="least-trusted"><tr><th>video</th><th>title</th><th>confidence (semantic)</th><th>lexical</th><th>tags</th></tr>
{rows}</table>
<h2>Texts the sentence model cannot read</h2><section id="languages">{languages}</section>
</body></html>"""


def summary(settings: Settings, schema: str | None = None, least: int = 5) -> dict[str, Any]:
    """The confidence summary `make demo` prints: counts, tags, least-trusted, URLs."""
    data = gather(settings, schema=schema, least=least)
    videos = data["least_trusted"]
    return {
        "videos": data["n_videos"],
        "confidence": data["confidence_meaning"],
        "tags": data["tags"],
        "least_trusted": [
            {
                "video_id": v["video_id"],
                "confidence_semantic": round(v["confidence_semantic"] or 0.0, 3),
                "tags": v["tags"],
                "fiftyone_sample_url": fiftyone_sample_url(settings, v["video_id"]),
            }
            for v in videos
        ],
        "dashboard_url": settings.dashboard.url,
        "fiftyone_url": data["fiftyone_url"],
        "freshness": data["freshness"],
    }
