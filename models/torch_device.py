"""Where a local PyTorch model runs, and in which precision: one rule for every local Hugging
Face model of the product (the transformers LLM backend, the transformers item encoder).

* device ``"auto"``: ``"cuda"`` when a CUDA device is available, else ``"cpu"``; a CUDA device
  asked for on a machine without one is an error (the caller's message);
* dtype ``"auto"``: ``"bfloat16"`` on a CUDA device that supports it, ``"float16"`` on one that
  does not, ``"float32"`` on the CPU (half precision is slow or unsupported there).
"""

from __future__ import annotations

from analysis.errors import AnalysisError

__all__ = ["auto_dtype", "resolve_device"]


def resolve_device(device: str, no_cuda: str) -> str:
    """``device`` with ``"auto"`` resolved.

    Raises:
        AnalysisError: a CUDA device asked for without one (``no_cuda``, formatted with
            ``device``).
    """
    import torch

    device = str(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AnalysisError(no_cuda.format(device=device))
    return device


def auto_dtype(device: str) -> str:
    """The precision ``"auto"`` stands for on ``device`` (see the module docstring)."""
    import torch

    if not str(device).startswith("cuda"):
        return "float32"
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
