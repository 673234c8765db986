"""Tests for models/llm/_hf_likelihood.py: scoring against the prompt's key/value cache equals
scoring each (prompt + candidate) sequence on its own, and reads each prompt once."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from models.llm._hf_likelihood import _rows_of
from models.llm.protocol import LLMRequest
from models.llm.transformers import TransformersBackend
from tests.models.llm.tiny_llama import build_tiny_llama

SYSTEM = "You rank movies. Answer with candidate numbers only."
# one-token, multi-token, empty, repeated and long candidates; a user without candidates
CANDS = [
    ["[0] Neon Heist", "x", "", "[0] Neon Heist", "The Golden Harbor (1987) rated 4/5"],
    ["Red Crown"],
    [],
    ["[3] Wild Storm", "[12] Hidden Empire (1999)", "R", "Broken Road 2", "a", "Dark River"],
]


def _user(k: int) -> str:
    hist = "; ".join(f"[{j}] The Silent Harbor {j} rated {1 + j % 5}/5" for j in range(k))
    return f"History: {hist}\nRank them."


@pytest.fixture(scope="module")
def backend(tmp_path_factory) -> TransformersBackend:
    folder = build_tiny_llama(tmp_path_factory.mktemp("tiny_llama_lik"))
    return TransformersBackend(str(folder), device="cpu", batch_size=3)


@pytest.fixture(scope="module")
def requests_() -> list[LLMRequest]:
    return [LLMRequest(SYSTEM, _user(k), key=f"u{k}") for k in (4, 1, 6, 2)]  # lengths differ


def _reference(b: TransformersBackend, reqs, cands) -> list[np.ndarray]:
    """The per-candidate definition: one unpadded forward pass over prompt + candidate."""
    out = []
    for prompt, texts in zip(b.render(reqs), cands):
        row = []
        for text in texts:
            cand = b.tokenizer(text, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = b.lm(torch.tensor([prompt + cand])).logits[0]
            logp = torch.log_softmax(logits.double(), dim=-1)
            row.append(sum(float(logp[len(prompt) - 1 + t, c]) for t, c in enumerate(cand)))
        out.append(np.array(row, dtype=np.float64))
    return out


def test_cached_scores_equal_per_candidate_scores(backend, requests_):
    got = backend.score(requests_, CANDS)
    want = _reference(backend, requests_, CANDS)
    assert [g.shape for g in got] == [(5,), (1,), (0,), (6,)]
    for g, w in zip(got, want):
        # float32 rounding only: |score| reaches ~270 here, so 1e-6 relative is a few ulps
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-5)
    assert got[0][2] == 0.0 and got[0][0] == got[0][3]  # empty; a repeat scores the same
    assert np.all(got[3] < 0)


@pytest.mark.parametrize("batch_size", [1, 2, 16])
def test_batch_size_does_not_change_scores(backend, requests_, batch_size):
    b = TransformersBackend.from_loaded(backend.lm, backend.tokenizer, batch_size=batch_size)
    np.testing.assert_allclose(
        np.concatenate(b.score(requests_, CANDS)),
        np.concatenate(backend.score(requests_, CANDS)),
        rtol=1e-6, atol=1e-5,
    )  # fmt: skip


def test_each_prompt_is_read_once(backend, requests_):
    b = TransformersBackend.from_loaded(backend.lm, backend.tokenizer, batch_size=2)
    b.score(requests_, CANDS)
    n_prompt = b.count_tokens(requests_)
    texts = [t for c in CANDS for t in c]
    n_cand = [len(t) for t in b.tokenizer(texts, add_special_tokens=False)["input_ids"]]
    s = b.stats()
    # prompts with a non-empty candidate once, each candidate but its last token once
    assert s["prompt_tokens"] == n_prompt[0] + n_prompt[1] + n_prompt[3] + sum(
        n - 1 for n in n_cand if n > 0
    )
    assert s["scored_pairs"] == 11  # non-empty candidates
    b.reset_stats()
    b.score(requests_[2:3] + requests_[:1], [[], [""]])  # nothing to run
    assert b.stats()["prompt_tokens"] == 0 and b.stats()["scored_pairs"] == 0


def test_rows_of_copies_rows_and_leaves_the_cache(backend):
    from transformers import DynamicCache

    k = torch.arange(2 * 2 * 3 * 4, dtype=torch.float32).reshape(2, 2, 3, 4)
    cache = DynamicCache([(k, k + 1), (k + 2, k + 3)])
    view = _rows_of(cache, torch.tensor([1, 1, 0]))
    assert view.layers[0].keys.shape == (3, 2, 3, 4)
    assert torch.equal(view.layers[1].values[0], k[1] + 3)
    assert torch.equal(view.layers[0].keys[2], k[0])
    view.update(k[:1].repeat(3, 1, 1, 1), k[:1].repeat(3, 1, 1, 1), 0)  # grows the view only
    assert view.get_seq_length() == 6 and cache.get_seq_length() == 3
    assert torch.equal(cache.layers[0].keys, k) and cache.layers[0].keys.shape[0] == 2
