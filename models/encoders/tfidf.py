"""The no-LLM control: TF-IDF over the item texts, reduced with truncated SVD.

``TfidfVectorizer`` (word unigrams and bigrams, sublinear tf, l2-normalised rows) is fitted on
the whole catalogue, then ``TruncatedSVD`` (randomized, seeded) keeps ``dim`` components (LSA);
rows are l2-normalised again so a dot product is a cosine. Vectors depend on the catalogue, so
:attr:`TfidfEncoder.id` includes a SHA-256 of the fitted corpus: a changed title changes the
id and every vector is recomputed (in well under a second for a MovieLens catalogue).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import numpy as np

from analysis.errors import AnalysisError
from models.encoders.protocol import EncodeUsage

__all__ = ["NOT_FITTED", "TfidfEncoder"]

NOT_FITTED = "The TF-IDF encoder has not been fitted on the catalogue yet; fit it on the item texts first."
BAD_DIM = "Bad TF-IDF vector length {dim!r}: give an integer >= 1."
EMPTY_CORPUS = "The TF-IDF encoder needs at least two item texts with words; the catalogue has {n}."


def corpus_sha256(corpus: Sequence[str]) -> str:
    """SHA-256 of the texts in order (each text's UTF-8 bytes, ``\\x00``-separated)."""
    h = hashlib.sha256()
    for text in corpus:
        h.update(text.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


class TfidfEncoder:
    """TF-IDF + truncated SVD, fitted on the catalogue.

    Args:
        dim: SVD components (capped at ``min(n_texts, n_terms) - 1`` when the catalogue is
            smaller; :attr:`dim` then reports the length actually produced).
        seed: the SVD's random state.
        min_df: ignore terms in fewer texts than this.
    """

    name = "tfidf"
    per_item = False

    def __init__(self, dim: int = 64, *, seed: int = 0, min_df: int = 1) -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise AnalysisError(BAD_DIM.format(dim=dim))
        self.requested_dim = dim
        self.seed = int(seed)
        self.min_df = int(min_df)
        self.usage = EncodeUsage()
        self._vectorizer = None
        self._svd = None
        self._corpus_sha: str | None = None
        self._dim: int | None = None

    @property
    def id(self) -> str:
        if self._corpus_sha is None:
            raise AnalysisError(NOT_FITTED)
        return (
            f"tfidf:uni+bi,sublinear,min_df={self.min_df}|svd:dim={self.requested_dim},"
            f"seed={self.seed}|corpus={self._corpus_sha[:16]}"
        )

    @property
    def dim(self) -> int | None:
        return self._dim

    def fit(self, corpus: Sequence[str]) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [str(t) for t in corpus]
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=self.min_df,
                              dtype=np.float64)  # fmt: skip
        try:
            x = vec.fit_transform(texts)
        except ValueError as exc:  # empty vocabulary
            raise AnalysisError(EMPTY_CORPUS.format(n=len(texts))) from exc
        k = min(self.requested_dim, min(x.shape) - 1)
        if k < 1:
            raise AnalysisError(EMPTY_CORPUS.format(n=len(texts)))
        svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7,
                           random_state=self.seed)  # fmt: skip
        svd.fit(x)
        self._vectorizer, self._svd, self._dim = vec, svd, k
        self._corpus_sha = corpus_sha256(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Words per text (TF-IDF bills nothing; the count only sizes the work)."""
        return [len(str(t).split()) for t in texts]

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._svd is None:
            raise AnalysisError(NOT_FITTED)
        start = time.perf_counter()
        z = self._svd.transform(self._vectorizer.transform([str(t) for t in texts]))
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        out = np.divide(z, norms, out=np.zeros_like(z), where=norms > 0).astype(np.float32)
        self.usage = self.usage + EncodeUsage(
            len(texts), sum(self.count_tokens(texts)), time.perf_counter() - start, 1
        )
        return out
