"""The TF-IDF + truncated SVD control."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError
from models.encoders import make_encoder
from models.encoders.tfidf import corpus_sha256

CORPUS = ["space war robots", "space robots love", "love story paris", "war story soldiers",
          "paris love comedy", "robots comedy"]  # fmt: skip


def test_shape_norm_and_id():
    enc = make_encoder("tfidf", dim=3, seed=1)
    with pytest.raises(AnalysisError, match="not been fitted"):
        enc.encode(CORPUS)
    enc.fit(CORPUS)
    out = enc.encode(CORPUS)
    assert out.shape == (6, 3) and out.dtype == np.float32 and not enc.per_item
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    assert enc.id.endswith(f"svd:dim=3,seed=1|corpus={corpus_sha256(CORPUS)[:16]}")
    assert enc.usage.tokens == 17 and enc.usage.texts == 6


def test_same_bytes_for_a_seed_and_similar_texts_closer():
    a, b = make_encoder("tfidf", dim=4), make_encoder("tfidf", dim=4)
    a.fit(CORPUS)
    b.fit(CORPUS)
    va, vb = a.encode(CORPUS), b.encode(CORPUS)
    assert va.tobytes() == vb.tobytes()
    sim = va @ va.T
    # "space war robots" is closer to "space robots love" than to "paris love comedy"
    assert sim[0, 1] > sim[0, 4]


def test_dim_capped_by_catalogue_and_id_follows_the_catalogue():
    enc = make_encoder("tfidf", dim=64)
    enc.fit(CORPUS)
    assert enc.dim == 5 and enc.encode(CORPUS[:2]).shape == (2, 5)
    first = enc.id
    enc.fit([*CORPUS[:-1], "robots comedy sequel"])
    assert enc.id != first


def test_bad_input():
    with pytest.raises(AnalysisError, match="Bad TF-IDF vector length 0"):
        make_encoder("tfidf", dim=0)
    with pytest.raises(AnalysisError, match="at least two item texts"):
        make_encoder("tfidf").fit(["", " "])
