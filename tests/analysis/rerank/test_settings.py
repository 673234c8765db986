"""analysis/rerank/settings.py: each backend gets exactly its own options, a missing model or
base URL is one worded error on each surface, a dry run falls back to approximate counts
only for a remote backend, and the job's config takes the backend's fields from the choice."""

from __future__ import annotations

import pytest

from analysis.errors import AnalysisError
from analysis.rerank.config import RerankConfig
from analysis.rerank.settings import (
    KEY_FROM_SECRETS,
    MISSING_BASE_URL,
    MISSING_MODEL,
    BackendChoice,
    backend_factory,
    backend_options,
    estimate_backend,
    key_source_text,
    make_rerank_backend,
    rerank_config,
)
from analysis.rerank.tokens import ApproxTokenCounter
from analysis.weak_users import WeakRule
from models.llm.fake import FakeBackend


def test_anthropic_gets_its_options_and_leaves_unset_ones_to_the_backend():
    choice = BackendChoice("anthropic", "claude-haiku-4-5", api_key="sk-x", batch=True,
                           prompt_cache=True, key_source="the environment variable X")
    assert backend_options(choice) == {
        "model": "claude-haiku-4-5", "api_key": "sk-x", "batch": True, "prompt_cache": True,
        "key_source": "the environment variable X"}
    cli = BackendChoice("anthropic", "claude-haiku-4-5", base_url="http://h:1", concurrency=8)
    assert backend_options(cli) == {"model": "claude-haiku-4-5", "base_url": "http://h:1",
                                    "batch": False, "prompt_cache": False, "concurrency": 8}


def test_openai_and_transformers_get_only_theirs():
    openai = BackendChoice("openai", "llama", base_url="http://localhost:8000/v1", batch=True,
                           concurrency=4, gpu_usd_per_hour=3.0)
    assert backend_options(openai) == {"model": "llama", "base_url": "http://localhost:8000/v1",
                                       "concurrency": 4}
    local = BackendChoice("transformers", "/models/x", base_url="http://ignored", batch_size=16,
                          gpu_usd_per_hour=2.5, concurrency=8)
    assert local.local and not openai.local
    assert backend_options(local) == {"model": "/models/x", "batch_size": 16,
                                      "gpu_usd_per_hour": 2.5}
    assert backend_options(BackendChoice("fake", "fake-1")) == {"model": "fake-1"}


def test_the_key_is_never_in_the_repr():
    assert "sk-secret" not in repr(BackendChoice("anthropic", "m", api_key="sk-secret"))


@pytest.mark.parametrize("model", ["", "  "])
def test_no_model_is_one_error_worded_per_surface(model):
    with pytest.raises(AnalysisError) as err:
        backend_options(BackendChoice("anthropic", model))
    assert str(err.value) == MISSING_MODEL
    assert err.value.render("cli").endswith("Pass --model NAME (or a local folder with "
                                            "--backend transformers).")
    with pytest.raises(AnalysisError, match="Name a model first"):
        estimate_backend(BackendChoice("anthropic", model), exact=False)


@pytest.mark.parametrize("url", [None, "", " "])
def test_openai_without_a_base_url(url):
    with pytest.raises(AnalysisError) as err:
        backend_options(BackendChoice("openai", "llama", base_url=url))
    assert err.value.message == " ".join(MISSING_BASE_URL.split())
    assert str(err.value).endswith("Enter it in Base URL.")
    assert err.value.render("cli").endswith("Pass --base-url URL.")


def test_builds_the_backend_now_or_later():
    backend = make_rerank_backend(BackendChoice("fake", "fake-2"))
    assert isinstance(backend, FakeBackend) and backend.model == "fake-2"
    later = backend_factory(BackendChoice("fake", "fake-3"))
    assert later().model == "fake-3"
    with pytest.raises(AnalysisError):  # checked at once, not when the job starts
        backend_factory(BackendChoice("openai", "llama"))


def test_a_dry_run_counts_approximately_without_a_usable_backend(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    approx = estimate_backend(BackendChoice("anthropic", "claude-haiku-4-5"))  # no key
    assert isinstance(approx, ApproxTokenCounter)
    assert (approx.name, approx.model) == ("anthropic", "claude-haiku-4-5")
    assert isinstance(estimate_backend(BackendChoice("fake", "f"), exact=False),
                      ApproxTokenCounter)
    assert isinstance(estimate_backend(BackendChoice("fake", "f")), FakeBackend)
    with pytest.raises(AnalysisError):  # a local model's counts need the model itself
        estimate_backend(BackendChoice("transformers", "/no/such/folder"))
    with pytest.raises(AnalysisError, match="needs the base URL"):  # said, not counted around
        estimate_backend(BackendChoice("openai", "llama"))
    assert isinstance(estimate_backend(BackendChoice("openai", "llama"), exact=False),
                      ApproxTokenCounter)


def test_the_config_takes_the_backend_fields_from_the_choice():
    rule = WeakRule(metric="auc", threshold=0.4)
    choice = BackendChoice("transformers", "/m", batch=False, gpu_usd_per_hour=2)
    config = rerank_config(choice, rule, n_candidates=15, max_tokens=None, pilot_users=30)
    assert config == RerankConfig(backend="transformers", model="/m", rule=rule,
                                  n_candidates=15, gpu_usd_per_hour=2.0, pilot_users=30)
    assert isinstance(config.gpu_usd_per_hour, float)
    assert rerank_config(BackendChoice("anthropic", "", batch=True), rule).batch


def test_key_source_in_words():
    assert key_source_text("secrets", "ANTHROPIC_API_KEY") == KEY_FROM_SECRETS
    assert key_source_text("environment", "OPENAI_API_KEY") == (
        "the environment variable OPENAI_API_KEY")
