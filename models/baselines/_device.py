"""CPU/GPU choice for the baselines (implicit's CUDA classes when available)."""

from __future__ import annotations

from typing import Any

import implicit.gpu
import numpy as np

from analysis.errors import AnalysisError

__all__ = ["BAD_USE_GPU", "NO_CUDA", "resolve_device"]

NO_CUDA = (
    "A GPU was required for model {name!r} but implicit finds no CUDA GPU "
    "(implicit.gpu.HAS_CUDA is False); let it fit on the CPU (GPU 'auto' or off)."
)
BAD_USE_GPU = "use_gpu must be 'auto', True or False; got {value!r}."


def resolve_device(use_gpu: Any, name: str, has_gpu_version: bool = True) -> bool:
    """Whether to fit on the GPU.

    Args:
        use_gpu: ``"auto"`` (GPU when CUDA is available), ``True`` (GPU required) or
            ``False`` (CPU).
        name: model name, for messages.
        has_gpu_version: whether implicit has a GPU class for this model; models without
            one fit on the CPU even when a GPU is requested and available.

    Returns:
        True to use implicit's GPU class.

    Raises:
        AnalysisError: ``use_gpu`` is not one of the three values, or it is ``True`` and
            ``implicit.gpu.HAS_CUDA`` is False.
    """
    if not (isinstance(use_gpu, (bool, np.bool_)) or use_gpu == "auto"):
        raise AnalysisError(BAD_USE_GPU.format(value=use_gpu))
    has_cuda = bool(implicit.gpu.HAS_CUDA)
    if use_gpu is True or use_gpu is np.True_:
        if not has_cuda:
            raise AnalysisError(NO_CUDA.format(name=name))
        return has_gpu_version
    return bool(use_gpu == "auto" and has_cuda and has_gpu_version)
