"""An export analysed at scale (DuckDB in place) gives the in-memory definitions' figures."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.external import ExportFiles, ScaleConfig, analyse_export
from analysis.gains.cost import PriceTable
from analysis.rerank.history import history_phrase
from analysis.rerank.prompts import approx_tokens, item_texts, render_prompt
from analysis.rerank.templates import load_template
from analysis.subgroups import subgroup_report
from analysis.subgroups._binning import quantile_bins
from tests.analysis.external._export import write_export

N_USERS, N_ITEMS, C = 260, 60, 20


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return write_export(tmp_path_factory.mktemp("export"))


def test_end_to_end_equals_in_memory_definitions(export, tmp_path):
    files, frames = export
    config = ScaleConfig(name="prod-v7", k=10, n_candidates=C, n_boot=50, min_group_size=20,
                         memory_limit="64MB", block_users=37)
    r = analyse_export(files, tmp_path / "run", config)
    pu = pd.read_parquet(tmp_path / "run" / "per_user").sort_values("user_id")
    assert len(pu) == N_USERS and r.test.n_users == N_USERS
    # weak users: numpy's linear 20th percentile of val_ndcg@10, judged on the test lists
    val = pu["val_ndcg@10"].to_numpy(dtype=float)
    threshold = np.percentile(val[~np.isnan(val)], 20)
    assert r.threshold == pytest.approx(threshold, rel=1e-12)
    weak = np.nan_to_num(val, nan=np.inf) <= threshold
    assert r.n_weak == int(weak.sum()) == (pu["weak"]).sum()
    assert r.n_judged == int((~np.isnan(val)).sum())
    assert any(n.startswith(f"{r.n_weak / r.n_judged:.1%} are at or below the 20th "
                            f"percentile (0), not 20%") for n in r.notes)
    saved = pd.read_parquet(tmp_path / "run" / "weak_users.parquet")
    assert saved["user_id"].tolist() == pu.loc[weak, "user_id"].tolist()
    # subgroups: subgroup_report of the in-memory table with the same features
    n_train = frames["history"].groupby("user_id").size().reindex(pu["user_id"]).to_numpy()
    table = pd.DataFrame({
        "ndcg@10": pu["ndcg@10"].to_numpy(dtype=float),
        "activity": quantile_bins(n_train.astype(float), 4),
        "inactive": n_train < n_train.mean(),
        "country": pu["country"].to_numpy(),
    })
    by_dim = {rep.dimension: rep for rep in r.subgroups}
    for dim in ("activity", "inactive", "country"):
        want = subgroup_report(table, "ndcg@10", dim, weak=weak, n_boot=0, min_group_size=20)
        got = by_dim[dim]
        assert got.by_group["group"].tolist() == want.by_group["group"].tolist()
        assert got.by_group["size"].tolist() == want.by_group["size"].tolist()
        np.testing.assert_allclose(got.by_group[["mean", "median", "weak_share"]],
                                   want.by_group[["mean", "median", "weak_share"]], rtol=1e-12)
        assert got.kruskal_p == pytest.approx(want.kruskal_p, rel=1e-9)
    assert ("activity", "country") in by_dim and len(r.tests) == 6  # 3 dimensions + 3 pairs
    # weak vs rest on the test metric
    wr = r.weak_vs_rest.by_group.set_index("group")
    x = table["ndcg@10"].to_numpy()
    assert wr.loc["weak", "mean"] == pytest.approx(np.nanmean(x[weak]), rel=1e-12)
    assert wr.loc["rest", "mean"] == pytest.approx(np.nanmean(x[~weak]), rel=1e-12)
    # the bill: render_prompt of every weak user's prompt, tokens counted the offline way
    _check_bill(r, frames, pu.loc[weak, "user_id"].to_numpy())
    html = (tmp_path / "run" / "report.html").read_text()
    assert f"prod-v7 fails {r.n_weak:,} of {r.n_judged:,} users" in html
    for dim in ("activity", "inactive", "country"):
        assert f"<h3>{dim}</h3>" in html
    assert "Kruskal-Wallis p" in html and "Holm" in html and "<script" not in html
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["name"] == "prod-v7" and summary["weak"]["n_weak"] == r.n_weak
    assert summary["users"] == N_USERS and summary["llm_bill"]["prompts"] == r.n_weak


def _check_bill(r, frames, weak_users):
    run, hist, items = frames["test_run"], frames["history"], frames["items"]
    ids = np.arange(N_ITEMS)
    table = items.set_index("item_id").reindex(ids).reset_index(drop=True)
    texts = item_texts(table, ids, ids)
    tmpl = load_template("paper")
    total = 0
    for u in weak_users:  # per user on purpose: the reference renders each prompt
        cands = run[run.user_id == u].sort_values(["rank", "item_id"])["item_id"].to_numpy()[:C]
        h = hist[hist.user_id == u].sort_values(["timestamp", "item_id"],
                                                ascending=[False, True]).head(10)
        req = render_prompt(tmpl, texts[h["item_id"].to_numpy()].tolist(),
                            h["rating"].tolist(), texts[cands].tolist(),
                            history_order=history_phrase("recent", {}), cleaned=True)
        total += approx_tokens(req.system) + approx_tokens(req.user)
    assert r.bill.estimate.input_tokens == total
    price = PriceTable().price("claude-haiku-4-5")
    out = (5 * C + 10) * len(weak_users)
    want = (total * price.input + out * price.output) / 1e6
    assert r.bill.estimate.expected_usd == pytest.approx(want, rel=1e-12)


def test_without_validation_selects_on_a_random_half(export, tmp_path):
    files, _ = export
    only_test = ExportFiles(test_run=files.test_run, test_heldout=files.test_heldout)
    config = ScaleConfig(n_boot=0, memory_limit="64MB", seed=3)
    r = analyse_export(only_test, tmp_path / "a", config)
    again = analyse_export(only_test, tmp_path / "b", config)
    assert any("random half" in n for n in r.notes)
    assert 0 < r.n_judged < N_USERS and r.n_weak == again.n_weak and r.threshold == again.threshold
    assert (tmp_path / "a" / "weak_users.parquet").read_bytes() == \
        (tmp_path / "b" / "weak_users.parquet").read_bytes()
    assert r.bill.history == "none"


def test_refusals_leave_nothing_half_written(export, tmp_path):
    files, _ = export
    with pytest.raises(AnalysisError, match="one of ndcg"):
        analyse_export(files, tmp_path / "x", ScaleConfig(weak_metric="auc"))
    with pytest.raises(AnalysisError, match="exactly one of a threshold or a percentile"):
        analyse_export(files, tmp_path / "x", ScaleConfig(weak_threshold=0.1))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(AnalysisError, match="not empty"):
        analyse_export(files, tmp_path / "full", ScaleConfig())
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    bad = ExportFiles(test_run=files.test_run, test_heldout=files.test_heldout,
                      users=files.history.replace("history", "items"))
    with pytest.raises(AnalysisError, match="no user_id column"):
        analyse_export(bad, tmp_path / "y", ScaleConfig(n_boot=0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]  # no partial folder left
