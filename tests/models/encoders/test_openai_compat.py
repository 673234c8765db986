"""The OpenAI-compatible embeddings encoder against a fake server on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError
from models.encoders import make_encoder
from tests.models.encoders.fake_embeddings import FakeEmbeddingsServer, fake_vector

TEXTS = ["Heat (Action)", "Toy Story (Animation, Comedy)", "Sabrina", "Frozen Empire (Fantasy)",
         "Golden Eye (Action, Thriller)"]  # fmt: skip


@pytest.fixture
def server():
    with FakeEmbeddingsServer() as s:
        yield s


def _encoder(server, **kw):
    kw = {"backoff_base_s": 0.0, "backoff_max_s": 0.0, "batch_size": 2, **kw}
    return make_encoder("openai", model="emb-1", base_url=server.url, **kw)


def test_batched_vectors_in_order_with_billed_tokens(server):
    enc = _encoder(server)
    out = enc.encode(TEXTS)
    assert out.dtype == np.float32 and out.shape == (5, 4)
    np.testing.assert_array_equal(out, np.asarray([fake_vector(t) for t in TEXTS], np.float32))
    assert sorted(len(r["input"]) for r in server.requests) == [1, 2, 2]
    assert all(r["model"] == "emb-1" and r["encoding_format"] == "float" for r in server.requests)
    assert enc.usage.tokens == sum(len(t.split()) for t in TEXTS) == 14
    assert (enc.usage.texts, enc.usage.calls) == (5, 3)
    assert enc.id == f"openai:{server.url.split('/')[2]}/emb-1|dim=native" and enc.per_item


def test_dimensions_sent_and_estimate_without_usage(server):
    server.omit_usage = True
    enc = _encoder(server, dim=6, batch_size=10)
    out = enc.encode(TEXTS[:2])
    assert out.shape == (2, 6) and server.requests[0]["dimensions"] == 6
    # no usage in the answer: ceil(chars / 3.5) per text
    assert enc.usage.tokens == sum(-(-len(t) * 2 // 7) for t in TEXTS[:2]) == 4 + 9
    assert enc.id.endswith("|dim=6")


def test_retries_a_5xx_then_succeeds(server):
    server.fail_first = 2
    enc = _encoder(server, batch_size=10, concurrency=1)
    out = enc.encode(TEXTS)
    assert out.shape == (5, 4) and len(server.requests) == 3 and enc.usage.calls == 3


def test_a_4xx_fails_at_once_with_one_line(server):
    server.fail_first, server.fail_status = 5, 400
    enc = _encoder(server, batch_size=10)
    with pytest.raises(AnalysisError, match=r"failed on batch 1 of 1: .*400") as err:
        enc.encode(TEXTS)
    assert len(server.requests) == 1 and "\n" not in str(err.value)


def test_gives_up_after_its_retries(server):
    server.fail_first = 10
    enc = _encoder(server, batch_size=10, max_retries=2)
    with pytest.raises(AnalysisError, match="gave up after 3 attempts"):
        enc.encode(TEXTS)
    assert len(server.requests) == 3


def test_bad_settings():
    with pytest.raises(AnalysisError, match="Bad base URL 'localhost:8000'"):
        make_encoder("openai", model="m", base_url="localhost:8000")
    with pytest.raises(AnalysisError, match="batch_size"):
        make_encoder("openai", model="m", base_url="http://127.0.0.1:1/v1", batch_size=0)
    with pytest.raises(AnalysisError, match="Unknown encoder 'bert'"):
        make_encoder("bert")
