"""The transformers backend's throughput tally: tokens, model seconds, requests and scored
pairs since it was last reset, with the rates and GPU cost they imply."""

from __future__ import annotations

from typing import Any

__all__ = ["Throughput"]


class Throughput:
    """Running totals of a local model's work (zero when made).

    Attributes:
        prompt_tokens: unpadded tokens fed to the model.
        generated_tokens: tokens generated before each stop token.
        seconds: model time (tokenizing excluded).
        requests: completed generations.
        pairs: scored (request, candidate) pairs.
    """

    def __init__(self) -> None:
        self.prompt_tokens = self.generated_tokens = self.requests = self.pairs = 0
        self.seconds = 0.0

    def add(
        self, prompt: int, generated: int, seconds: float, requests: int, pairs: int = 0
    ) -> None:
        """Add one batch's work."""
        self.prompt_tokens += prompt
        self.generated_tokens += generated
        self.seconds += seconds
        self.requests += requests
        self.pairs += pairs

    def stats(self, *, gpu_usd_per_hour: float, device: Any) -> dict[str, float | int | None]:
        """The totals with their rates: see :meth:`TransformersBackend.stats
        <models.llm.transformers.TransformersBackend.stats>`."""
        s = self.seconds
        peak = None
        if device.type == "cuda":
            import torch

            peak = torch.cuda.max_memory_allocated(device) / 2**30
        return {
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "seconds": s,
            "prompt_tokens_per_s": self.prompt_tokens / s if s > 0 else 0.0,
            "generated_tokens_per_s": self.generated_tokens / s if s > 0 else 0.0,
            "requests": self.requests,
            "scored_pairs": self.pairs,
            "peak_gpu_mem_gb": peak,
            "usd": gpu_usd_per_hour * s / 3600.0,
        }
