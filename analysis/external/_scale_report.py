"""The HTML report of an export analysed at scale (``report.html`` of ``analyse-export``): the
verdict, the headline figures with their intervals, the weak users judged on test, every
subgroup dimension with its family-adjusted test, and the LLM bill; one self-contained file
a product review can decide from (``analysis/templates/export_report.html.j2``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import pandas as pd

from analysis.formatting import fmt_int, fmt_metric, fmt_pct, fmt_usd
from analysis.report._html import ENVIRONMENT, stamp, table
from analysis.subgroups import SubgroupReport

__all__ = ["export_report"]


def _groups(rep: SubgroupReport) -> pd.DataFrame:
    by = rep.by_group
    return pd.DataFrame({
        "group": by["group"], "users": by["size"].astype("int64"), "mean": by["mean"],
        "95% CI low": by["ci_low"], "95% CI high": by["ci_high"],
        "weak share": [fmt_pct(v) for v in by["weak_share"]],
        "small (not ranked)": ["" if r else "small" for r in by["reliable"]],
    })


def _dimension(rep: SubgroupReport, tests: pd.DataFrame) -> dict:
    p = tests.loc[rep.dimension, "p_holm"] if rep.dimension in tests.index else float("nan")
    if rep.worst_group is None:
        text = f"No group has {rep.min_group_size} or more evaluated users."
    else:
        text = (f"Worst group: {rep.worst_group} ({fmt_metric(rep.group_min)}), best "
                f"{fmt_metric(rep.group_max)}: gap {fmt_metric(rep.difference)}, ratio "
                f"{fmt_metric(rep.ratio)}; Kruskal-Wallis p {p:.3g} after Holm's adjustment.")
    return {"name": rep.dimension, "text": text, "table": table(_groups(rep))}


def export_report(result, generated_at: datetime | None = None) -> str:
    """The report of a :class:`~analysis.external.ScaleAnalysis` as one HTML document."""
    r, cfg = result, result.config
    k, metric = cfg.k, cfg.metric_column()
    sel = f"val_{metric}" if r.validation is not None else metric
    wr = r.weak_vs_rest.by_group.set_index("group")
    est = r.bill.estimate
    share = r.n_weak / r.n_judged if r.n_judged else float("nan")

    def mean_ci(group: str) -> str:
        if group not in wr.index:
            return "n/a"
        row = wr.loc[group]
        return (f"{fmt_metric(row['mean'])} [{fmt_metric(row['ci_low'])}, "
                f"{fmt_metric(row['ci_high'])}]")

    verdict = (f"{cfg.name} fails {fmt_int(r.n_weak)} of {fmt_int(r.n_judged)} users "
               f"({fmt_pct(share)}) by the rule {sel} <= {r.threshold:.4g}: their test {metric} "
               f"is {mean_ci('weak')} against {mean_ci('rest')} for the others. Reranking each "
               f"of them once with {est.model} would cost {fmt_usd(est.expected_usd)} expected, "
               f"{fmt_usd(est.upper_bound_usd)} at most (tokens approximate).")
    ndcg, se = r.test.means[f"ndcg@{k}"], r.test.std_errors[f"ndcg@{k}"]
    cards = [("users", fmt_int(r.test.n_users)), ("evaluated", fmt_int(r.test.n_evaluated)),
             (f"NDCG@{k} (± 95%)", f"{fmt_metric(ndcg)} ± {fmt_metric(1.96 * se)}"),
             (f"Recall@{k}", fmt_metric(r.test.means[f"recall@{k}"])),
             ("weak users", f"{fmt_int(r.n_weak)} ({fmt_pct(share)})")]
    chosen_on = ("validation" if r.validation is not None
                 else "a seeded random half of the users (no validation run)")
    tests = r.tests.set_index("dimension")
    singles = [rep for rep in r.subgroups if isinstance(rep.dimension, str)]
    bill = pd.DataFrame({
        "figure": ["prompts (one per weak user with a list)", "weak users without a list",
                   "mean input tokens (approximate)", "expected", "upper bound", "history"],
        "value": [fmt_int(r.bill.n_prompts), fmt_int(r.bill.n_without_list),
                  f"{r.bill.mean_input_tokens:,.1f}", fmt_usd(est.expected_usd),
                  fmt_usd(est.upper_bound_usd), r.bill.history]})
    weak = pd.DataFrame({"group": ["weak", "rest"],
                         f"test {metric} [95% CI]": [mean_ci("weak"), mean_ci("rest")],
                         "users with a test value": [
                             fmt_int(wr.loc[g, "size"]) if g in wr.index else "0"
                             for g in ("weak", "rest")]})
    return ENVIRONMENT.get_template("export_report.html.j2").render(
        title=f"Weakspot report: {cfg.name} (exported rankings, analysed at scale)",
        name=cfg.name, generated=stamp(generated_at or datetime.now(UTC)),
        folder=r.output.name, verdict=verdict, cards=cards, notes=r.notes,
        weak_text=(f"Selected on {chosen_on}, judged on the test lists "
                   f"({fmt_int(r.n_judged)} users could be weak)."),
        subgroups_text=(f"Test {metric} of every evaluated user by group; groups under "
                        f"{cfg.min_group_size} users are listed but never ranked. The tests "
                        "of every dimension and pair are adjusted as one family."),
        dimensions=[_dimension(rep, tests) for rep in singles],
        cost_text=f"One prompt per weak user ({est.note}).",
        tables={"weak": table(weak), "cost": table(bill),
                "tests": table(r.tests.drop(columns=["family_size"]))},
        settings=json.dumps(asdict(cfg), indent=2, default=str))
