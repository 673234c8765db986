"""A self-contained HTML report of a baseline run (and optionally one of its reranks), fit
for a product review, plus the per-user results as CSV and Parquet.

The HTML file needs nothing but a browser: plotly.js is embedded inline once (the first
chart) and every later chart reuses it, so the report opens offline; there is no external
script, stylesheet or font. It records every setting, the dataset, run ids and timestamps,
so a reader can tell exactly what was measured.
"""

from __future__ import annotations

import html
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.subplots import make_subplots

from analysis.errors import AnalysisError
from analysis.formatting import (
    fmt_int,
    fmt_metric,
    fmt_num,
    fmt_pct,
    fmt_signed,
    fmt_usd,
    round_sig,
)
from analysis.runs.baseline import (
    BaselineRun,
    read_cohorts,
    read_per_user,
    read_subgroups,
    read_summary,
)
from analysis.runs.rerank import RerankRun, load_rerank_run, read_rerank_per_user
from analysis.runs.store import RunInfo
from analysis.runs.summary import BaselineSummary, RerankSummary
from analysis.weak_users import WeakRule

__all__ = ["Report", "build_report", "per_user_results", "to_csv_bytes", "to_parquet_bytes"]

NOT_A_BASELINE = "Run {run_id!r} is a {kind} run; build the report from its baseline run."
WRONG_PARENT = (
    "Rerank run {rerank!r} was made from baseline {parent!r}, not {baseline!r}; pick one of "
    "this baseline's reranks."
)
MISSING_FILE = "Run {run_id!r} has no {name} in its folder; re-run it or pick another run."



@dataclass(frozen=True)
class Report:
    """A built report.

    Attributes:
        html: the whole self-contained HTML document.
        baseline_run_id: the baseline run reported.
        rerank_run_id: the rerank run reported, or None.
        generated_at: when it was built (UTC).
        headline: the figures the page previews (JSON-able): ``dataset``, ``model``,
            ``n_users``, ``n_evaluated``, ``ndcg``, ``auc``, ``n_weak``, ``weak_share`` and,
            with a rerank, ``gain_selected``, ``gain_all``, ``weak_before``, ``weak_after``,
            ``usd_spent``, ``usd_per_0.01``; ``verdict``: the report's one-sentence answer.
        n_charts: plotly charts embedded.
    """

    html: str
    baseline_run_id: str
    rerank_run_id: str | None
    generated_at: datetime
    headline: dict
    n_charts: int

    def filename(self) -> str:
        """A file name for the download: ``weakspot-report-<run id>.html``."""
        return f"weakspot-report-{self.rerank_run_id or self.baseline_run_id}.html"


def _read(info: RunInfo, name: str) -> Path:
    p = Path(info.path) / name
    if not p.is_file():
        raise AnalysisError(MISSING_FILE.format(run_id=info.run_id, name=name, path=info.path))
    return p


def _check(baseline: RunInfo, rerank: RunInfo | None) -> None:
    if baseline.kind != "baseline":
        raise AnalysisError(NOT_A_BASELINE.format(run_id=baseline.run_id, kind=baseline.kind))
    if rerank is not None and rerank.parent_run_id != baseline.run_id:
        raise AnalysisError(WRONG_PARENT.format(rerank=rerank.run_id, parent=rerank.parent_run_id,
                                                baseline=baseline.run_id))


def per_user_results(baseline: RunInfo, rerank: RunInfo | None = None) -> pd.DataFrame:
    """One row per user of the baseline run, with the rerank's figures where it sent them.

    Columns: the baseline's ``per_user.parquet`` (``user_id``, every metric on test and
    validation, ``weak``, the subgroup columns...), then with a rerank ``sent_to_llm`` (bool)
    and the rerank's per-user columns prefixed ``llm_`` (``llm_before_ndcg@10``,
    ``llm_after_ndcg@10``, ``llm_gain_ndcg@10``, ``llm_fallback_reason``, ``llm_cost_usd``...;
    missing for users not sent; flags are nullable booleans).

    Raises:
        AnalysisError: a run file is missing, or the rerank is not from this baseline.
    """
    _check(baseline, rerank)
    _read(baseline, "per_user.parquet")
    base = read_per_user(baseline.path)
    if rerank is None:
        return base
    _read(rerank, "rerank_per_user.parquet")
    rr = read_rerank_per_user(rerank.path)
    rr = rr.rename(columns={c: f"llm_{c}" for c in rr.columns if c != "user_id"})
    rr.insert(1, "sent_to_llm", True)
    for c in rr.columns[rr.dtypes == object]:  # texts (fallback reason, error): str dtype
        rr[c] = rr[c].astype("str")
    flags = [c for c in rr.columns if rr[c].dtype == bool and c != "sent_to_llm"]
    out = base.merge(rr, on="user_id", how="left")
    out[flags] = out[flags].astype("boolean")  # missing (not sent) stays <NA>, not object
    out["sent_to_llm"] = out["sent_to_llm"].fillna(False).astype(bool)
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header, no index."""
    return df.to_csv(index=False).encode("utf-8")


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """A Parquet file in memory, no index."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


# --- the report's content, rendered by templates/report.html.j2 ------------------------------

QUESTION = "Which users does our recommender fail, and what would it cost to fix them with an LLM?"
#: groups with fewer users than the run's minimum group size are drawn in this colour and
#: marked in their label
SMALL_GROUP_MARK = " (small)"
_TEMPLATES = Path(__file__).with_name("templates")
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=False,
)
_CONTROL_NAMES = {"llm": "LLM", "baseline": "baseline order", "shuffled": "shuffled (as shown)",
                  "popularity": "popularity", "oracle": "ceiling (oracle)"}


def _table(df: pd.DataFrame, formats: dict[str, Any] | None = None) -> Markup:
    """An escaped HTML table; float columns as metrics (4 decimals) unless ``formats`` says."""
    out = df.copy()
    formats = formats or {}
    for col in out.columns:
        fmt = formats.get(col)
        if fmt is None and pd.api.types.is_float_dtype(out[col]):
            fmt = fmt_metric
        elif fmt is None and pd.api.types.is_integer_dtype(out[col]):
            fmt = fmt_int
        if fmt is not None:
            out[col] = [fmt(v) for v in out[col]]
    return Markup(out.to_html(index=False, border=0, na_rep="n/a", escape=True))


def _rounded(value: Any) -> Any:
    """JSON-able ``value`` with every float at 4 significant digits (settings, prices)."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, float) and np.isfinite(value):
        return round_sig(value)
    return value


def _pre(d: Any) -> Markup:
    text = json.dumps(_rounded(d), indent=2, sort_keys=True, default=str)
    return Markup(html.escape(text))


class _Charts:
    """Embeds figures; plotly.js goes inline with the first one only."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: go.Figure, height: int | None = 380) -> Markup:
        fig.update_layout(template="plotly_white", margin={"l": 40, "r": 20, "t": 60, "b": 40})
        if height is not None:
            fig.update_layout(height=height)
        out = fig.to_html(full_html=False, include_plotlyjs=self.n == 0, include_mathjax=False,
                          div_id=f"weakspot-chart-{self.n}", config={"displaylogo": False})
        self.n += 1
        return Markup(out)


def _label(x: Any) -> str:
    """A category label as plotly shows it literally (plotly renders a subset of HTML)."""
    return html.escape(str(x), quote=False)


def subgroup_figure(sg: pd.DataFrame, title: str, *, value: str = "mean",
                    before: str | None = None, min_size: int = 0) -> go.Figure:
    """One panel per dimension, groups sorted by ``value`` (worst at the top), each labelled
    with its size; groups under ``min_size`` users are marked small and drawn pale.

    Args:
        sg: rows ``dimension``, ``group``, ``size`` (or ``n_users``), ``value`` (and
            ``ci_low``/``ci_high`` for error bars, ``before`` for a before/after pair).
        title: the figure's title.
        value: the column drawn.
        before: a second column drawn beside it (before vs after), or None.
        min_size: the minimum group size; smaller groups are marked.
    """
    dims = list(dict.fromkeys(sg["dimension"]))
    rows = [len(sg[sg["dimension"] == d]) for d in dims]
    fig = make_subplots(rows=len(dims), cols=1, subplot_titles=[_label(d) for d in dims],
                        row_heights=[max(r, 1) for r in rows], vertical_spacing=0.08 / len(dims)
                        + 0.02, shared_xaxes=True)
    for i, dim in enumerate(dims, start=1):
        g = sg[sg["dimension"] == dim].sort_values(value, ascending=False)
        size = g["size" if "size" in g.columns else "n_users"].to_numpy()
        small = size < min_size
        y = [f"{_label(grp)} (n={int(n):,}){SMALL_GROUP_MARK if s else ''}"
             for grp, n, s in zip(g["group"], size, small, strict=True)]
        err = None
        if "ci_low" in g.columns and before is None:
            err = {"type": "data", "symmetric": False,
                       "array": (g["ci_high"] - g[value]).to_numpy(),
                       "arrayminus": (g[value] - g["ci_low"]).to_numpy()}
        if before is not None:
            fig.add_bar(y=y, x=g[before], orientation="h", name="before", marker_color="#88CCEE",
                        showlegend=i == 1, row=i, col=1)
            fig.add_bar(y=y, x=g[value], orientation="h", name="after", marker_color="#117733",
                        showlegend=i == 1, row=i, col=1)
        else:
            fig.add_bar(y=y, x=g[value], orientation="h", error_x=err, showlegend=False,
                        marker_color=["#DDDDDD" if s else "#332288" for s in small],
                        row=i, col=1)
    fig.update_layout(title=title, barmode="group",
                      height=max(300, 90 + 26 * sum(rows) * (2 if before else 1) + 40 * len(dims)))
    return fig


def _baseline(info: RunInfo, summary: BaselineSummary, per_user: pd.DataFrame, charts: _Charts):
    k = summary.k
    nd = f"ndcg@{k}"
    ov, wk, ds = summary.overall, summary.weak_users, summary.dataset
    rule = wk.rule
    cut = (f"≤ {fmt_num(rule.threshold)}" if rule.threshold is not None
           else f"≤ its {rule.percentile:g}th percentile ({fmt_metric(wk.threshold_value)})")
    out: dict[str, Any] = {
        "cards": [(f"NDCG@{k}", fmt_metric(ov[nd], 3)),
                  (f"Recall@{k}", fmt_metric(ov[f"recall@{k}"], 3)),
                  ("AUC", fmt_metric(ov["auc"], 3)),
                  ("Weak users", f"{fmt_int(wk.n_weak)} ({fmt_pct(wk.share)})")],
        "rule_text": (
            f"Weak users: validation {rule.metric} {cut}"
            f"{' and inactive' if rule.require_inactive else ''}, chosen on validation "
            f"and judged on test: their test {rule.metric} is "
            f"{fmt_metric(wk.test_mean_weak, 3)} against {fmt_metric(wk.test_mean_rest, 3)} "
            "for the rest."),
        "subgroups": None, "disparity": None, "cohorts": None,
    }
    ev = per_user[per_user["evaluated"].astype(bool)]
    fig = go.Figure()
    for label, mask, color in (("other users", ~ev["weak"].astype(bool), "#88CCEE"),
                               ("weak users", ev["weak"].astype(bool), "#CC6677")):
        fig.add_histogram(x=ev.loc[mask, nd], name=label, marker_color=color, opacity=0.8,
                          xbins={"start": 0.0, "end": 1.0, "size": 1 / 30})
    fig.update_layout(barmode="overlay", title=f"Per-user test NDCG@{k}",
                      xaxis_title=f"NDCG@{k}", yaxis_title="users", xaxis_range=[0, 1])
    hist = charts(fig)
    sub_chart = None
    min_size = summary.min_group_size
    sg = read_subgroups(info.path)
    if sg is not None:
        sg = sg[~sg["dimension"].str.contains(" x ", regex=False)]
        sub_chart = charts(subgroup_figure(
            sg, f"Mean test NDCG@{k} per subgroup, worst at the bottom (bootstrap 95% CI)",
            min_size=min_size), height=None)
        cols = ["dimension", "group", "size", "mean", "ci_low", "ci_high", "weak_share",
                "reliable"]
        shown = sg[[c for c in cols if c in sg.columns]]
        text = ("Each panel is one dimension, its groups sorted by mean, each labelled with "
                "its number of users.")
        if "reliable" in sg.columns and not sg["reliable"].all():
            text += (f" Groups marked \u201csmall\u201d (reliable False) have fewer than "
                     f"{min_size} users, the minimum group size: their mean and CI are shown "
                     "but too noisy to rank groups by, and they enter no disparity figure below.")
        out["subgroups"] = {"text": text,
                            "table": _table(shown, {"weak_share": fmt_pct})}
    disp = summary.disparity
    if disp:
        dt = pd.DataFrame(disp)
        cols = ["dimension", "worst_group", "group_min", "group_max", "difference", "ratio",
                "kruskal_p", "kruskal_p_holm", "kruskal_p_bh"]
        dt = dt[[c for c in cols if c in dt.columns]].copy()
        pfmt = {c: (lambda p: f"{p:.3g}" if pd.notna(p) else "n/a")
                for c in ("kruskal_p", "kruskal_p_holm", "kruskal_p_bh")}
        first = disp[0]
        text = None
        if first.get("p_family_size") is not None:
            text = (f"Disparity figures use groups of at least {first['min_group_size']} users. "
                    f"p-values: raw, then Holm- and BH-adjusted over {first['p_family_size']} "
                    "tests (every dimension and every pair). A small adjusted p says the groups' "
                    "distributions differ by more than chance; it does not say by how much, why, "
                    "or that the difference matters.")
        out["disparity"] = {"table": _table(dt, pfmt), "text": text}
    c = read_cohorts(info.path)
    if c is not None:
        keep = [x for x in ("rule", "n_users", "share", "val_mean", "test_mean", "mean_metric")
                if x in c.columns]
        text = ("Leaves of a regression tree fitted on validation NDCG, worst first on "
                "validation; test_mean is each cohort's NDCG on the test split the tree never "
                "saw." if "test_mean" in c.columns else None)
        out["cohorts"] = {"text": text, "table": _table(c[keep].head(10), {"share": fmt_pct})}
    stats = pd.DataFrame({"statistic": list(ds),
                          "value": [_stat(v) for v in ds.values()]})
    out["dataset_table"] = _table(stats)
    return out, {"histogram": hist, "subgroups": sub_chart}


def _stat(v: Any) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return str(v)
    return fmt_num(v)


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
    from analysis.gains.controls import bracket
    from analysis.rerank.candidates import realistic_candidates
    from analysis.rerank.plan import control_report

    pu = run.per_user
    users = np.flatnonzero(pu["weak"].to_numpy(bool) & pu["evaluated"].to_numpy(bool))
    if len(users) == 0:
        return None
    k, c = run.k, run.n_candidates
    cands = realistic_candidates(run.rankings, users.astype(np.int64), run.split.test,
                                 n_candidates=c, seed=run.summary.seed)
    out = bracket(control_report(run, cands, k))
    return {**out, "n_users": len(users), "n_candidates": c, "k": k}


def _bracket_view(b: dict) -> dict:
    k = b["k"]
    text = (f"On the baseline's own top {b['n_candidates']} candidates of the "
            f"{fmt_int(b['n_users'])} weak users with test items, measured for free: the "
            f"baseline order scores NDCG@{k} {fmt_metric(b['baseline'])}, the best no-LLM "
            f"reordering ({_CONTROL_NAMES.get(b['best'], b['best'])}) "
            f"{fmt_metric(b['best_value'])}, and a perfect reordering {fmt_metric(b['ceiling'])}. "
            "Any reranking of these candidates lands between the first and the last; an LLM is "
            "worth paying for only above the best free one.")
    rows = pd.DataFrame({"ordering": ["baseline order",
                                      f"best no-LLM ({_CONTROL_NAMES.get(b['best'], b['best'])})",
                                      "ceiling (oracle)"],
                         f"NDCG@{k}": [b["baseline"], b["best_value"], b["ceiling"]]})
    return {"text": text, "table": _table(rows)}


def _net_view(s: RerankSummary, k: int, charts: _Charts):
    net = s.net_gain
    if not net:
        return None, None
    from analysis.gains.controls import PAPER_PROTOCOL_NOTE

    lo, hi = net["ci95"]
    users = s.users or {}
    zero = (" The interval includes zero: these answers do not show that the LLM beats a "
            "free reordering." if net["ci_includes_zero"] else "")
    view: dict[str, Any] = {
        "paper_note": PAPER_PROTOCOL_NOTE if s.config.protocol == "paper" else None,
        "cards": [
            (f"NDCG@{k} gain net of the best control ({net['control']})",
             f"{fmt_signed(net['mean'])} [{fmt_signed(lo)}, {fmt_signed(hi)}]"),
            ("Per +0.01 NDCG, net", fmt_usd(net.get("cost_per_0.01_net_ndcg_usd"))),
            ("Weak users (all) / sent and evaluated",
             f"{users.get('weak_all', 0):,} / {users.get('sent', 0):,}")],
        "text": (f"Net gain: the LLM's NDCG@{k} minus that of the best free reordering of the "
                 f"same candidates, per weak user sent, with its 95% interval; paired Wilcoxon "
                 f"p = {fmt_num(net['wilcoxon_p'])}.{zero} A deployment would pay for every "
                 f"weak user: about {fmt_usd(users.get('deployment_usd_expected'))}."),
        "pilot": None,
    }
    pilot = s.pilot
    if pilot:
        pr = pilot["projected"]
        view["pilot"] = (
            f"Pilot of {pilot['n_sample']:,} of {pilot['n_population']:,} weak users with test "
            f"items: all of them would move mean NDCG@{k} by "
            f"{fmt_signed(pr['net_gain_over_all_users'])} net (95% interval "
            f"{fmt_signed(pr['ci95'][0])} to {fmt_signed(pr['ci95'][1])}) for about "
            f"{fmt_usd(pr['cost_all_weak_usd'])}; {pilot['verdict']}.")
    keys = [n for n in _CONTROL_NAMES if n in net["means"]]
    fig = go.Figure(go.Bar(x=[_CONTROL_NAMES[n] for n in keys], y=[net["means"][n] for n in keys],
                           marker_color=["#CC6677" if n == "llm" else "#88CCEE" for n in keys]))
    fig.update_layout(title=f"Weak users sent: mean NDCG@{k}, LLM against free reorderings",
                      yaxis_title=f"NDCG@{k}", yaxis_range=[0, 1])
    return view, charts(fig)


def _rerank(info: RunInfo, files: RerankRun, charts: _Charts, min_size: int):
    s = files.summary
    g = s.gains
    k = s.k
    nd = f"ndcg@{k}"
    wr = g["weak_remaining"]
    cfg = s.config
    out: dict[str, Any] = {
        "backend": cfg.backend, "model": cfg.model,
        "cards": [
            (f"NDCG@{k} gain, weak users", fmt_signed(g["mean_gain_selected"][nd])),
            (f"NDCG@{k} gain, everyone", fmt_signed(g["mean_gain_all"][nd])),
            ("Weak users remaining", f"{wr['selected_before']:,} → "
             + ("not recomputed" if wr["selected_after"] is None
                else f"{wr['selected_after']:,}")),
            ("Spent", fmt_usd(s.usd_total_including_cached)),
            ("Per +0.01 NDCG", fmt_usd(g.get("cost_per_0.01_ndcg_usd")))],
        "text": (f"{s.n_requests:,} weak users sent, {s.n_reranked:,} reranked "
                 f"({s.n_cached:,} answers reused from the cache); fell back: "
                 f"{s.fallback or 'none'}. Wilcoxon signed-rank p = "
                 f"{fmt_num(g['wilcoxon_p'])}. Cost per weak user "
                 f"{fmt_usd(g.get('cost_per_selected_user_usd'))}."),
        "by_group": None, "curve": None,
        "estimate": _pre(s.estimate or {}),
    }
    out["net"], controls_chart = _net_view(s, k, charts)
    rows = [{"metric": m, "before": g["mean_before"][m], "after": g["mean_after"][m],
             "gain (everyone)": g["mean_gain_all"][m],
             "gain (weak users)": g["mean_gain_selected"][m]} for m in g["mean_before"]]
    out["before_after"] = _table(pd.DataFrame(rows))
    figs: dict[str, Markup | None] = {"controls": controls_chart, "by_group": None, "curve": None}
    bg = files.by_group
    if len(bg):
        figs["by_group"] = charts(subgroup_figure(
            bg, f"Mean NDCG@{k} per subgroup, before vs after (sorted by after)",
            value="mean_after", before="mean_before", min_size=min_size), height=None)
        out["by_group"] = _table(bg)
    cv = files.curve
    if len(cv):
        fig = go.Figure(go.Scatter(
            x=cv["cost_usd"], y=cv["gain"], mode="lines+markers",
            text=[f"threshold {fmt_metric(t)}, {fmt_int(n)} users"
                  for t, n in zip(cv["threshold"], cv["n_users"], strict=True)],
            line={"color": "#332288"}))
        fig.update_layout(title="Cost-benefit curve over thresholds", xaxis_title="dollars",
                          yaxis_title=f"mean NDCG@{k} gain (everyone)")
        figs["curve"] = charts(fig)
        out["curve"] = _table(cv, {"cost_usd": fmt_usd})
    return out, figs


def _cost(s: RerankSummary) -> dict:
    g, net, users = s.gains, s.net_gain or {}, s.users or {}
    spend = s.spend or {}
    rows = [
        ("spent on this report's answers (cached answers at their price)",
         fmt_usd(s.usd_total_including_cached)),
        ("paid by this job", fmt_usd(s.usd_spent_this_job)),
        ("budget cap", fmt_usd(s.budget_usd) if s.budget_usd is not None
         else "none"),
        ("per weak user sent", fmt_usd(g.get("cost_per_selected_user_usd"))),
        ("per +0.01 NDCG (everyone, gross)", fmt_usd(g.get("cost_per_0.01_ndcg_usd"))),
        ("per +0.01 NDCG net of the best control",
         fmt_usd(net.get("cost_per_0.01_net_ndcg_usd"))),
        (f"deployment: all {fmt_int(users.get('weak_all'))} weak users",
         fmt_usd(users.get("deployment_usd_expected"))),
        ("dry-run estimate (expected / upper bound)",
         (f"{fmt_usd((s.estimate or {}).get('expected_usd'))} / "
          f"{fmt_usd((s.estimate or {}).get('upper_bound_usd'))}")),
        ("paid attempts", fmt_int(spend.get("paid_attempts"))),
    ]
    table = _table(pd.DataFrame(rows, columns=["cost", "value"]))
    prices = s.prices or {}
    model = s.config.model
    row = (prices.get("prices") or {}).get(model)
    if row:
        text = (f"{model}: ${fmt_num(row['input'])} per million input tokens, "
                f"${fmt_num(row['output'])} per million output tokens "
                f"(prices of {prices.get('taken_on', 'unknown date')}).")
        prices = {"taken_on": prices.get("taken_on"), model: row}
    else:
        text = f"{model}: priced by GPU time (a local model)."
        prices = prices or {"local": "GPU time"}
    return {"table": table, "price_text": text, "prices": _pre(prices)}


def _rule_words(rule: WeakRule) -> str:
    """A weak-user rule in words: ``validation auc ≤ p40``, ``... ≤ 0.5 and inactive``."""
    cut = (f"≤ {rule.threshold:g}" if rule.threshold is not None
           else f"≤ p{rule.percentile:g}")
    inactive = " and inactive" if rule.require_inactive else ""
    return f"validation {rule.metric} {cut}{inactive}"


def _verdict(summary: BaselineSummary, s: RerankSummary | None, bracket_: dict | None) -> dict:
    k = summary.k
    wk = summary.weak_users
    who = (f"The recommender fails {fmt_int(wk.n_weak)} users "
           f"({fmt_pct(wk.share)}) by the run's weak-user rule.")
    if s is None:
        if bracket_ is None:
            tail = ("What an LLM would gain is not measured yet: no rerank of this run, and no "
                    "weak user with test items to bracket it for free.")
        else:
            tail = (f"What an LLM would gain is not measured yet: no rerank of this run. For "
                    f"free, on their top {bracket_['n_candidates']} candidates, NDCG@{k} lies "
                    f"between the baseline's {fmt_metric(bracket_['baseline'])} and a perfect "
                    f"reordering's {fmt_metric(bracket_['ceiling'])}; the best no-LLM "
                    f"reordering reaches {fmt_metric(bracket_['best_value'])}.")
        return {"question": QUESTION, "answer": f"{who} {tail}", "note": None}
    net, users = s.net_gain, s.users or {}
    deploy = fmt_usd(users.get("deployment_usd_expected"))
    if net:
        lo, hi = net["ci95"]
        per = net.get("cost_per_0.01_net_ndcg_usd")
        per_text = (f"+0.01 NDCG net costs {fmt_usd(per)}" if per is not None
                    else "there is no net gain to buy")
        tail = (f"Reranking {fmt_int(net['n_users'])} weak users of the rerank's rule "
                f"({_rule_words(s.config.rule)}) with {s.config.model} "
                f"moved their NDCG@{k} by {fmt_signed(net['mean'])} net of the best free "
                f"reordering ({net['control']}), 95% interval {fmt_signed(lo)} to "
                f"{fmt_signed(hi)}; {per_text}, and reranking all "
                f"{fmt_int(users.get('weak_all'))} weak users of its rule would cost about "
                f"{deploy}.")
    else:
        g = s.gains
        tail = (f"Reranking {fmt_int(g['n_selected'])} weak users with {s.config.model} "
                f"moved their NDCG@{k} by "
                f"{fmt_signed(g['mean_gain_selected'][f'ndcg@{k}'])} (not compared with the "
                f"free reorderings in this run) for {fmt_usd(s.usd_total_including_cached)}.")
    from analysis.gains.controls import PAPER_PROTOCOL_NOTE

    note = PAPER_PROTOCOL_NOTE if s.config.protocol == "paper" else None
    return {"question": QUESTION, "answer": f"{who} {tail}", "note": note}


def build_report(
    baseline: RunInfo,
    rerank: RunInfo | None = None,
    *,
    generated_at: datetime | None = None,
    loaded: BaselineRun | None = None,
) -> Report:
    """Build the HTML report of ``baseline`` (and its rerank ``rerank``) from
    ``templates/report.html.j2``.

    Sections: the verdict (the question, one sentence with the net gain, its interval and the
    cost, or "not measured yet" with the free bracket of the run's weak users); the evidence:
    per-user NDCG histogram (weak vs others), subgroup means with CIs (one panel per
    dimension, sorted, sizes shown, small groups marked), disparity, weakest cohorts, dataset
    statistics; with a rerank: gains, weak users remaining, the controls, before vs after per
    subgroup, the cost-benefit curve; the cost (spend, per user, per +0.01 NDCG, deployment,
    prices); the model's parameters as used; every setting of both runs.

    Args:
        baseline: a baseline run (:meth:`analysis.runs.store.RunStore.get`).
        rerank: one of its rerank runs, or None.
        generated_at: timestamp to print (default: now, UTC).
        loaded: the baseline's :class:`~analysis.runs.baseline.BaselineRun` when already loaded
            (used for the free bracket of a report without rerank); read from the run's
            folder when None. A run whose dataset is gone gets no bracket.

    Raises:
        AnalysisError: a run file is missing, ``baseline`` is not a baseline, or ``rerank``
            is not one of its reranks.
    """
    _check(baseline, rerank)
    when = generated_at or datetime.now(UTC)
    summary = read_summary(_read(baseline, "summary.json").parent)
    per_user = read_per_user(_read(baseline, "per_user.parquet").parent)
    charts = _Charts()
    k = summary.k
    ov, wk = summary.overall, summary.weak_users
    headline = {
        "dataset": baseline.dataset, "model": summary.model.name,
        "n_users": int(summary.dataset["n_users"]), "n_evaluated": int(ov["n_evaluated"]),
        "ndcg": float(ov[f"ndcg@{k}"]), "auc": float(ov["auc"]),
        "n_weak": int(wk.n_weak), "weak_share": float(wk.share),
    }
    title = f"Weakspot report: {baseline.dataset}, {summary.model.name}"
    runs = [{"label": "Baseline run", "id": baseline.run_id,
             "created": _stamp(baseline.created_at)}]
    base, figs = _baseline(baseline, summary, per_user, charts)
    files = rr_view = bracket_view = bracket_ = cost = None
    if rerank is not None:
        files = load_rerank_run(rerank.path)
        g = files.summary.gains
        headline.update({
            "gain_selected": g["mean_gain_selected"][f"ndcg@{k}"],
            "gain_all": g["mean_gain_all"][f"ndcg@{k}"],
            "weak_before": g["weak_remaining"]["selected_before"],
            "weak_after": g["weak_remaining"]["selected_after"],
            "usd_spent": files.summary.usd_total_including_cached,
            "usd_per_0.01": g.get("cost_per_0.01_ndcg_usd"),
        })
        title += f" + LLM rerank ({files.config.model})"
        runs.append({"label": "Rerank run", "id": rerank.run_id,
                     "created": _stamp(rerank.created_at)})
        min_size = summary.min_group_size
        rr_view, rr_figs = _rerank(rerank, files, charts, min_size)
        figs.update(rr_figs)
        cost = _cost(files.summary)
    else:
        bracket_ = _bracket_or_none(baseline, loaded)
        bracket_view = None if bracket_ is None else _bracket_view(bracket_)
    headline["verdict"] = (verdict := _verdict(
        summary, None if files is None else files.summary, bracket_))["answer"]
    model_params = dict(summary.model.params or {})
    shown_config = dict(summary.config)
    shown_config["model_params"] = model_params  # as used, not the (often empty) overrides
    source = {} if summary.source is None else asdict(summary.source)
    if source.get("workspace"):
        source["workspace"] = Path(str(source["workspace"])).name  # no server path
    overrides = ", ".join(sorted(summary.model_overrides)) or "none"
    model = {
        "text": (f"{summary.model.name} as fitted: the model's defaults with the run's "
                 f"overrides ({overrides}) applied."),
        "table": _table(pd.DataFrame({"parameter": list(model_params),
                                      "value": [_stat(v) for v in model_params.values()]})),
    }
    doc = _ENV.get_template("report.html.j2").render(
        title=title, dataset=baseline.dataset, generated=_stamp(when), runs=runs,
        verdict=verdict, base=base, rerank=rr_view, bracket=bracket_view, charts=figs,
        cost=cost, model=model,
        settings={"baseline": _pre(shown_config), "source": _pre(source),
                  "rerank": None if files is None else _pre(files.summary.recorded_config)},
    )
    return Report(html=doc, baseline_run_id=baseline.run_id,
                  rerank_run_id=None if rerank is None else rerank.run_id,
                  generated_at=when, headline=headline, n_charts=charts.n)


def _bracket_or_none(baseline: RunInfo, loaded: BaselineRun | None) -> dict | None:
    if loaded is None:
        from analysis.runs.baseline import load_run

        try:
            loaded = load_run(baseline.path)
        except AnalysisError:  # dataset gone or changed: the report goes without a bracket
            return None
    return dry_run_bracket(loaded)


def _stamp(ts: Any) -> str:
    if isinstance(ts, datetime):
        return ts.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if ts.tzinfo is None or
                                                    ts.utcoffset().total_seconds() == 0 else "")
    return str(ts)
