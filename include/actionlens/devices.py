"""Where a model runs: one rule for every in-process backend."""

from __future__ import annotations

from actionlens.errors import ConfigurationError


def torch_device(preference: str, setting: str = "device"):
    """(torch.device, dtype) for "auto" | "cpu" | "cuda".

    bf16 on a GPU (as Action100M ran); float32 on the CPU, where bf16 matmuls are slow.
    Asking for "cuda" on a machine without one is an error, not a silent CPU run.
    """
    import torch

    if preference not in ("auto", "cpu", "cuda"):
        raise ConfigurationError(f"{setting}={preference!r}: expected auto, cpu or cuda")
    cuda = torch.cuda.is_available() and preference != "cpu"
    if preference == "cuda" and not cuda:
        raise ConfigurationError(f"{setting} is 'cuda' but torch sees no GPU")
    device = torch.device("cuda" if cuda else "cpu")
    return device, (torch.bfloat16 if cuda else torch.float32)
