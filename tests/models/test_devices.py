"""One rule for where in-process models run."""

from __future__ import annotations

import pytest
import torch

from actionlens.devices import torch_device
from actionlens.errors import ConfigurationError


def test_cpu_runs_in_float32():
    assert torch_device("cpu") == (torch.device("cpu"), torch.float32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_auto_falls_back_to_cpu_and_cuda_without_a_gpu_is_an_error():
    assert torch_device("auto") == (torch.device("cpu"), torch.float32)
    with pytest.raises(ConfigurationError, match="segment.device is 'cuda'"):
        torch_device("cuda", "segment.device")


def test_unknown_device_names_the_setting():
    with pytest.raises(ConfigurationError, match="models.device='tpu'"):
        torch_device("tpu", "models.device")
