"""Tests of models/torch_device.py: one device and precision rule for every local model."""

from __future__ import annotations

import pytest
import torch

from analysis.errors import AnalysisError
from models.torch_device import auto_dtype, resolve_device

NO_CUDA = "asked for {device!r}, no CUDA here"


def test_auto_device_and_dtype(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", NO_CUDA) == "cpu"
    assert resolve_device("cpu", NO_CUDA) == "cpu"
    assert auto_dtype("cpu") == "float32"
    with pytest.raises(AnalysisError) as err:
        resolve_device("cuda:1", NO_CUDA)
    assert str(err.value) == "asked for 'cuda:1', no CUDA here"


def test_cuda_precision_follows_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", NO_CUDA) == "cuda"
    assert resolve_device("cuda:1", NO_CUDA) == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert auto_dtype("cuda:0") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert auto_dtype("cuda") == "float16"
