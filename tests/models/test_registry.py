"""Backends by name: one lazy `Registry` per kind, capabilities on the class, one error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actionlens.errors import ConfigurationError
from actionlens.lenses.backends import LENS_BACKENDS
from actionlens.models.registry import CHAT_MODELS
from actionlens.models.text import TEXT_ENCODERS
from actionlens.registry import Registry
from actionlens.segment.embed import EMBEDDERS

REGISTRIES = [CHAT_MODELS, EMBEDDERS, LENS_BACKENDS, TEXT_ENCODERS]


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_every_backend_declares_its_capabilities_on_the_class(registry):
    for name in registry:
        cls = registry[name]
        assert isinstance(cls.needs_gpu, bool) and isinstance(cls.needs_frames, bool), name


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_an_unknown_name_gets_the_one_error_listing_the_known_names(registry):
    with pytest.raises(ConfigurationError) as err:
        registry["nope"]
    text = str(err.value)
    assert text.startswith(f"{registry.setting}='nope' is not a registered {registry.kind}")
    assert all(name in text for name in registry)


def test_a_class_without_declared_capabilities_is_refused():
    class Bare:
        pass

    registry = Registry("test backend", {}, setting="x.backend")
    registry.register("bare", Bare)
    with pytest.raises(ConfigurationError, match="needs_gpu"):
        registry["bare"]


def _python(code: str) -> list[str]:
    """The words a fresh interpreter prints running `code`."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_choosing_a_baseline_imports_no_model_module():
    """The table is read without importing the other backends (nor torch)."""
    code = (
        "import sys\n"
        "from actionlens.models import load_model\n"
        "from actionlens.settings import ModelSettings, ModelSpec\n"
        "m = load_model(ModelSpec(backend='transcript', model_id='t'), ModelSettings())\n"
        "print(m.backend, 'torch' in sys.modules, 'actionlens.models.qwen3vl' in sys.modules,"
        " 'actionlens.models.openai_compat' in sys.modules)\n"
    )
    assert _python(code) == ["transcript", "False", "False", "False"]


def test_transformers_auto_is_known_to_every_stage_without_importing_opinions():
    """It was registered only as a side effect of importing opinions/run.py."""
    code = (
        "import sys\n"
        "from actionlens.models.registry import CHAT_MODELS\n"
        "cls = CHAT_MODELS['transformers-auto']\n"
        "print(cls.__name__, cls.needs_gpu, any(m.startswith('actionlens.opinions')"
        " for m in sys.modules))\n"
    )
    assert _python(code) == ["AutoVLMChat", "True", "False"]
