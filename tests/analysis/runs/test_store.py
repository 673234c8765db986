"""A run stores its fitted model and provenance; loading it never refits the baseline."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analysis.cli import main
from analysis.errors import AnalysisError
from analysis.ingest import load_dataset
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.explain import explain_user
from analysis.rerank.plan import plan_rerank
from analysis.runs.baseline import load_run
from analysis.runs.baseline_folder import write_run_outputs
from analysis.runs.provenance import dataset_sha256, package_versions
from analysis.workspace import Workspace
from models.baselines import MODEL_NAMES, BaselineRecommender
from models.llm.fake import FakeBackend
from tests.datasets import make_dataset

LLM = "claude-haiku-4-5"  # any priced name: the fake backend answers
COMMAND = ["python", "-m", "analysis", "evaluate", "--dataset", "d"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    data, ws = root / "data", root / "ws.duckdb"
    assert (
        main(
            [
                "--quiet",
                "synth",
                "--users",
                "150",
                "--items",
                "80",
                "--seed",
                "5",
                "--out",
                str(data),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "--quiet",
                "ingest",
                "--interactions",
                str(data / "interactions.parquet"),
                "--items",
                str(data / "items.parquet"),
                "--name",
                "d",
                "--workspace",
                str(ws),
            ]
        )
        == 0
    )
    return ws


def _run(workspace: Path, out: Path, model: str):
    dataset = load_dataset(Workspace(workspace), "d")
    result = run_pipeline(dataset, EvaluateConfig(model=model, seed=4))
    write_run_outputs(result, out, workspace=str(workspace), command=COMMAND)
    return result


def _no_fit(self, *args, **kwargs):
    raise AssertionError(f"{self.name} was refitted")


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_a_loaded_run_scores_with_its_stored_model_and_never_refits(
    workspace, tmp_path, monkeypatch, model
):
    result = _run(workspace, tmp_path / "run", model)
    monkeypatch.setattr(BaselineRecommender, "fit", _no_fit)
    run = load_run(tmp_path / "run")
    assert run.model_is_stored
    users = np.arange(run.dataset.n_users)
    np.testing.assert_array_equal(run.model.score_users(users), result.model.score_users(users))
    # the rerank plan (both protocols) and the per-user explanation use that model
    cache = CallCache(Workspace(tmp_path / "calls.duckdb"))
    backend = FakeBackend(LLM)
    for protocol in ("realistic", "paper"):
        config = RerankConfig(backend="fake", model=LLM, protocol=protocol)
        plan = plan_rerank(run, config, backend, cache)
        uid = run.per_user["user_id"].to_numpy()[plan.users[0]]
        assert explain_user(run, config, uid, None) is not None
    cand = plan.candidates  # the paper protocol's, sampled and scored by the loaded model
    np.testing.assert_array_equal(
        run.model.score(cand.user_idx, cand.items), result.model.score(cand.user_idx, cand.items)
    )


def test_a_folder_without_a_stored_model_is_refitted_with_a_warning(workspace, tmp_path):
    result = _run(workspace, tmp_path / "run", "als")
    (tmp_path / "run" / "model.npz").unlink()
    run = load_run(tmp_path / "run")
    assert not run.model_is_stored
    with pytest.warns(UserWarning, match="has no stored model"):
        model = run.model
    users = np.arange(run.dataset.n_users)  # ALS is deterministic for a seed
    np.testing.assert_array_equal(model.score_users(users), result.model.score_users(users))


def test_summary_records_versions_dataset_hash_seed_and_command(workspace, tmp_path):
    result = _run(workspace, tmp_path / "run", "pop")
    prov = json.loads((tmp_path / "run" / "summary.json").read_text())["provenance"]
    assert prov["command"] == COMMAND
    assert prov["seed"] == 4
    assert prov["dataset_sha256"] == dataset_sha256(result.dataset)
    assert len(prov["dataset_sha256"]) == 64
    assert prov["packages"]["numpy"] == np.__version__
    assert set(prov["packages"]) >= {
        "python",
        "numpy",
        "scipy",
        "implicit",
        "duckdb",
        "pandas",
        "pyarrow",
    }
    assert prov["model_file"] == "model.npz"
    assert "model=pop" in prov["settings"] and "seed=4" in prov["settings"]
    assert package_versions()["pandas"] is not None


def test_the_app_records_its_settings_instead_of_a_command(workspace, tmp_path):
    dataset = load_dataset(Workspace(workspace), "d")
    result = run_pipeline(dataset, EvaluateConfig(model="pop", seed=1, k=5))
    write_run_outputs(result, tmp_path / "run", workspace=str(workspace))
    prov = json.loads((tmp_path / "run" / "summary.json").read_text())["provenance"]
    assert prov["command"] is None
    assert prov["settings"].startswith("evaluate model=pop() split=temporal() k=5 ")


def test_the_cli_records_its_command_line(workspace, tmp_path):
    ws = tmp_path / "ws.duckdb"
    shutil.copy(workspace, ws)
    argv = [
        "--quiet",
        "evaluate",
        "--dataset",
        "d",
        "--model",
        "pop",
        "--workspace",
        str(ws),
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    prov = json.loads((tmp_path / "run" / "summary.json").read_text())["provenance"]
    assert prov["command"][1:] == ["-m", "analysis", *argv]


def test_load_run_refuses_a_dataset_whose_hash_changed(workspace, tmp_path):
    _run(workspace, tmp_path / "run", "pop")
    path = tmp_path / "run" / "summary.json"
    summary = json.loads(path.read_text())
    summary["provenance"]["dataset_sha256"] = "0" * 64
    path.write_text(json.dumps(summary))
    with pytest.raises(AnalysisError, match="SHA-256 differs"):
        load_run(tmp_path / "run")


def test_dataset_hash_covers_content_not_order_or_name():
    ds = make_dataset([0, 0, 1, 2], [0, 1, 1, 2], [5, 3, 4, 1], [10, 20, 30, 40])
    order = np.array([3, 1, 0, 2])
    shuffled = replace(
        ds,
        name="other",
        user_idx=ds.user_idx[order],
        item_idx=ds.item_idx[order],
        value=ds.value[order],
        timestamp=ds.timestamp[order],
    )
    assert dataset_sha256(shuffled) == dataset_sha256(ds)
    changed = replace(ds, value=np.array([5, 3, 4, 2], np.float32))
    assert dataset_sha256(changed) != dataset_sha256(ds)
    later = replace(ds, timestamp=ds.timestamp + 1)
    assert dataset_sha256(later) != dataset_sha256(ds)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hash_order_is_the_full_lexsort(seed):
    from analysis.runs.provenance import _hash_order

    rng = np.random.default_rng(seed)
    n = 5000
    u = rng.integers(0, 50, n)
    i = rng.integers(0, 30, n)  # many repeated (user, item) pairs
    ts = rng.integers(0, 5, n)  # and ties in time among them
    by_pair = np.lexsort((i, u))  # how the workspace returns them: ties in any order
    for uu, ii, tt in [(u[by_pair], i[by_pair], ts[by_pair]), (u, i, ts)]:
        np.testing.assert_array_equal(_hash_order(uu, ii, tt), np.lexsort((tt, ii, uu)))
    for m in (0, 1):
        np.testing.assert_array_equal(_hash_order(u[:m], i[:m], ts[:m]), np.arange(m))


def test_the_stored_split_is_read_back_and_an_unreadable_one_recomputed(workspace, tmp_path,
                                                                        monkeypatch):
    import analysis.runs.baseline as run_files

    result = _run(workspace, tmp_path / "run", "pop")
    assert (tmp_path / "run" / "split.npz").is_file()
    calls = []
    real = run_files.make_split
    monkeypatch.setattr(run_files, "make_split", lambda *a, **k: calls.append(1) or real(*a, **k))
    run = load_run(tmp_path / "run")
    assert calls == []  # read, not recomputed
    np.testing.assert_array_equal(run.split.fold, result.split.fold)
    assert run.split.strategy == result.split.strategy and run.split.seed == result.split.seed
    (tmp_path / "run" / "split.npz").write_bytes(b"not an npz")
    again = load_run(tmp_path / "run")
    assert calls == [1]
    np.testing.assert_array_equal(again.split.fold, result.split.fold)


def test_a_stored_split_whose_rows_moved_is_recomputed(tmp_path):
    from analysis.runs.baseline import _row_order_digest, _stored_split, save_split
    from analysis.split import make_split

    # user 0 rated item 0 twice (rows 0 and 1); rows sorted by (user, item) as loaded
    u = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    i = [0, 0, 1, 2, 0, 1, 2, 3, 1, 2, 3, 4]
    r = [5, 2, 4, 3, 5, 4, 3, 1, 2, 5, 4, 4]
    t = [10, 20, 30, 40, 11, 21, 31, 41, 12, 22, 32, 42]
    ds = make_dataset(u, i, r, t)
    split = make_split(ds, "random", seed=1)
    save_split(split, tmp_path / "split.npz")
    got = _stored_split(tmp_path / "split.npz", ds, "random", 1, split.params)
    np.testing.assert_array_equal(got.fold, split.fold)
    # the repeated pair's rows came back in the other order: the folds no longer line up
    swapped = make_dataset(u, i, [r[1], r[0], *r[2:]], [t[1], t[0], *t[2:]])
    assert _row_order_digest(swapped) != _row_order_digest(ds)
    assert _stored_split(tmp_path / "split.npz", swapped, "random", 1, split.params) is None
