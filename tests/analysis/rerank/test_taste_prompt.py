"""The taste line in the rerank prompt (``RerankConfig.taste``): its text, byte-identical
prompts when off, exact sizes and tokens with it, the halved history of ``instead``, the
per-user explanation, the config's round trip and the CLI flag."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from analysis.cli import main
from analysis.errors import AnalysisError
from analysis.rerank.config import RerankConfig
from analysis.rerank.explain import explain_user
from analysis.rerank.plan import plan_rerank
from analysis.rerank.prompts import approx_tokens, format_taste, load_template, render_prompt
from analysis.rerank.tokens import ApproxTokenCounter
from analysis.weak_users import WeakRule

MODEL = "claude-haiku-4-5"
FEW = WeakRule(metric="auc", percentile=20.0)


@pytest.fixture(scope="module")
def run_dir(small_run_dir):
    return small_run_dir


def _plan(run, cache, **kw):
    cfg = RerankConfig(backend="anthropic", model=MODEL, rule=FEW, **kw)
    return plan_rerank(run, cfg, ApproxTokenCounter("anthropic", MODEL), cache,
                       pricing_only=True)


def test_taste_line_text():
    line = format_taste(np.array([0.25, 0.6, 0.15, 0.0]), ["A (1)", "B", "C", "D"])
    assert line == "Preferred kinds of items: 60% like B; 25% like A (1); 15% like C"
    assert format_taste(np.array([0.5, 0.5]), ["A", "B"], top=1) == (
        "Preferred kinds of items: 50% like A")  # ties to the lower index
    assert format_taste(np.zeros(3), ["A", "B", "C"]) == ""


def test_render_appends_the_line_to_the_history_block_and_nothing_without_it():
    t = load_template("paper")
    base = render_prompt(t, ["X", "Y"], None, ["C1", "C2"])
    assert render_prompt(t, ["X", "Y"], None, ["C1", "C2"], taste="") == base
    with_line = render_prompt(t, ["X", "Y"], None, ["C1", "C2"], taste="Preferred kinds: z")
    assert with_line.user == base.user.replace("X\nY\n", "X\nY\nPreferred kinds: z\n")
    alone = render_prompt(t, [], None, ["C1"], taste="L")
    assert "):\nL\n\n" in alone.user


def test_off_prompts_are_unchanged_and_beside_sizes_are_exact(run, cache):
    off = _plan(run, cache)
    explicit = _plan(run, cache, taste="off", taste_params={"n_categories": 3})
    assert explicit.requests == off.requests
    assert off.prompts.taste is None
    beside = _plan(run, cache, taste="beside", taste_params={"n_categories": 3})
    lines = beside.prompts.taste
    assert all(line.startswith("Preferred kinds of items: ") for line in lines)
    reqs = beside.requests
    for req, line in zip(reqs, lines, strict=True):
        assert f"\n{line}\n\n" in req.user
    # exact sizes and the tokens the dry run counts include the line
    np.testing.assert_array_equal(beside.prompts.sizes.chars,
                                  [len(r.system) + len(r.user) for r in reqs])
    np.testing.assert_array_equal(beside.input_tokens,
                                  [approx_tokens(r.system) + approx_tokens(r.user) for r in reqs])
    np.testing.assert_array_equal(
        beside.prompts.sizes.user_chars - off.prompts.sizes.user_chars,
        [len(line) + 1 for line in lines])
    assert beside.estimate.input_tokens > off.estimate.input_tokens
    assert [r.key for r in reqs] != off.keys  # another prompt, another cache entry


def test_instead_keeps_the_recent_half_of_the_history(run, cache):
    off = _plan(run, cache, history="recent")
    instead = _plan(run, cache, history="recent", taste="instead",
                    taste_params={"n_categories": 3, "source": "factors"})
    h = (off.history.items >= 0).sum(axis=1)
    kept = (instead.history.items >= 0).sum(axis=1)
    np.testing.assert_array_equal(kept, (h + 1) // 2)
    first = np.arange(off.history.items.shape[1])[None, :] < kept[:, None]
    np.testing.assert_array_equal(np.where(first, off.history.items, -1), instead.history.items)
    reqs = instead.requests
    np.testing.assert_array_equal(instead.prompts.sizes.chars,
                                  [len(r.system) + len(r.user) for r in reqs])
    assert all("Preferred kinds of items: " in r.user for r in reqs)
    # the per-user explanation rebuilds the same halved history
    uid = run.per_user.loc[int(instead.users[0]), "user_id"]
    ex = explain_user(run, instead.config, uid, None)
    assert len(ex.history) == int(kept[0])


def test_config_round_trip_and_errors(run, cache):
    cfg = RerankConfig(max_tokens=100, taste="beside",
                       taste_params={"n_categories": 4, "source": "factors"})
    assert RerankConfig.from_dict(cfg.to_dict()) == cfg
    old = {k: v for k, v in cfg.to_dict().items() if not k.startswith("taste")}
    assert RerankConfig.from_dict(old).taste == "off"  # summaries written before the option
    with pytest.raises(AnalysisError, match="use off, beside or instead"):
        _plan(run, cache, taste="always")
    with pytest.raises(AnalysisError, match="Unknown taste parameter"):
        _plan(run, cache, taste="beside", taste_params={"k": 3})
    bad = replace(cfg, rule=FEW, backend="anthropic", model=MODEL, taste_params={
        "n_categories": 1})
    with pytest.raises(AnalysisError, match="integer >= 2"):
        plan_rerank(run, bad, ApproxTokenCounter("anthropic", MODEL), cache, pricing_only=True)


def test_cli_taste_flag_in_the_dry_run(run_dir, tmp_path, capsys):
    base = ["--quiet", "rerank", "--run", str(run_dir), "--backend", "anthropic", "--model",
            MODEL, "--percentile", "20", "--dry-run", "--workspace", str(tmp_path / "w.duckdb")]
    assert main(base) == 0
    off = capsys.readouterr().out
    assert main([*base, "--taste", "beside", "--taste-categories", "3"]) == 0
    on = capsys.readouterr().out

    def tokens(out: str) -> int:
        line = next(x for x in out.splitlines() if x.startswith("input tokens: "))
        return int(line.split()[2].replace(",", ""))

    assert tokens(on) > tokens(off)
