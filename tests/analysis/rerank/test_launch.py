"""Tests of analysis/rerank/launch.py: what a rerank's settings still lack before Launch, and
whether a dry run's figures still belong to the settings; with cost.entered_price."""

from __future__ import annotations

import dataclasses

import pytest

from analysis.errors import AnalysisError
from analysis.gains.cost import ModelPrice, PriceTable, entered_price
from analysis.rerank.config import RerankConfig
from analysis.rerank.launch import (
    MISSING_BASE_URL,
    MISSING_FOLDER,
    MISSING_GPU_PRICE,
    MISSING_KEY,
    MISSING_LOCAL_FOR_LIKELIHOOD,
    MISSING_MODEL,
    MISSING_PRICE,
    EstimateSettings,
    changed_settings,
    check_launch,
)
from analysis.weak_users import WeakRule

URL = "http://localhost:8000/v1"


def test_a_complete_anthropic_setup_lacks_nothing():
    cfg = RerankConfig(backend="anthropic", model="claude-haiku-4-5")
    assert check_launch(cfg, PriceTable(), key_found=True, key_env_var="ANTHROPIC_API_KEY") == []


def test_anthropic_without_a_key():
    cfg = RerankConfig(backend="anthropic", model="claude-haiku-4-5")
    assert check_launch(cfg, PriceTable(), key_found=False, key_env_var="ANTHROPIC_API_KEY") == [
        MISSING_KEY.format(env_var="ANTHROPIC_API_KEY")]


def test_no_model_named():
    cfg = RerankConfig(backend="anthropic", model=" ")
    assert check_launch(cfg, PriceTable(), key_found=True) == [MISSING_MODEL]


def test_an_openai_compatible_model_needs_a_price_and_a_url_but_no_key():
    cfg = RerankConfig(backend="openai", model="meta-llama/Llama-3.1-8B-Instruct")
    prices = PriceTable()
    assert check_launch(cfg, prices, key_found=False, base_url=URL) == [
        MISSING_PRICE.format(model=cfg.model)]
    priced = prices.with_model(cfg.model, entered_price(0.2, 0.6))
    assert check_launch(cfg, priced, key_found=False, base_url=URL) == []
    assert check_launch(cfg, priced, key_found=False, base_url=" ") == [MISSING_BASE_URL]


def test_a_local_model_needs_a_folder_and_a_gpu_price(tmp_path):
    prices = PriceTable()
    cfg = RerankConfig(backend="transformers", model="", gpu_usd_per_hour=0.0)
    assert check_launch(cfg, prices, key_found=True) == [MISSING_MODEL, MISSING_GPU_PRICE]
    gone = str(tmp_path / "nowhere")
    cfg = dataclasses.replace(cfg, model=gone, gpu_usd_per_hour=2.0)
    assert check_launch(cfg, prices, key_found=True) == [MISSING_FOLDER.format(path=gone)]
    cfg = dataclasses.replace(cfg, model=str(tmp_path))
    assert check_launch(cfg, prices, key_found=True) == []  # no price table entry needed
    cfg = dataclasses.replace(cfg, model="org/cached-model")  # a hub id: the local cache
    assert check_launch(cfg, prices, key_found=True) == []


def test_likelihood_mode_needs_a_local_model():
    cfg = RerankConfig(backend="anthropic", model="claude-haiku-4-5", mode="likelihood")
    assert check_launch(cfg, PriceTable(), key_found=True) == [MISSING_LOCAL_FOR_LIKELIHOOD]


def test_entered_price_follows_the_table_ratios():
    p = entered_price(2.0, 10.0)
    assert p == ModelPrice(2.0, 10.0, 2.5, 0.2, 0.5)
    table = PriceTable().with_model("claude-next-9", p)
    assert table.price("claude-next-9") == p
    for bad in ((-1.0, 1.0), (1.0, float("nan"))):
        with pytest.raises(AnalysisError, match="cannot be negative"):
            entered_price(*bad)


def _settings(**changes) -> EstimateSettings:
    cfg = RerankConfig(backend="anthropic", model="claude-haiku-4-5",
                       rule=WeakRule(metric="auc", percentile=20.0))
    base = {"config": cfg, "price": PriceTable().price(cfg.model), "exact_tokens": False,
            "base_url": None, "prompt_cache": False}
    return EstimateSettings(**{**base, **changes})


def test_an_estimate_is_current_only_while_its_settings_are():
    old = _settings()
    assert changed_settings(old, _settings()) == []
    opus = dataclasses.replace(old.config, model="claude-opus-4-6")
    assert changed_settings(old, _settings(config=opus,
                                           price=PriceTable().price("claude-opus-4-6"))) == [
        "model", "price"]
    rule = dataclasses.replace(old.config, rule=WeakRule(metric="auc", percentile=10.0))
    assert changed_settings(old, _settings(config=rule)) == ["rule"]
    assert changed_settings(old, _settings(exact_tokens=True)) == ["token counting"]
    assert changed_settings(old, None) == ["model"]
