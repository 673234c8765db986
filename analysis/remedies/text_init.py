"""A remedy with a one-off LLM cost and no per-request call: SASRec whose item table comes
from item text embeddings (LLMEmb, Liu et al. 2024), against the same SASRec with a random
table (the no-LLM control), for a baseline run's target users.

Both SASRec models are fitted on the run's split (its training sequences) with the same
parameters and seed; only the item table differs (:mod:`models.baselines._sasrec_text`: PCA of
the text vectors behind a trained adapter, ``text_table`` ``"frozen"`` or ``"trainable"``).
Nothing is chosen: the parameters and epochs are given, so the test figures select nothing;
the validation NDCG@k of both models is reported beside them (ranked with the training items
masked, as the run's validation pass does).

Test rankings follow the run's evaluation: every item the user has in training or validation
is masked, the top k taken with ties to the lower item index. A target user (the run's weak
users, :func:`analysis.remedies.targets.select_targets`) gets the SASRec list instead of the
baseline's: "before" is the run's own per-user test metric (``per_user`` columns ``ndcg@k``,
``recall@k``, ``hit@k``), "after" the SASRec list's, gain = after - before; everyone else keeps
the baseline's list (gain 0).

For reporting, both models are also measured on every evaluated user (users with test items),
by subgroup (the run's subgroup dimensions, :func:`analysis.subgroups.distributions.
subgroup_dimensions`, plus ``weak``), and on long-tail items (:mod:`analysis.metrics.long_tail`:
exposure and hit rate of the least popular 80% of the items, by training popularity) for
everyone and for the target users.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.embeddings import encoder_label
from analysis.errors import AnalysisError
from analysis.metrics import auc_from_scores, compute_user_metrics
from analysis.metrics.long_tail import long_tail_figures, long_tail_items
from analysis.remedies.targets import select_targets
from analysis.runs.baseline import BaselineRun
from analysis.runs.remedy import RemedyRun, RemedySummary
from analysis.subgroups.distributions import subgroup_dimensions
from models.topk import batch_size_for, mask_rows, topk_rows

__all__ = ["BAD_TEXT_VECTORS", "MODELS", "NO_TARGET_WITH_TEST", "TextInitRemedy",
           "sasrec_text_remedy"]

#: the three rankings compared: the run's own baseline and the two SASRec models
MODELS = ("reference", "sasrec_random", "sasrec_text")

BAD_TEXT_VECTORS = (
    "The item vectors have shape {shape} for a dataset of {n_items:,} items: embed this "
    "dataset's items (one vector per item)."
)
NO_TARGET_WITH_TEST = "No {target} user of the run has test items: nothing to measure on."

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class TextInitRemedy:
    """SASRec with a text item table and its random-table control, measured on one run.

    Attributes:
        text: the ``sasrec_text`` remedy (control ``sasrec_random``) for the target users.
        random: the ``sasrec_random`` remedy (no control) for the same users.
        everyone: one row per evaluated user: ``user_idx``, ``user_id``, ``weak``,
            ``target``, the run's subgroup columns, and ``<model>_<m>`` for each model of
            :data:`MODELS` and ``m`` in ``ndcg@k``, ``recall@k``, ``hit@k``.
        by_subgroup: ``dimension``, ``group`` (text), ``n_users`` and the mean
            ``<model>_ndcg@k`` of each model, over the evaluated users of each group;
            dimension ``all`` (group ``everyone``) first, then ``weak``, then the run's.
        long_tail: ``model``, ``users`` (``everyone`` or the target name), ``exposure``,
            ``hit_rate``, ``n_slots``, ``n_users_with_tail_truth``.
        fit_seconds: wall-clock seconds of each SASRec fit (``sasrec_text``,
            ``sasrec_random``); no figure depends on them.
        k: the list length.
    """

    text: RemedyRun
    random: RemedyRun
    everyone: pd.DataFrame
    by_subgroup: pd.DataFrame
    long_tail: pd.DataFrame
    fit_seconds: dict[str, float]
    k: int

    def mean(self, model: str, users: str = "everyone", metric: str = "ndcg") -> float:
        """Mean test ``metric@k`` of ``model`` over ``everyone`` or the ``target`` users."""
        table = self.everyone if users == "everyone" else self.everyone[self.everyone["target"]]
        return float(table[f"{model}_{metric}@{self.k}"].mean())


def _rank(model, users: np.ndarray, seen: sp.csr_matrix, k: int,
          truth: sp.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """int ``(len(users), k)``: each user's top k of ``model``'s scores, ``seen`` masked;
    with ``truth`` (rows aligned with ``users``) also each user's AUC over the unmasked
    items (:func:`analysis.metrics.auc_from_scores`, the run's ``auc``)."""
    out = np.full((len(users), k), -1, dtype=np.int64)
    auc = None if truth is None else np.full(len(users), np.nan)
    step = batch_size_for(seen.shape[1])
    for start in range(0, len(users), step):
        batch = users[start:start + step]
        scores = np.ascontiguousarray(model.score_users(batch), dtype=np.float32)
        mask_rows(scores, seen[batch])
        out[start:start + step] = topk_rows(scores, k)[0]
        if truth is not None:
            auc[start:start + step] = auc_from_scores(scores, truth[start:start + step])
    return out, auc


def _fit(run: BaselineRun, vectors, text_table: str, params: dict, seed: int, use_gpu,
         progress: Progress | None, low: float, high: float,
         should_stop: Callable[[], bool] | None):
    from models.baselines import make_recommender

    model = make_recommender("sasrec", seed=seed, use_gpu=use_gpu, **params)
    inner = None if progress is None else (
        lambda f, m: progress(low + (high - low) * f, m))
    start = time.perf_counter()
    model.fit(run.split.train, inner, sequences=run.split.train_sequences,
              item_vectors=vectors, text_table=text_table, should_stop=should_stop)
    return model, time.perf_counter() - start


def _subgroup_means(table: pd.DataFrame, dims: list[str], k: int) -> pd.DataFrame:
    cols = [f"{m}_ndcg@{k}" for m in MODELS]
    frames = [pd.DataFrame({"dimension": ["all"], "group": ["everyone"],
                            "n_users": [len(table)], **{c: [table[c].mean()] for c in cols}})]
    for dim in ["weak", *dims]:
        key = table[dim].astype(object).where(table[dim].notna(), "unknown").astype(str)
        g = table.groupby(key, sort=True)[cols].agg("mean")
        g.insert(0, "n_users", table.groupby(key, sort=True).size())
        frames.append(g.rename_axis("group").reset_index().assign(dimension=dim))
    out = pd.concat(frames, ignore_index=True)
    return out[["dimension", "group", "n_users", *cols]]


def sasrec_text_remedy(run: BaselineRun, vectors: np.ndarray, *, encoder_id: str,
                       uses_llm: bool, one_off_usd: float, params: dict | None = None,
                       text_table: str = "frozen", target: str = "weak",
                       seed: int | None = None, use_gpu="auto",
                       progress: Progress | None = None,
                       should_stop: Callable[[], bool] | None = None) -> TextInitRemedy:
    """Fit SASRec with the item table from ``vectors`` and with a random one; measure both.

    Args:
        run: the baseline run (its split, weak users and per-user test metrics).
        vectors: ``(n_items, d)`` item text embeddings (:func:`analysis.embeddings.
            embed_items`' ``vectors``).
        encoder_id: the encoder that made them (recorded).
        uses_llm: whether that encoder is an LLM (the text remedy's ``uses_llm``).
        one_off_usd: the catalogue's embedding cost, once (the text remedy's one-off cost).
        params: SASRec hyperparameters (defaults: :data:`models.baselines.DEFAULT_PARAMS`).
        text_table: ``"frozen"`` or ``"trainable"`` (see :mod:`models.baselines._sasrec_text`).
        target: which users get the remedy (:data:`analysis.remedies.targets.TARGETS`).
        seed: the fits' seed (default: the run's).
        use_gpu: SASRec's device policy.
        progress: optional ``progress(fraction, message)``.
        should_stop: optional cancel hook, asked before every training batch of both fits
            (``SASRec.fit``): once it returns True the fit stops before its next batch.

    Raises:
        AnalysisError: vectors not one per item, unknown target or text_table, bad
            parameters, no target user with test items, or a fit stopped by
            ``should_stop`` (:data:`models.baselines.FIT_CANCELLED`: nothing is returned).
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    n_items = run.dataset.n_items
    if vectors.ndim != 2 or len(vectors) != n_items:
        raise AnalysisError(BAD_TEXT_VECTORS.format(shape=vectors.shape, n_items=n_items))
    split, k, per = run.split, run.k, run.per_user
    users = select_targets(per, target)
    evaluated = per.index.to_numpy(np.int64)[per["evaluated"].to_numpy(bool)]
    chosen = np.isin(evaluated, users)
    if not chosen.any():
        raise AnalysisError(NO_TARGET_WITH_TEST.format(target=target.replace("_", " ")))
    seed = int(run.summary.seed if seed is None else seed)
    params = dict(params or {})
    text_model, text_s = _fit(run, vectors, text_table, params, seed, use_gpu, progress, 0.0, 0.45,
                              should_stop)
    random_model, random_s = _fit(run, None, text_table, params, seed, use_gpu, progress,
                                  0.45, 0.9, should_stop)
    if progress is not None:
        progress(0.9, "ranking the test and validation lists")

    seen = (split.train + split.validation_seen).tocsr()
    truth = split.test[evaluated]
    metrics = [f"ndcg@{k}", f"recall@{k}", f"hit@{k}"]
    everyone = per.loc[evaluated, ["user_id", "weak"]].copy()
    everyone.insert(0, "user_idx", evaluated)
    everyone["target"] = chosen
    dims = subgroup_dimensions(per)
    for dim in dims:
        everyone[dim] = per.loc[evaluated, dim].to_numpy()
    lists = {"reference": np.asarray(run.rankings[evaluated, :k], dtype=np.int64)}
    for m in [*metrics, "auc"]:
        everyone[f"reference_{m}"] = per.loc[evaluated, m].to_numpy(np.float64)
    val_users = per.index.to_numpy(np.int64)[np.diff(split.validation.indptr) > 0]
    val_target = np.isin(val_users, users)
    validation = {}
    for name, model in (("sasrec_random", random_model), ("sasrec_text", text_model)):
        lists[name], everyone[f"{name}_auc"] = _rank(model, evaluated, seen, k, truth)
        values = compute_user_metrics(lists[name], truth, k).values
        for m in metrics:
            everyone[f"{name}_{m}"] = values[m]
        val = compute_user_metrics(_rank(model, val_users, split.train, k)[0],
                                   split.validation[val_users], k).values[f"ndcg@{k}"]
        validation[name] = {f"val_ndcg@{k}": float(val.mean()),
                            f"val_ndcg@{k}_{target}": float(val[val_target].mean())}
    reference_val = per.loc[val_users, f"val_ndcg@{k}"].to_numpy(np.float64)
    reference = {f"reference_val_ndcg@{k}": float(reference_val.mean()),
                 f"reference_val_ndcg@{k}_{target}": float(reference_val[val_target].mean()),
                 "n_users": len(val_users), f"n_users_{target}": int(val_target.sum())}

    tail = long_tail_items(split.train)
    rows = []
    for name, ranked in lists.items():
        for who, mask in (("everyone", np.ones(len(evaluated), bool)), (target, chosen)):
            fig = long_tail_figures(ranked[mask], truth[mask], tail, k)
            rows.append({"model": name, "users": who, "exposure": fig.exposure,
                         "hit_rate": fig.hit_rate, "n_slots": fig.n_slots,
                         "n_users_with_tail_truth": fig.n_users_with_tail_truth})

    def remedy(name: str, model, wall_s: float) -> RemedyRun:
        table = everyone.loc[chosen, ["user_idx"]].reset_index(drop=True)
        for m in [*metrics, "auc"]:
            before = everyone.loc[chosen, f"reference_{m}"].to_numpy()
            after = everyone.loc[chosen, f"{name}_{m}"].to_numpy()
            table[f"before_{m}"], table[f"after_{m}"] = before, after
            table[f"gain_{m}"] = after - before
        is_text, who = name == "sasrec_text", target.replace("_", " ")
        settings = {"model": "sasrec", **model.params, "init": "text" if is_text else "random"}
        if is_text:
            settings.update(text_table=text_table,
                            pca_explained=model.text_state.explained)
        summary = RemedySummary(
            kind=name,
            label=(f"SASRec, item table from {encoder_label(encoder_id)} ({text_table})"
                   if is_text else "SASRec, random item table") + f", {who} users",
            uses_llm=bool(uses_llm) if is_text else False,
            control="sasrec_random" if is_text else None, target=target, k=k,
            n_target=len(users), n_evaluated=len(evaluated),
            one_off_usd=float(one_off_usd) if is_text else 0.0, per_user_usd=0.0,
            encoder=encoder_id if is_text else None, settings=settings,
            validation={**validation[name], **reference}, seed=seed, wall_s=wall_s)
        return RemedyRun(summary=summary, per_user=table, topk=lists[name][chosen])

    if progress is not None:
        progress(1.0, "done")
    return TextInitRemedy(
        text=remedy("sasrec_text", text_model, text_s),
        random=remedy("sasrec_random", random_model, random_s),
        everyone=everyone.reset_index(drop=True),
        by_subgroup=_subgroup_means(everyone, dims, k), long_tail=pd.DataFrame(rows),
        fit_seconds={"sasrec_text": text_s, "sasrec_random": random_s}, k=k)
