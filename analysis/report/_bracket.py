"""The free bracket of an LLM's gain, for a report of a baseline run without a rerank."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.formatting import fmt_int, fmt_metric
from analysis.report._html import CONTROL_NAMES, table
from analysis.runs.baseline import BaselineRun, load_run
from analysis.runs.store import RunInfo


def dry_run_bracket(run: BaselineRun) -> dict | None:
    """The free bracket of an LLM's NDCG@k on the run's weak users, before any LLM call.

    The weak users of the run's own rule that have test items, their realistic candidates
    (the baseline's top ``n_candidates``), and on them the baseline order, the best no-LLM
    reordering and the oracle ceiling (:func:`analysis.gains.controls.bracket`): what the
    LLM rerank page's dry run shows, without building a prompt (cheap: one pass over the
    candidate lists; no token count, so no price).

    Args:
        run: the :class:`~analysis.runs.baseline.BaselineRun`.

    Returns:
        ``baseline``, ``best``, ``best_value``, ``ceiling``, ``n_users``, ``n_candidates``,
        ``k``; None when no weak user has test items.
    """
    from analysis.gains.controls import bracket, control_report
    from analysis.rerank.candidates import realistic_candidates

    per_user = run.per_user
    users = np.flatnonzero(per_user["weak"].to_numpy(bool) & per_user["evaluated"].to_numpy(bool))
    if len(users) == 0:
        return None
    k, n_candidates = run.k, run.n_candidates
    candidates = realistic_candidates(run.rankings, users.astype(np.int64), run.split.test,
                                      n_candidates=n_candidates, seed=run.summary.seed)
    found = bracket(control_report(run, candidates, k))
    return {**found, "n_users": len(users), "n_candidates": n_candidates, "k": k}


def loaded_or_none(baseline: RunInfo, loaded: BaselineRun | None) -> BaselineRun | None:
    """``loaded``, or the run read from ``baseline``'s folder; None when that run cannot be
    loaded (its dataset gone or changed: the report goes without the sections needing it)."""
    if loaded is not None:
        return loaded
    try:
        return load_run(baseline.path)
    except AnalysisError:
        return None


def bracket_view(found: dict) -> dict:
    """The bracket's paragraph and its three-row table (baseline, best free, ceiling)."""
    k = found["k"]
    best = CONTROL_NAMES.get(found["best"], found["best"])
    text = (f"On the baseline's own top {found['n_candidates']} candidates of the "
            f"{fmt_int(found['n_users'])} weak users with test items, measured for free: the "
            f"baseline order scores NDCG@{k} {fmt_metric(found['baseline'])}, the best no-LLM "
            f"reordering ({best}) "
            f"{fmt_metric(found['best_value'])}, and a perfect reordering "
            f"{fmt_metric(found['ceiling'])}. "
            "Any reranking of these candidates lands between the first and the last; an LLM is "
            "worth paying for only above the best free one.")
    rows = pd.DataFrame({"ordering": ["baseline order", f"best no-LLM ({best})",
                                      "ceiling (oracle)"],
                         f"NDCG@{k}": [found["baseline"], found["best_value"], found["ceiling"]]})
    return {"text": text, "table": table(rows)}
