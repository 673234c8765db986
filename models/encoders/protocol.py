"""The one interface every text encoder implements: item texts in, float32 vectors out.

An encoder turns a list of texts into an ``(n, d)`` float32 array, row ``i`` the embedding of
``texts[i]``. Its :attr:`TextEncoder.id` names the model *and every setting that changes a
vector* (pooling, max length, dimension, and for a catalogue-fitted encoder the catalogue), so
the workspace store (:mod:`analysis.embeddings.store`) can key cached vectors by ``(id, text
hash)``: two runs with the same id and text get the same vector. What a call cost is counted
in :class:`EncodeUsage`, the same way for every encoder, so the dry run and the cost record
treat a GPU model, an API and the TF-IDF control alike.

Implementations are registered in :mod:`models.encoders` (``make_encoder(name, **config)``);
this module knows none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["EncodeUsage", "TextEncoder"]


@dataclass(frozen=True)
class EncodeUsage:
    """What encoding cost.

    Attributes:
        texts: texts encoded.
        tokens: input tokens (the server's billed count for an API, the attention mask's sum
            for a local model, words for TF-IDF).
        seconds: wall time of the encode calls.
        calls: requests or forward batches made.
    """

    texts: int = 0
    tokens: int = 0
    seconds: float = 0.0
    calls: int = 0

    def __add__(self, other: EncodeUsage) -> EncodeUsage:
        return EncodeUsage(
            self.texts + other.texts,
            self.tokens + other.tokens,
            self.seconds + other.seconds,
            self.calls + other.calls,
        )


@runtime_checkable
class TextEncoder(Protocol):
    """A text embedding model.

    Attributes:
        name: the kind (``"transformers"``, ``"openai"``, ``"tfidf"``).
        per_item: True when a text's vector depends on that text alone (a neural model), so a
            changed title recomputes only that item; False for an encoder fitted on the whole
            catalogue (TF-IDF), which must be :meth:`fit` first and whose id then names the
            catalogue.
        usage: running total of what :meth:`encode` has cost on this object.
    """

    name: str
    per_item: bool
    usage: EncodeUsage

    @property
    def id(self) -> str:
        """Stable identifier of the model and every setting that changes a vector."""
        ...

    @property
    def dim(self) -> int | None:
        """Vector length, when known before encoding (None: learnt from the first answer)."""
        ...

    def fit(self, corpus: Sequence[str]) -> None:
        """Learn from the whole catalogue (a no-op for a per-item encoder)."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Input tokens of each text, as this encoder counts them (exact or estimated)."""
        ...

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 ``(len(texts), dim)`` embeddings, in input order.

        Raises:
            AnalysisError: the model cannot be used (a request failed after its retries,
                an unfitted catalogue encoder, a wrong answer shape).
        """
        ...
