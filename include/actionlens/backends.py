"""Every backend a setting can name, one lazy `Registry` per kind, with its declared
capabilities.

This module imports nothing but the registry: the scheduler reads a step's GPU need from
here each time it parses a DAG file, without importing numpy or any backend module. The
packages that use a kind re-export its registry (`actionlens.models.CHAT_MODELS`,
`actionlens.segment.embed.EMBEDDERS`, `actionlens.lenses.backends.LENS_BACKENDS`,
`actionlens.models.text.TEXT_ENCODERS`); adding a backend is adding its class and its line
here.
"""

from __future__ import annotations

from actionlens.registry import Backend, Registry

CHAT_MODELS = Registry(
    "chat model backend",
    {
        # The endpoint holds the model: the step itself needs no accelerator.
        "openai": Backend(
            "actionlens.models.openai_compat:OpenAIChat", needs_gpu=False, needs_frames=True
        ),
        "qwen3vl": Backend(
            "actionlens.models.qwen3vl:Qwen3VLChat", needs_gpu=True, needs_frames=True
        ),
        "transformers-auto": Backend(
            "actionlens.models.auto:AutoVLMChat", needs_gpu=True, needs_frames=True
        ),
        "transcript": Backend(
            "actionlens.models.baselines:TranscriptCaptioner", needs_gpu=False, needs_frames=False
        ),
        "extractive": Backend(
            "actionlens.models.baselines:ExtractiveAggregator", needs_gpu=False, needs_frames=False
        ),
        "opinion-frames": Backend(
            "actionlens.opinions.baseline:FramesOpinionBaseline", needs_gpu=False, needs_frames=True
        ),
        "opinion-transcript": Backend(
            "actionlens.opinions.baseline:TranscriptOpinionBaseline",
            needs_gpu=False,
            needs_frames=True,
        ),
    },
    # `transformers` was the Qwen3-VL backend's first name, though it runs Qwen3-VL only;
    # settings that still say so keep working (documented in settings.ModelSpec).
    aliases={"transformers": "qwen3vl"},
    setting="backend",
)

EMBEDDERS = Registry(
    "frame embedder",
    {
        "pixels": Backend(
            "actionlens.segment.embed:PixelEmbedder", needs_gpu=False, needs_frames=True
        ),
        "vjepa2": Backend(
            "actionlens.segment.embed:VJEPA2Embedder", needs_gpu=True, needs_frames=True
        ),
    },
    setting="segment.backend",
)

LENS_BACKENDS = Registry(
    "lens backend",
    {
        "sentence": Backend(
            "actionlens.lenses.backends:SentenceLens", needs_gpu=False, needs_frames=False
        ),
        "frame-histogram": Backend(
            "actionlens.lenses.backends:FrameHistogramLens", needs_gpu=False, needs_frames=True
        ),
        "frame-motion": Backend(
            "actionlens.lenses.backends:FrameMotionLens", needs_gpu=False, needs_frames=True
        ),
        "qwen3vl-embedding": Backend(
            "actionlens.lenses.backends:Qwen3VLEmbeddingLens", needs_gpu=True, needs_frames=True
        ),
        "mean-pooled": Backend(
            "actionlens.lenses.backends:MeanPooledLens", needs_gpu=True, needs_frames=True
        ),
    },
    setting="opinions.lenses[*].backend",
)

TEXT_ENCODERS = Registry(
    "text encoder",
    {
        "onnx": Backend(
            "actionlens.models.onnx_sentence:OnnxSentenceEncoder",
            needs_gpu=False,
            needs_frames=False,
        ),
        # Runs anywhere; on an accelerator when agreement.device names one.
        "torch": Backend(
            "actionlens.models.text:TorchSentenceEncoder", needs_gpu=False, needs_frames=False
        ),
    },
    setting="agreement.embedding_backend",
)
