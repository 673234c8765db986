"""The workspace store: keyed by encoder id and text hash, byte-exact."""

from __future__ import annotations

import hashlib

import numpy as np

from analysis.embeddings import EmbeddingStore, text_sha256
from analysis.workspace import Workspace


def test_put_get_byte_exact_and_keyed_by_encoder(tmp_path):
    store = EmbeddingStore(Workspace(tmp_path / "ws.duckdb"))
    h = text_sha256(["a", "b", "a"])
    assert h[0] == hashlib.sha256(b"a").hexdigest() == h[2]
    vecs = np.asarray([[0.1, 0.2], [0.3, 0.4], [9.0, 9.0]], np.float32)
    assert store.put("enc-1", h, vecs) == 2  # the repeated text is stored once
    got = store.get("enc-1", [*h, "missing"])
    assert set(got) == set(h) and got[h[0]].tobytes() == vecs[0].tobytes()
    assert store.get("enc-2", h) == {} and store.count("enc-1") == 2 and store.count() == 2
    store.put("enc-1", h[:1], np.asarray([[5.0, 5.0]], np.float32))  # kept as it was
    assert store.get("enc-1", h[:1])[h[0]].tolist() == vecs[0].tolist()
    # a new store object on the same file sees the same rows
    assert EmbeddingStore(Workspace(tmp_path / "ws.duckdb")).count("enc-1") == 2


def test_catalogue_cost_sums_runs(tmp_path):
    store = EmbeddingStore(Workspace(tmp_path / "ws.duckdb"))
    assert store.catalogue_cost("d", "e").cost_usd == 0.0
    store.record_cost("d", "e", n_items=4, n_computed=3, tokens=30, seconds=1.5, cost_usd=0.25)
    store.record_cost("d", "e", n_items=4, n_computed=1, tokens=10, seconds=0.5, cost_usd=0.5)
    store.record_cost("other", "e", n_items=4, n_computed=4, tokens=4, seconds=1, cost_usd=9)
    rec = store.catalogue_cost("d", "e")
    assert (rec.n_computed, rec.tokens, rec.seconds, rec.cost_usd, rec.runs) == (
        4, 40, 2.0, 0.75, 2)
