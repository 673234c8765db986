"""Any OpenAI-compatible ``/v1/embeddings`` server (vLLM, TEI, Ollama, OpenAI itself).

Only this module imports ``openai``. Texts go in batches of ``batch_size`` per request, at
most ``concurrency`` requests in flight; each request follows :mod:`models.llm.retry`'s
policy (retry 408/429/529/5xx, timeouts and unreadable answers with seeded full-jitter
backoff; never another 4xx), the SDK's own retries off. Tokens are the server's
``usage.prompt_tokens`` (the offline estimate, ``ceil(chars / 3.5)``, when it sends none).
Local servers need no key: it defaults to ``OPENAI_API_KEY``, else ``"EMPTY"``, and is only
handed to the SDK client.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from urllib.parse import urlparse

import numpy as np

from analysis.errors import AnalysisError
from models.encoders.protocol import EncodeUsage
from models.llm.retry import (
    RetryPolicy,
    call_with_retries,
    check_setting,
    estimate_tokens,
    run_bounded,
)

__all__ = ["BAD_ANSWER", "BAD_BASE_URL", "EMBED_FAILED", "OpenAIEncoder"]

BAD_BASE_URL = (
    "Bad base URL {url!r} for the OpenAI-compatible embeddings server: give its http(s) API "
    "root, e.g. http://localhost:8000/v1."
)
EMBED_FAILED = "The embeddings server failed on batch {batch} of {n}: {reason}"
BAD_ANSWER = (
    "The embeddings server answered batch {batch} with {got} vectors of lengths {dims} for "
    "{want} texts; expected one vector per text, all of one length."
)


class OpenAIEncoder:
    """Embeddings from an OpenAI-compatible server.

    Args:
        model: the served model's name.
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        api_key: the key (default ``OPENAI_API_KEY``, else ``"EMPTY"``); never stored here.
        dim: ask the server for vectors of this length (``dimensions``; only models that
            support it); None: the model's own.
        batch_size: texts per request.
        concurrency: requests in flight at most.
        max_retries, timeout_s, backoff_base_s, backoff_max_s, seed: as the LLM backends.
        usd_per_mtok: price per million input tokens, for the cost record.

    Raises:
        AnalysisError: a bad setting or base URL.
    """

    name = "openai"
    per_item = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        dim: int | None = None,
        batch_size: int = 64,
        concurrency: int = 4,
        max_retries: int = 6,
        timeout_s: float = 60.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        seed: int = 0,
        usd_per_mtok: float = 0.0,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise AnalysisError("Bad embeddings setting model: name the served model.")
        parsed = urlparse(base_url) if isinstance(base_url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise AnalysisError(BAD_BASE_URL.format(url=base_url))
        check_setting("batch_size", batch_size, minimum=1, integer=True)
        check_setting("concurrency", concurrency, minimum=1, integer=True)
        check_setting("max_retries", max_retries, minimum=0, integer=True)
        check_setting("timeout_s", timeout_s, minimum=0.001)
        if dim is not None:
            check_setting("dim", dim, minimum=1, integer=True)
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - pinned in requirements
            raise AnalysisError("The openai package is not installed.") from exc
        self.model = model
        self.base_url = base_url
        self.requested_dim = dim
        self.batch_size = int(batch_size)
        self.concurrency = int(concurrency)
        self.usd_per_mtok = float(usd_per_mtok)
        self.policy = RetryPolicy(int(max_retries), float(backoff_base_s), float(backoff_max_s),
                                  int(seed))  # fmt: skip
        self.usage = EncodeUsage()
        self._transient = (openai.APIConnectionError,)
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self._client = openai.OpenAI(api_key=key.strip(), base_url=base_url, max_retries=0,
                                     timeout=float(timeout_s))  # fmt: skip

    def __repr__(self) -> str:
        return f"OpenAIEncoder(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def id(self) -> str:
        """Server host, model and requested dimension (the server owns the rest)."""
        host = urlparse(self.base_url).netloc
        return f"openai:{host}/{self.model}|dim={self.requested_dim or 'native'}"

    @property
    def dim(self) -> int | None:
        return self.requested_dim

    def fit(self, corpus: Sequence[str]) -> None:
        """Nothing to learn: the server's model."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Offline estimate ``ceil(chars / 3.5)`` per text (the server's tokenizer is unknown)."""
        return [estimate_tokens(str(t)) for t in texts]

    def _request(self, batch: list[str]):
        params = {"model": self.model, "input": batch, "encoding_format": "float"}
        if self.requested_dim is not None:
            params["dimensions"] = self.requested_dim
        return self._client.embeddings.create(**params)

    def encode(self, texts: list[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.requested_dim or 0), dtype=np.float32)
        start = time.perf_counter()
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        secret = getattr(self._client, "api_key", None)
        secret = secret if secret != "EMPTY" else None

        def one(i: int, batch: list[str]):
            return call_with_retries(
                lambda: self._request(batch), self.policy, index=i,
                transient=self._transient, secret=secret, what="embeddings request",
            )  # fmt: skip

        outcomes = run_bounded(batches, one, concurrency=self.concurrency)
        parts, tokens, calls = [], 0, 0
        for i, (batch, outcome) in enumerate(zip(batches, outcomes, strict=True)):
            calls += outcome.attempts
            if outcome.error is not None:
                raise AnalysisError(EMBED_FAILED.format(batch=i + 1, n=len(batches),
                                                        reason=outcome.error))  # fmt: skip
            rows = sorted(outcome.value.data, key=lambda d: d.index)
            dims = sorted({len(r.embedding) for r in rows})
            if len(rows) != len(batch) or len(dims) != 1 or (parts and dims[0] != parts[0].shape[1]):
                raise AnalysisError(BAD_ANSWER.format(batch=i + 1, got=len(rows), dims=dims,
                                                      want=len(batch)))  # fmt: skip
            parts.append(np.asarray([r.embedding for r in rows], dtype=np.float32))
            used = getattr(getattr(outcome.value, "usage", None), "prompt_tokens", None)
            tokens += int(used) if isinstance(used, int) else sum(self.count_tokens(batch))
        self.usage = self.usage + EncodeUsage(
            len(texts), tokens, time.perf_counter() - start, calls
        )
        return np.concatenate(parts, axis=0)
