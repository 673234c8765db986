"""Tests for models/llm/transformers.py on a tiny random-weight Llama (CPU, offline, seconds)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import AutoModelForCausalLM, AutoTokenizer

from analysis.errors import AnalysisError
from models.llm import make_backend
from models.llm import transformers as transformers_backend
from models.llm.protocol import LLMBackend, LLMRequest, ScoringBackend
from models.llm.transformers import TransformersBackend
from tests.models.llm._backend_contract import BackendContract
from tests.models.llm.tiny_llama import NO_SYSTEM_TEMPLATE, build_tiny_llama

REPO = Path(__file__).resolve().parents[3]
SYSTEM = "You rank movies. Answer with candidate numbers only; name nothing outside this list."


def _user(k: int) -> str:
    hist = "; ".join(
        f"[{j}] The Silent Harbor {j} (19{50 + j}) rated {1 + j % 5}/5" for j in range(k)
    )
    return f"History: {hist}\nCandidates: [0] Neon Heist [1] Red Crown\nRank them."


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="module")
def backend(model_dir) -> TransformersBackend:
    return TransformersBackend(str(model_dir), device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def requests_() -> list[LLMRequest]:
    # lengths differ, so batches need padding; order is not sorted by length
    return [
        LLMRequest(SYSTEM, _user(k), max_tokens=6, key=f"u{k}") for k in (3, 1, 5, 2, 4, 7)
    ]


class TestTransformersContract(BackendContract):
    """The contract of every backend, on the module's one tiny model."""

    scores = True
    max_tokens = 4

    @pytest.fixture
    def llm(self, backend):
        return backend

    @pytest.fixture
    def failing(self, backend):
        """The second request is longer than the input limit (the model is shared)."""
        reqs = [self.requests(3)[i] for i in (0, 2, 1)]
        limit = backend.count_tokens(reqs[2:])[0]
        short = TransformersBackend.from_loaded(
            backend.lm, backend.tokenizer, name_or_path=backend.model, max_input_tokens=limit
        )
        return short, reqs, {1}

    @pytest.fixture
    def build_bad(self, model_dir):
        return lambda: TransformersBackend(str(model_dir), device="cpu", batch_size=0)


def _reference_greedy(b: TransformersBackend, ids: list[int], n: int) -> list[int]:
    """Greedy decoding by hand: full forward pass, argmax, append (no cache, no padding)."""
    seq = list(ids)
    with torch.no_grad():
        for _ in range(n):
            logits = b.lm(torch.tensor([seq])).logits[0, -1]
            seq.append(int(logits.argmax()))
    return seq[len(ids) :]


# --- loading --------------------------------------------------------------------------------
def test_loads_from_local_folder(backend, model_dir):
    assert backend.name == "transformers"
    assert backend.model == str(model_dir)
    assert backend.device.type == "cpu" and backend.dtype == "float32"
    assert next(backend.lm.parameters()).dtype == torch.float32
    assert isinstance(backend, LLMBackend) and isinstance(backend, ScoringBackend)
    assert backend.tokenizer.padding_side == "left"
    assert backend.tokenizer.pad_token_id == backend.tokenizer.eos_token_id  # none was saved
    assert backend.system_role is True
    assert repr(backend).startswith("TransformersBackend(model=")


def test_make_backend_builds_it(model_dir):
    b = make_backend("transformers", model=str(model_dir), device="cpu")
    assert isinstance(b, TransformersBackend) and b.batch_size == 8


def test_missing_path_is_one_line_error(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(AnalysisError) as err:
        TransformersBackend(str(missing))
    assert err.value.message == transformers_backend.MODEL_NOT_FOUND.format(model="no_such_model")
    assert str(tmp_path) not in str(err.value) and str(tmp_path) not in err.value.render("cli")
    assert str(err.value).endswith("Give as Local model folder on the LLM rerank page a folder "
                                   "on this machine holding config.json, the weights and the "
                                   "tokenizer files.")
    assert "--model" in err.value.render("cli")
    assert "cannot be downloaded" in str(err.value) and "\n" not in str(err.value)


def test_folder_without_weights_is_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnalysisError, match="Cannot load transformers model") as err:
        TransformersBackend(str(tmp_path / "empty"))
    # the folder by its name, never its server path, on either surface
    assert "Cannot load transformers model 'empty' (" in str(err.value)
    assert "\n" not in str(err.value)
    assert str(tmp_path) not in str(err.value) and str(tmp_path) not in err.value.render("cli")


def test_folder_without_chat_template_is_error(model_dir, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(model_dir, plain)
    (plain / "chat_template.jinja").unlink()
    with pytest.raises(AnalysisError, match="no usable chat template"):
        TransformersBackend(str(plain), device="cpu")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_input_tokens": -1}, "max_input_tokens"),
        ({"dtype": "int8"}, "dtype"),
        ({"device": "tpu"}, "device"),
        ({"gpu_usd_per_hour": -1.0}, "gpu_usd_per_hour"),
        ({"seed": "zero"}, "seed"),
    ],
)
def test_bad_settings(model_dir, kwargs, name):
    with pytest.raises(AnalysisError, match=f"Transformers backend: {name} must be"):
        TransformersBackend(str(model_dir), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_requested_without_gpu(model_dir):
    with pytest.raises(AnalysisError) as err:
        TransformersBackend(str(model_dir), device="cuda")
    assert str(err.value) == transformers_backend.NO_CUDA.format(device="cuda")


# --- prompts --------------------------------------------------------------------------------
def test_count_tokens_matches_chat_template(backend, requests_):
    tok = backend.tokenizer
    expected = [
        len(
            tok.apply_chat_template(
                [{"role": "system", "content": r.system}, {"role": "user", "content": r.user}],
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
            )
        )
        for r in requests_
    ]
    assert backend.count_tokens(requests_) == expected
    assert backend.count_tokens([]) == []
    text = tok.decode(backend.render(requests_[:1])[0])
    assert text.startswith("<|begin|><|system|>\n" + SYSTEM) and text.endswith("<|assistant|>\n")


def test_system_role_fallback(model_dir, tmp_path):
    folder = build_tiny_llama(tmp_path / "nosys", chat_template=NO_SYSTEM_TEMPLATE)
    b = TransformersBackend(str(folder), device="cpu")
    assert b.system_role is False
    req = LLMRequest("SYS", "hello [1]", max_tokens=3)
    text = b.tokenizer.decode(b.render([req])[0])
    assert text == "<|begin|><|user|>\nSYS\n\nhello [1]<|end|>\n<|assistant|>\n"
    [c] = b.complete([req])
    assert c.ok and c.usage.input_tokens == b.count_tokens([req])[0]


# --- generation -----------------------------------------------------------------------------
def test_generation_matches_manual_greedy(backend, requests_):
    got = backend.complete(requests_[:2])
    ids = backend.render(requests_[:2])
    for c, prompt, req in zip(got, ids, requests_):
        ref = _reference_greedy(backend, prompt, 6)
        assert backend.tokenizer.eos_token_id not in ref  # so all 6 tokens are kept
        assert isinstance(c.text, str) and c.ok
        assert c.text == backend.tokenizer.decode(ref, skip_special_tokens=True)
        assert c.usage.input_tokens == len(prompt)
        assert c.usage.output_tokens == 6
        assert c.stop_reason == "max_tokens"
        assert c.meta["key"] == req.key


def test_batched_equals_one_by_one(model_dir, backend, requests_):
    one = TransformersBackend(str(model_dir), device="cpu", batch_size=1)
    batched = backend.complete(requests_)
    single = one.complete(requests_)
    assert [c.text for c in batched] == [c.text for c in single]
    assert [c.usage for c in batched] == [c.usage for c in single]


def test_max_tokens_per_request_and_order(backend, requests_):
    reqs = [LLMRequest(SYSTEM, _user(k), max_tokens=m) for k, m in ((2, 3), (4, 1), (1, 5))]
    got = backend.complete(reqs)
    assert [c.usage.output_tokens for c in got] == [3, 1, 5]
    assert all(c.stop_reason == "max_tokens" for c in got)
    ref = _reference_greedy(backend, backend.render(reqs[2:])[0], 5)
    assert got[2].text == backend.tokenizer.decode(ref, skip_special_tokens=True)


def test_stops_at_end_of_sequence(model_dir, backend, requests_):
    """Declare the 4th greedy token a stop token: the answer ends before it, 'end_turn'."""
    prompt = backend.render(requests_[:1])[0]
    ref = _reference_greedy(backend, prompt, 8)
    j = next(i for i in range(1, 8) if ref[i] not in ref[:i])
    lm = AutoModelForCausalLM.from_pretrained(model_dir)
    lm.generation_config.eos_token_id = [backend.tokenizer.eos_token_id, ref[j]]
    b = TransformersBackend.from_loaded(lm, AutoTokenizer.from_pretrained(model_dir))
    req = LLMRequest(SYSTEM, requests_[0].user, max_tokens=8)
    [c] = b.complete([req])
    assert c.stop_reason == "end_turn"
    assert c.usage.output_tokens == j
    assert c.text == b.tokenizer.decode(ref[:j], skip_special_tokens=True)


def test_on_result_and_latency(backend, requests_):
    seen = {}
    got = backend.complete(requests_, on_result=lambda i, c: seen.__setitem__(i, c))
    assert sorted(seen) == list(range(len(requests_)))
    assert [seen[i] for i in range(len(requests_))] == got
    assert all(c.latency_s > 0 for c in got)


def test_sampling_is_seeded(model_dir):
    reqs = [LLMRequest(SYSTEM, _user(k), max_tokens=8, temperature=1.0) for k in (1, 2, 3)]
    a = TransformersBackend(str(model_dir), device="cpu", seed=7).complete(reqs)
    b = TransformersBackend(str(model_dir), device="cpu", seed=7).complete(reqs)
    c = TransformersBackend(str(model_dir), device="cpu", seed=8).complete(reqs)
    assert [x.text for x in a] == [x.text for x in b]
    assert [x.text for x in a] != [x.text for x in c]
    assert all(x.usage.output_tokens == 8 for x in a)


def test_too_long_prompt_is_a_failed_completion(model_dir, requests_):
    n = TransformersBackend(str(model_dir), device="cpu").count_tokens(requests_[:2])
    assert n[0] > n[1]
    b = TransformersBackend(str(model_dir), device="cpu", max_input_tokens=n[1])
    long, short = b.complete(requests_[:2])
    assert not long.ok and long.text == "" and long.usage.input_tokens == 0
    assert long.error == transformers_backend.PROMPT_TOO_LONG.format(index=0, n_tokens=n[0], limit=n[1])
    assert short.ok and short.usage.output_tokens == 6


# --- likelihood -----------------------------------------------------------------------------
CANDS = [["[0] Neon Heist", "[1] Red Crown", "x", ""], ["The Silent Harbor 2"], []]


def test_score_equals_manual_log_probability(backend, requests_):
    scores = backend.score(requests_[:3], CANDS)
    assert [s.dtype for s in scores] == [np.float64] * 3
    assert [len(s) for s in scores] == [4, 1, 0]
    prompt = backend.render(requests_[:1])[0]
    cand = backend.tokenizer("[1] Red Crown", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = backend.lm(torch.tensor([prompt + cand])).logits[0]
    logp = torch.log_softmax(logits, dim=-1)
    manual = sum(float(logp[len(prompt) - 1 + t, cand[t]]) for t in range(len(cand)))
    assert scores[0][1] == pytest.approx(manual, abs=1e-4)
    assert scores[0][3] == 0.0  # empty candidate: sum over no tokens
    assert np.all(scores[0][:3] < 0)


def test_score_is_batch_invariant(model_dir, backend, requests_):
    big = TransformersBackend(str(model_dir), device="cpu", batch_size=8)
    one = TransformersBackend(str(model_dir), device="cpu", batch_size=1)
    reqs = requests_[:3] + requests_[5:]
    cands = CANDS + [["Golden Road", "[7] Hidden Empire (1999)", "Wild Storm 3"]]
    a, b = big.score(reqs, cands), one.score(reqs, cands)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-4, rtol=0)


def test_score_bad_inputs(model_dir, backend, requests_):
    with pytest.raises(AnalysisError) as err:
        backend.score(requests_[:2], [["a"]])
    assert str(err.value) == transformers_backend.CANDIDATES_MISMATCH.format(n_requests=2, n_lists=1)
    assert backend.score([], []) == []
    n = backend.count_tokens(requests_[:1])[0]  # prompt fits, prompt + candidate does not
    short = TransformersBackend(str(model_dir), device="cpu", max_input_tokens=n)
    with pytest.raises(AnalysisError, match=f"more than the input limit of {n} tokens"):
        short.score(requests_[:1], [["x"]])


# --- throughput -----------------------------------------------------------------------------
def test_stats_are_consistent(model_dir, requests_):
    b = TransformersBackend(str(model_dir), device="cpu", batch_size=4, gpu_usd_per_hour=3.6)
    assert b.stats()["seconds"] == 0 and b.stats()["prompt_tokens_per_s"] == 0.0
    got = b.complete(requests_)
    s = b.stats()
    assert s["prompt_tokens"] == sum(c.usage.input_tokens for c in got)
    assert s["generated_tokens"] == sum(c.usage.output_tokens for c in got) == 36
    assert s["requests"] == 6 and s["scored_pairs"] == 0
    assert s["seconds"] == pytest.approx(sum(c.latency_s for c in got))
    assert s["prompt_tokens_per_s"] == pytest.approx(s["prompt_tokens"] / s["seconds"])
    assert s["generated_tokens_per_s"] == pytest.approx(36 / s["seconds"])
    assert s["usd"] == pytest.approx(3.6 * s["seconds"] / 3600)
    assert s["peak_gpu_mem_gb"] is None
    b.score(requests_[:1], [["[0] Neon Heist", "x"]])
    # the prompt is read once; each candidate is fed all but its last token
    n_fed = sum(b.count_tokens(requests_[:1])) + sum(
        len(b.tokenizer(t, add_special_tokens=False)["input_ids"]) - 1
        for t in ("[0] Neon Heist", "x")
    )
    s2 = b.stats()
    assert s2["scored_pairs"] == 2 and s2["prompt_tokens"] == s["prompt_tokens"] + n_fed
    b.reset_stats()
    assert b.stats()["prompt_tokens"] == 0 and b.stats()["usd"] == 0.0


def test_key_never_in_repr_or_errors(model_dir):
    # the backend reads no key, but no setting may echo a secret-looking value either
    b = TransformersBackend(str(model_dir), device="cpu")
    assert "sk-" not in repr(b) and "token" not in repr(b).lower()


# --- benchmark script -----------------------------------------------------------------------
def test_bench_script_help_and_cpu_guard():
    script = REPO / "bench" / "bench_llm_gpu.py"
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and "--tiny" in out.stdout and "--gpu-usd-per-hour" in out.stdout
    if not torch.cuda.is_available():
        out = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
        )
        assert out.returncode == 2 and "needs a CUDA GPU" in out.stderr


def test_bench_script_tiny_runs(tmp_path):
    script = REPO / "bench" / "bench_llm_gpu.py"
    out = subprocess.run(
        [sys.executable, str(script), "--tiny", "--users", "6", "--batch-sizes", "2,4",
         "--history", "5", "--candidates", "4", "--max-new-tokens", "3",
         "--out", str(tmp_path / "r.md")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = (tmp_path / "r.md").read_text()
    assert "| tiny | generate | 2 |" in text and "| tiny | likelihood | 4 |" in text
    assert "Weights are RANDOM" in text and "claude-haiku-4-5" in text
