"""Step 8, all remedies side by side: for one baseline run, every remedy that has been run for
its weak users (LLM reranks, content blends, SASRec with text-initialised item embeddings, and
their no-LLM controls), on the same figures, with their bills.

Definitions (every gain is a difference of test NDCG@k, the run's k; "target users" are the
users a remedy served that have test items; everyone else keeps the baseline's list):

* **gain (target)**: mean over the target users of ``after - before``, with its 95%
  t-interval (:func:`analysis.gains.controls.mean_ci`).
* **net gain (target)**: the gain minus that of the remedy's no-LLM control on the same users,
  paired per user: an LLM rerank against its best no-LLM reordering of the same candidates
  (``net_gain_ndcg@k`` of its table, :mod:`analysis.gains.controls`); SASRec with text item
  embeddings against the same SASRec randomly initialised; a content blend over an LLM
  encoder's vectors against the blend over TF-IDF's; the scenario re-scorer fed by an LLM's
  knowledge vectors against the same head with learned scenario and user ids. A remedy that uses no LLM is itself a
  control: its net gain is its gain over the baseline. An LLM remedy whose control was not run
  has no net gain (shown as missing, never as its raw gain).
* **gain / net gain (everyone)**: the sum over target users divided by every evaluated user
  of the run (the others gain 0).
* **weak remaining**: evaluated users whose test value of the rule's metric is at or below
  the rule's threshold, after the remedy (the target users' values replaced); only when the
  remedy recomputes the rule's metric (list metrics at k), else missing.
* **long-tail exposure@k and hit rate@k** over every evaluated user's list after the remedy
  (:mod:`analysis.metrics.long_tail`); missing for a remedy whose lists were not recorded.
* **cost**: ``one_off_usd`` once per catalogue (item embeddings); ``per_user_usd`` per target
  user per refresh (an LLM call). For ``N`` users a month, each list refreshed ``R`` times a
  month, a share ``s = n_target / n_evaluated`` of them targeted::

      monthly_usd = N * s * R * per_user_usd
      first_month_usd = one_off_usd + monthly_usd

  and ``usd_per_0.01_net_gain`` = ``first_month_usd`` per 0.01 of net gain on everyone
  (missing without a positive net gain).

The comparison reads only what the runs recorded; its figures equal those of the individual
runs (``tests/analysis/gains/test_remedies.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.formatting import NA, fmt_int, fmt_pct, fmt_signed, fmt_usd
from analysis.gains.controls import mean_ci
from analysis.metrics.long_tail import long_tail_figures, long_tail_items
from analysis.runs.baseline import BaselineRun
from analysis.runs.files import item_rows, jsonable
from analysis.runs.remedy import RemedyRun
from analysis.runs.rerank import RerankRun

__all__ = ["RemedyComparison", "compare_remedies"]

BAD_VOLUME = "{what} must be a non-negative number, got {value!r}."

#: the figures of one row, in the order the table shows them
COLUMNS = (
    "remedy", "kind", "uses_llm", "n_target", "gain_target", "gain_low", "gain_high",
    "net_gain_target", "net_low", "net_high", "net_of", "gain_all", "net_gain_all",
    "weak_before", "weak_after", "long_tail_exposure", "long_tail_hit_rate", "one_off_usd",
    "per_user_usd", "monthly_usd", "first_month_usd", "usd_per_0.01_net_gain",
)


@dataclass(frozen=True)
class RemedyComparison:
    """Every remedy of one baseline run on the same figures (see the module docstring).

    Attributes:
        table: one row per remedy, columns :data:`COLUMNS`; the first row is the baseline
            itself (no gain, no cost) for reference.
        k: the list length.
        users_per_month, refreshes_per_month: the volume the costs are projected to.
        rule: the run's weak-user rule, as text.
    """

    table: pd.DataFrame
    k: int
    users_per_month: float
    refreshes_per_month: float
    rule: str

    def cheapest_reaching(self, net_gain: float) -> pd.Series | None:
        """The remedy whose net gain on the target users reaches ``net_gain`` for the least
        first-month cost (ties: the smaller one-off cost, then the table order); None when
        none does."""
        rows = self.table.iloc[1:]
        rows = rows[rows["net_gain_target"].to_numpy(float) >= net_gain]
        if rows.empty:
            return None
        return rows.sort_values(["first_month_usd", "one_off_usd"], kind="stable").iloc[0]

    def shown(self) -> pd.DataFrame:
        """The table as a reader sees it (CLI, page, report): one formatted string per cell."""
        t, nd = self.table, f"NDCG@{self.k}"

        def with_ci(mean, low, high):
            return [NA if not np.isfinite(m) else f"{fmt_signed(m)} ({fmt_signed(lo)} to "
                    f"{fmt_signed(hi)})" for m, lo, hi in zip(mean, low, high, strict=True)]

        weak = [NA if pd.isna(b) else f"{fmt_int(b)} -> {fmt_int(a)}" if pd.notna(a)
                else f"{fmt_int(b)} -> {NA}" for b, a in zip(t["weak_before"], t["weak_after"],
                                                             strict=True)]
        return pd.DataFrame({
            "remedy": t["remedy"],
            "uses LLM": np.where(t["uses_llm"], "yes", "no"),
            "users served": t["n_target"].map(fmt_int),
            f"{nd} gain, served (95% CI)": with_ci(t["gain_target"], t["gain_low"],
                                                    t["gain_high"]),
            "net gain, served (95% CI)": with_ci(t["net_gain_target"], t["net_low"],
                                                   t["net_high"]),
            "net of": t["net_of"].fillna(NA),
            "net gain, everyone": t["net_gain_all"].map(lambda v: fmt_signed(v, 5)),
            "weak users (test)": weak,
            "long-tail exposure": t["long_tail_exposure"].map(fmt_pct),
            "long-tail hit rate": t["long_tail_hit_rate"].map(fmt_pct),
            "one-off": t["one_off_usd"].map(fmt_usd),
            "per user served": t["per_user_usd"].map(fmt_usd),
            "per month": t["monthly_usd"].map(fmt_usd),
            "first month": t["first_month_usd"].map(fmt_usd),
        })

    def verdict(self, target_gain: float | None = None) -> str:
        """One sentence a reviewer can decide from: the cheapest remedy reaching
        ``target_gain`` (net NDCG@k gain on the users it serves), or the best there is."""
        nd = f"NDCG@{self.k}"
        rows = self.table.iloc[1:]
        if rows.empty:
            return "No remedy has been run for this run yet."
        volume = (f"{fmt_int(self.users_per_month)} users a month, lists refreshed "
                  f"{self.refreshes_per_month:g} times a month")
        if target_gain is not None:
            best = self.cheapest_reaching(target_gain)
            if best is not None:
                sure = ("its interval excludes zero" if best["net_low"] > 0
                        else "but its 95% interval includes zero: not established")
                return (f"Cheapest remedy reaching a net {nd} gain of {fmt_signed(target_gain)} "
                        f"on the users it serves: {best['remedy']} "
                        f"({fmt_signed(best['net_gain_target'])}, {sure}), "
                        f"{fmt_usd(best['first_month_usd'])} the first month at {volume}.")
        net = rows["net_gain_target"].to_numpy(float)
        if not np.isfinite(net).any():
            return "No remedy has a net gain yet: run the no-LLM control of each LLM remedy."
        best = rows.iloc[int(np.nanargmax(net))]
        sure = ("its interval excludes zero" if best["net_low"] > 0
                else "a loss: its 95% interval lies below zero" if best["net_high"] < 0
                else "its 95% interval includes zero: no gain is established")
        head = ("" if target_gain is None
                else f"No remedy reaches a net gain of {fmt_signed(target_gain)}. ")
        cost = f"{fmt_usd(best['first_month_usd'])} the first month at {volume}."
        if best["net_gain_target"] > 0:
            return (f"{head}The largest net {nd} gain on the users served is "
                    f"{best['remedy']}'s ({fmt_signed(best['net_gain_target'])}, {sure}), {cost}")
        return (f"No remedy gains on the users it serves: the best, {best['remedy']}, "
                f"changes {nd} by {fmt_signed(best['net_gain_target'])} net ({sure}), {cost}")


@dataclass(frozen=True)
class _Served:
    """What one remedy did, in the run's terms (target users by table row)."""

    name: str
    kind: str
    uses_llm: bool
    users: np.ndarray  # user_idx of the target users with test items
    gain: np.ndarray  # their NDCG@k gains
    net: np.ndarray | None  # their net gains (None: no control run)
    net_of: str | None
    after: pd.DataFrame  # their after_<metric> columns
    topk: np.ndarray | None  # their lists after, item_idx
    one_off_usd: float
    per_user_usd: float


def _check_volume(what: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise AnalysisError(BAD_VOLUME.format(what=what, value=value))
    return float(value)


def _ids_to_idx(ids, index: pd.Index) -> np.ndarray:
    return index.get_indexer(pd.Index(np.asarray(ids).astype(str))).astype(np.int64)


def _from_rerank(rerank: RerankRun, run: BaselineRun) -> _Served:
    k = run.k
    nd = f"ndcg@{k}"
    per = rerank.per_user
    users = (per["user_idx"].to_numpy(np.int64) if "user_idx" in per
             else _ids_to_idx(per["user_id"], pd.Index(run.dataset.user_ids.astype(str))))
    net = per[f"net_gain_{nd}"].to_numpy(float) if f"net_gain_{nd}" in per else None
    control = (rerank.summary.net_gain or {}).get("control")
    topk = item_rows(per["topk"], run.dataset.item_ids, k) if "topk" in per else None
    sent = max(int(rerank.summary.n_requests or len(per)), 1)
    cfg = rerank.config
    return _Served(
        name=f"LLM rerank: {cfg.backend} {cfg.model}", kind="llm_rerank", uses_llm=True,
        users=users, gain=per[f"gain_{nd}"].to_numpy(float), net=net,
        net_of=f"{control} reordering" if control else None,
        after=per[[c for c in per if c.startswith("after_")]].reset_index(drop=True),
        topk=topk, one_off_usd=0.0,
        per_user_usd=float(rerank.summary.usd_total_including_cached) / sent)


def _from_remedy(remedy: RemedyRun, run: BaselineRun, controls: dict) -> _Served:
    s, per = remedy.summary, remedy.per_user
    nd = f"ndcg@{run.k}"
    users = (per["user_idx"].to_numpy(np.int64) if "user_idx" in per
             else _ids_to_idx(per["user_id"], pd.Index(run.dataset.user_ids.astype(str))))
    gain = per[f"gain_{nd}"].to_numpy(float)
    net, net_of = (gain, "baseline") if not s.uses_llm else (None, None)
    control = controls.get((s.control, s.target)) if s.uses_llm and s.control else None
    if control is not None:
        paired = pd.Series(control.gain, index=control.users).reindex(users)
        if paired.notna().all():
            net, net_of = gain - paired.to_numpy(float), control.name
    return _Served(
        name=s.label, kind=s.kind, uses_llm=s.uses_llm, users=users, gain=gain, net=net,
        net_of=net_of, after=per[[c for c in per if c.startswith("after_")]]
        .reset_index(drop=True), topk=remedy.topk, one_off_usd=float(s.one_off_usd),
        per_user_usd=float(s.per_user_usd))


def _weak_counts(run: BaselineRun, served: _Served | None) -> tuple[int | None, int | None]:
    """Evaluated users at or below the rule's threshold on test, before and after."""
    metric = run.summary.weak_users.rule.metric
    threshold = run.summary.weak_users.threshold_value
    per = run.per_user
    if threshold is None or metric not in per:
        return None, None
    evaluated = per["evaluated"].to_numpy(bool)
    values = per[metric].to_numpy(float).copy()
    before = int((values[evaluated] <= threshold).sum())
    if served is None:
        return before, before
    col = f"after_{metric}"
    if col not in served.after:
        return before, None
    values[served.users] = served.after[col].to_numpy(float)
    return before, int((values[evaluated] <= threshold).sum())


def _long_tail(run: BaselineRun, served: _Served | None, tail: np.ndarray):
    """Long-tail exposure and hit rate of every evaluated user's list after the remedy."""
    k = run.k
    evaluated = np.flatnonzero(run.per_user["evaluated"].to_numpy(bool))
    lists = run.rankings[:, :k].astype(np.int64)
    if served is not None:
        if served.topk is None:
            return None, None
        lists = lists.copy()
        lists[served.users] = served.topk[:, :k]
    figures = long_tail_figures(lists[evaluated], run.split.test[evaluated], tail, k)
    return figures.exposure, figures.hit_rate


def _row(run: BaselineRun, served: _Served | None, tail: np.ndarray, n_evaluated: int,
         volume: tuple[float, float]) -> dict:
    weak_before, weak_after = _weak_counts(run, served)
    exposure, hit_rate = _long_tail(run, served, tail)
    if served is None:
        return {"remedy": "baseline (no remedy)", "kind": "baseline", "uses_llm": False,
                "n_target": 0, "weak_before": weak_before, "weak_after": weak_after,
                "long_tail_exposure": exposure, "long_tail_hit_rate": hit_rate,
                "one_off_usd": 0.0, "per_user_usd": 0.0, "monthly_usd": 0.0,
                "first_month_usd": 0.0}
    mean, low, high = mean_ci(served.gain)
    net_mean, net_low, net_high = (mean_ci(served.net) if served.net is not None
                                   else (np.nan, np.nan, np.nan))
    n = len(served.users)
    users_per_month, refreshes = volume
    monthly = users_per_month * (n / max(n_evaluated, 1)) * refreshes * served.per_user_usd
    first = served.one_off_usd + monthly
    net_all = float(np.sum(served.net) / max(n_evaluated, 1)) if served.net is not None \
        else np.nan
    return {
        "remedy": served.name, "kind": served.kind, "uses_llm": served.uses_llm,
        "n_target": n, "gain_target": mean, "gain_low": low, "gain_high": high,
        "net_gain_target": net_mean, "net_low": net_low, "net_high": net_high,
        "net_of": served.net_of,
        "gain_all": float(np.sum(served.gain) / max(n_evaluated, 1)),
        "net_gain_all": net_all, "weak_before": weak_before, "weak_after": weak_after,
        "long_tail_exposure": exposure, "long_tail_hit_rate": hit_rate,
        "one_off_usd": served.one_off_usd, "per_user_usd": served.per_user_usd,
        "monthly_usd": monthly, "first_month_usd": first,
        "usd_per_0.01_net_gain": first / (net_all / 0.01) if net_all > 0 else np.nan,
    }


def _distinct(remedies) -> list[RemedyRun]:
    """The remedies less repeats of the same computation (same kind, users, encoder, settings
    and seed: e.g. the random-table control each SASRec text run saves), the first kept."""
    seen, out = set(), []
    for remedy in remedies:
        s = remedy.summary
        key = (s.kind, s.target, s.encoder, s.seed, s.n_target,
               json.dumps(jsonable(s.settings), sort_keys=True))
        if key not in seen:
            seen.add(key)
            out.append(remedy)
    return out


def compare_remedies(run: BaselineRun, *, reranks=(), remedies=(), users_per_month: float = 0.0,
                     refreshes_per_month: float = 1.0) -> RemedyComparison:
    """Every given remedy of ``run`` on the same figures (see the module docstring).

    Args:
        run: the baseline run the remedies were run for.
        reranks: :class:`~analysis.runs.rerank.RerankRun` of this run.
        remedies: :class:`~analysis.runs.remedy.RemedyRun` of this run (read back with the
            run's ids, so each has ``user_idx`` and ``topk``), newest first: an LLM remedy is
            netted against the first no-LLM remedy given of its control's kind and target;
            a repeat of the same computation (kind, users, encoder, settings, seed) is shown
            once.
        users_per_month: users served a month (the cost projection's ``N``).
        refreshes_per_month: list refreshes per user a month (``R``).

    Raises:
        AnalysisError: a negative or non-finite volume.
    """
    volume = (_check_volume("Users per month", users_per_month),
              _check_volume("Refreshes per month", refreshes_per_month))
    n_evaluated = int(run.per_user["evaluated"].to_numpy(bool).sum())
    tail = long_tail_items(run.split.train)
    remedies = _distinct(remedies)
    controls: dict = {}
    for remedy in remedies:  # the no-LLM remedies first: the LLM ones are netted against them
        if not remedy.summary.uses_llm:
            controls.setdefault((remedy.summary.kind, remedy.summary.target),
                                _from_remedy(remedy, run, {}))  # the first given of a kind
    served = [_from_rerank(r, run) for r in reranks]
    served += [_from_remedy(r, run, controls) for r in remedies]
    rows = [_row(run, None, tail, n_evaluated, volume)]
    rows += [_row(run, s, tail, n_evaluated, volume) for s in served]
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    rule = run.summary.weak_users.rule
    cut = (f"<= {rule.threshold:g}" if rule.threshold is not None
           else f"<= the {rule.percentile:g}th percentile")
    text = f"validation {rule.metric} {cut}" + (" and inactive" if rule.require_inactive else "")
    return RemedyComparison(table=table, k=run.k, users_per_month=volume[0],
                            refreshes_per_month=volume[1], rule=text)
