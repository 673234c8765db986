"""The local transformers encoder on a tiny random BERT loaded from a folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.errors import AnalysisError
from models.encoders import make_encoder
from models.encoders.transformers import TransformersEncoder, mean_pool
from tests.models.encoders.tiny_bert import TITLES, build_tiny_bert


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def encoder(model_dir):
    return TransformersEncoder(str(model_dir), device="cpu", batch_size=4, max_length=32)


def test_mean_pool_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]],
                           [[5.0, 6.0], [0.0, 0.0], [0.0, 0.0]]])  # fmt: skip
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert mean_pool(hidden, mask).tolist() == [[2.0, 3.0], [5.0, 6.0]]
    assert mean_pool(hidden, torch.zeros_like(mask)).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_shape_dtype_and_id(encoder, model_dir):
    out = encoder.encode(TITLES)
    assert out.shape == (6, 16) and out.dtype == np.float32
    assert encoder.dim == 16 and encoder.per_item
    assert encoder.id == f"transformers:{model_dir.name}|mean|max_length=32|float32"
    assert encoder.encode([]).shape == (0, 16)


def test_equals_mean_of_last_hidden_states_of_one_text(encoder):
    """A text in a padded batch gets the mean over its own tokens, as if alone."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(encoder.model_path)
    model = AutoModel.from_pretrained(encoder.model_path).eval()
    text = TITLES[1]
    enc = tok(text, return_tensors="pt")
    with torch.inference_mode():
        h = model(**enc).last_hidden_state[0]
    want = h.mean(dim=0).numpy()
    got = encoder.encode([TITLES[0], text, "Heat"])[1]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_deterministic_order_and_usage(encoder):
    before = encoder.usage
    a = encoder.encode(TITLES)
    b = encoder.encode(list(reversed(TITLES)))[::-1]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert a.tobytes() == encoder.encode(TITLES).tobytes()
    used = encoder.usage
    assert used.texts - before.texts == 18
    assert used.tokens - before.tokens == 3 * sum(encoder.count_tokens(TITLES))
    assert used.calls - before.calls == 6  # 2 batches of <= 4 per call


def test_max_length_truncates(model_dir):
    short = TransformersEncoder(str(model_dir), device="cpu", max_length=4)
    assert short.count_tokens([TITLES[0]]) == [4]
    assert short.encode([TITLES[0]]).shape == (1, 16)


def test_errors(tmp_path, model_dir):
    with pytest.raises(AnalysisError, match="Cannot load the encoder model from folder 'nope'"):
        make_encoder("transformers", model=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnalysisError, match="Cannot load the encoder model"):
        make_encoder("transformers", model=str(tmp_path / "empty"))
    with pytest.raises(AnalysisError, match="batch_size=0"):
        make_encoder("transformers", model=str(model_dir), batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(AnalysisError, match="no CUDA device"):
            make_encoder("transformers", model=str(model_dir), device="cuda")
