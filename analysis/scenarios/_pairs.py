"""Per-(user, scenario) list metrics: each user measured within each scenario they have
held-out items in.

A *pair* is a (user, scenario) with at least one relevant held-out item of that scenario in
the test or the validation fold (the scenario of a held-out item is the scenario of its
interaction, :meth:`analysis.dataset.Dataset.pair_scenarios`). Its truth is the user's
held-out relevant items of that scenario only; its list depends on the mode:

* ``catalogue``: the user's own top-k of the run, whatever scenario its items came from
  (what the user sees from one shared model);
* ``scenario``: the run's top-C candidates kept only where the item belongs to the scenario
  (at least one *training* interaction in it), then the first k (what a scenario's own
  surface would show; fewer than k items pad with nothing, which can only lower the metric).

Every list metric of :func:`analysis.metrics.compute_user_metrics` is computed at once on
the pair table (one row per pair). Test metrics use the run's stored test ranking; the
``val_`` metrics use a validation ranking (training items excluded, as the evaluation pass
ranks validation), recomputed from the run's model, since runs do not store it; an imported
run (rankings only) has no validation metrics per pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.errors import AnalysisError, surface_hints
from analysis.metrics import compute_user_metrics, metric_columns
from analysis.split import TRAIN, Split
from models.topk import batch_size_for, mask_rows, topk_rows

__all__ = [
    "BAD_MODE",
    "MODES",
    "NO_SCENARIOS",
    "Mode",
    "ScenarioPairs",
    "compute_pair_metrics",
    "pair_metrics",
    "scenario_items",
    "scenario_users",
    "validation_rankings",
]

Mode = Literal["catalogue", "scenario"]
MODES: tuple[str, ...] = ("catalogue", "scenario")
#: labels of the per-user cross-scenario dimension (training scenarios per user)
CROSS, SINGLE, NONE = "cross-scenario", "single-scenario", "no training scenario"

NO_SCENARIOS = surface_hints(
    "The dataset {name!r} has no scenario column, so there is nothing to analyse per scenario.",
    app="Ingest the data with its scenario column (scenario, domain, surface or category) on "
        "the Data page and train a new baseline.",
    cli="Ingest it again with its scenario column and run evaluate again.",
)
BAD_MODE = "The scenario list mode must be 'catalogue' or 'scenario', got {value!r}."


@dataclass(frozen=True)
class ScenarioPairs:
    """Per-(user, scenario) metrics of one run in one list mode.

    Attributes:
        table: one row per pair, sorted by (user_idx, scenario code): ``user_idx``,
            ``user_id``, ``scenario`` (Categorical of the scenario names, in code order),
            ``scenario_code``, ``n_test`` / ``n_validation`` (relevant held-out items of the
            scenario), the test metrics ``ndcg@k``, ``ndcg_graded@k``, ``recall@k``,
            ``precision@k``, ``hit@k``, ``mrr@k``, ``ap@k`` (NaN without test items of the
            scenario) and the same prefixed ``val_`` (NaN without validation items, or for
            every pair of a run without validation lists), then ``scenario_users`` (the
            user's cross-scenario group, :func:`scenario_users`).
        k: list length.
        mode: ``catalogue`` or ``scenario`` (module docstring).
        scenario_names: the dataset's scenario names, by code.
        has_validation: whether the ``val_`` columns could be computed (False: imported run).
        users: every user's cross-scenario group (:func:`scenario_users`, index user_idx).
    """

    table: pd.DataFrame
    k: int
    mode: str
    scenario_names: tuple[str, ...]
    has_validation: bool
    users: pd.Series

    @property
    def metric(self) -> str:
        return f"ndcg@{self.k}"


def _check(split: Split, mode: str) -> None:
    if not split.dataset.has_scenarios:
        raise AnalysisError(NO_SCENARIOS.format(name=split.dataset.name))
    if mode not in MODES:
        raise AnalysisError(BAD_MODE.format(value=mode))


def scenario_items(split: Split) -> np.ndarray:
    """bool (n_scenarios, n_items): item ``i`` belongs to scenario ``s`` when it has at
    least one training interaction in ``s``."""
    ds = split.dataset
    train = split.fold == TRAIN
    out = np.zeros((len(ds.scenario_names), ds.n_items), dtype=bool)
    out[ds.scenario[train].astype(np.int64), ds.item_idx[train]] = True
    return out


def scenario_users(split: Split) -> pd.Series:
    """Per user (index user_idx): ``cross-scenario`` (training interactions in >= 2
    scenarios), ``single-scenario`` (exactly one) or ``no training scenario`` (none), as an
    ordered Categorical."""
    ds = split.dataset
    train = split.fold == TRAIN
    n_s = max(len(ds.scenario_names), 1)
    keys = np.unique(ds.user_idx[train].astype(np.int64) * n_s + ds.scenario[train])
    n_scen = np.bincount(keys // n_s, minlength=ds.n_users)
    labels = np.where(n_scen >= 2, CROSS, np.where(n_scen == 1, SINGLE, NONE))
    return pd.Series(pd.Categorical(labels, categories=[SINGLE, CROSS, NONE], ordered=True),
                     index=pd.RangeIndex(ds.n_users, name="user_idx"), name="scenario_users")


def _scenario_lists(lists: np.ndarray, scen: np.ndarray, in_scen: np.ndarray,
                    k: int) -> np.ndarray:
    """(P, k): each row of ``lists`` (P, C) kept where the item is in the row's scenario,
    order kept, the first k (-1 padded)."""
    items = np.where(lists >= 0, lists, 0)
    keep = (lists >= 0) & in_scen[scen[:, None], items]
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept cells first, in order
    out = np.take_along_axis(lists, order, axis=1)
    out[~np.take_along_axis(keep, order, axis=1)] = -1
    if out.shape[1] < k:
        out = np.pad(out, ((0, 0), (0, k - out.shape[1])), constant_values=-1)
    return out.astype(np.int32)


def _pair_truth(m: sp.csr_matrix, split: Split, keys: np.ndarray,
                n_s: int) -> sp.csr_matrix:
    """Held-out gains of ``m`` (n_users x n_items) re-rowed per pair (rows = ``keys``)."""
    m = m.tocoo()
    scen = split.dataset.pair_scenarios(m.row, m.col).astype(np.int64)
    ok = scen >= 0
    key = m.row[ok].astype(np.int64) * n_s + scen[ok]
    rows = np.searchsorted(keys, key)
    out = sp.csr_matrix((m.data[ok], (rows, m.col[ok])), shape=(len(keys), m.shape[1]))
    out.sum_duplicates()
    return out


def compute_pair_metrics(split: Split, test_lists: np.ndarray, val_lists: np.ndarray | None,
                         k: int, mode: str = "catalogue") -> ScenarioPairs:
    """Per-(user, scenario) metrics from the users' lists (module docstring).

    Args:
        split: the run's split (its dataset has scenarios).
        test_lists: int (n_users, >= k) test ranking per user (item_idx best first, -1
            padded); ``scenario`` mode filters all of its columns (the top C).
        val_lists: the same for validation (training items excluded), or None: no ``val_``
            metrics.
        k: list length.
        mode: ``catalogue`` or ``scenario``.

    Returns:
        A :class:`ScenarioPairs`.

    Raises:
        AnalysisError: the dataset has no scenarios, or an unknown mode.
    """
    _check(split, mode)
    ds = split.dataset
    n_s = max(len(ds.scenario_names), 1)
    folds = {"": split.test, "val_": split.validation}
    found = []
    for m in folds.values():
        c = m.tocoo()
        scen = ds.pair_scenarios(c.row, c.col).astype(np.int64)
        found.append(c.row[scen >= 0].astype(np.int64) * n_s + scen[scen >= 0])
    keys = np.unique(np.concatenate(found))
    users, scen = (keys // n_s).astype(np.int64), (keys % n_s).astype(np.int64)
    in_scen = scenario_items(split) if mode == "scenario" else None
    cols: dict[str, object] = {
        "user_idx": users.astype(np.int32),
        "user_id": ds.user_ids[users],
        "scenario": pd.Categorical.from_codes(scen, categories=list(ds.scenario_names)),
        "scenario_code": scen.astype(np.int16),
    }
    counts = {}
    for prefix, m in folds.items():
        truth = _pair_truth(m, split, keys, n_s)
        counts["n_test" if not prefix else "n_validation"] = np.diff(truth.indptr)
        lists = test_lists if not prefix else val_lists
        if lists is None:
            cols.update({prefix + n: np.full(len(keys), np.nan)
                         for n in metric_columns(k)[:-1]})  # less n_relevant
            continue
        rows = np.asarray(lists)[users]
        recs = rows[:, :k] if in_scen is None else _scenario_lists(rows, scen, in_scen, k)
        for name, values in compute_user_metrics(recs, truth, k).values.items():
            if name != "n_relevant":
                cols[prefix + name] = values
    table = pd.DataFrame(cols)
    table.insert(4, "n_test", counts["n_test"].astype(np.int64))
    table.insert(5, "n_validation", counts["n_validation"].astype(np.int64))
    groups = scenario_users(split)
    table["scenario_users"] = groups.to_numpy()[users]
    return ScenarioPairs(table=table, k=int(k), mode=mode,
                         scenario_names=tuple(ds.scenario_names),
                         has_validation=val_lists is not None, users=groups)


def validation_rankings(model, split: Split, n: int) -> np.ndarray:
    """int32 (n_users, n): the model's validation ranking (training items excluded, ties to
    the lower item_idx, as the evaluation pass ranks it) of every user with validation items;
    other rows -1. Scored in batches of users."""
    ds = split.dataset
    out = np.full((ds.n_users, n), -1, dtype=np.int32)
    users = np.flatnonzero(np.diff(split.validation.indptr) > 0)
    train = split.train
    bs = batch_size_for(ds.n_items)
    for start in range(0, len(users), bs):  # loop over batches, not users
        batch = users[start:start + bs]
        scores = np.ascontiguousarray(model.score_users(batch), dtype=np.float32)
        mask_rows(scores, train[batch])
        items, _ = topk_rows(scores, n)
        out[batch, : items.shape[1]] = items
    return out


def pair_metrics(run, mode: str = "catalogue", *, validation: bool = True) -> ScenarioPairs:
    """:func:`compute_pair_metrics` of a :class:`~analysis.runs.baseline.BaselineRun`.

    Test lists: the run's stored ranking (top C). Validation lists: recomputed from the run's
    model (:func:`validation_rankings`, one scoring pass) unless ``validation`` is False or
    the run is imported (no model: ``has_validation`` False).

    Raises:
        AnalysisError: as :func:`compute_pair_metrics`.
    """
    _check(run.split, mode)
    val = None
    if validation and not run.summary.is_imported:
        val = validation_rankings(run.model, run.split, run.n_candidates)
    return compute_pair_metrics(run.split, run.rankings, val, run.k, mode)
