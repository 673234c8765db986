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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.errors import AnalysisError
from analysis.rerank_results import RerankRunFiles, load_rerank_files
from analysis.runs import RunInfo

__all__ = ["Report", "build_report", "per_user_results", "to_csv_bytes", "to_parquet_bytes"]

NOT_A_BASELINE = "Run {run_id!r} is a {kind} run; build the report from its baseline run."
WRONG_PARENT = (
    "Rerank run {rerank!r} was made from baseline {parent!r}, not {baseline!r}; pick one of "
    "this baseline's reranks."
)
MISSING_FILE = "Run {run_id!r} has no {name} in {path}; re-run it."

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.meta{color:#666;font-size:.9rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:10rem}
.card .v{font-size:1.4rem;font-weight:600}.card .l{color:#666;font-size:.8rem}
pre{background:#f7f7f7;padding:.6rem;overflow-x:auto;font-size:.8rem}
"""


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
            ``usd_spent``, ``usd_per_0.01``.
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
    base = pd.read_parquet(_read(baseline, "per_user.parquet"))
    if rerank is None:
        return base
    rr = pd.read_parquet(_read(rerank, "rerank_per_user.parquet"))
    rr = rr.rename(columns={c: f"llm_{c}" for c in rr.columns if c != "user_id"})
    rr.insert(1, "sent_to_llm", True)
    for c in rr.columns[rr.dtypes == object]:  # noqa: E721 - texts (fallback reason, error): str dtype
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


# --- HTML pieces ----------------------------------------------------------------------------


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    return f"{float(x):,.{digits}f}"


def _usd(x: Any) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"${x:,.2f}" if abs(x) >= 1 else f"${x:,.4f}"


def _card(label: str, value: str) -> str:
    return (f'<div class="card"><div class="v">{_e(value)}</div>'
            f'<div class="l">{_e(label)}</div></div>')


def _table(df: pd.DataFrame, digits: int = 4) -> str:
    return df.to_html(index=False, border=0, float_format=lambda v: f"{v:,.{digits}f}",
                      na_rep="n/a", escape=True)


def _settings(d: dict) -> str:
    return f"<pre>{_e(json.dumps(d, indent=2, sort_keys=True, default=str))}</pre>"


class _Charts:
    """Embeds figures; plotly.js goes inline with the first one only."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: go.Figure) -> str:
        fig.update_layout(template="plotly_white", height=380, margin=dict(l=40, r=20, t=50, b=40))
        out = fig.to_html(full_html=False, include_plotlyjs=self.n == 0, include_mathjax=False,
                          div_id=f"weakspot-chart-{self.n}", config={"displaylogo": False})
        self.n += 1
        return out


def _baseline_section(info: RunInfo, summary: dict, per_user: pd.DataFrame, charts) -> list[str]:
    k = int(summary["k"])
    nd = f"ndcg@{k}"
    ov, wk, ds = summary["overall"], summary["weak_users"], summary["dataset"]
    parts = ["<h2>Baseline</h2>", '<div class="cards">',
             _card(f"NDCG@{k}", _num(ov[nd], 3)), _card(f"Recall@{k}", _num(ov[f"recall@{k}"], 3)),
             _card("AUC", _num(ov["auc"], 3)),
             _card("Weak users", f"{wk['n_weak']:,} ({wk['share']:.1%})"), "</div>"]
    rule = wk["rule"]
    cut = (f"&le; {rule['threshold']}" if rule.get("threshold") is not None
           else f"&le; its {rule['percentile']:g}th percentile ({wk['threshold_value']:.4f})")
    parts.append(
        f"<p>Weak users: validation {_e(rule['metric'])} {cut}"
        f"{' and inactive' if rule.get('require_inactive') else ''}, chosen on validation and "
        f"judged on test: their test {_e(rule['metric'])} is {_num(wk['test_mean_weak'], 3)} "
        f"against {_num(wk['test_mean_rest'], 3)} for the rest.</p>")
    ev = per_user[per_user["evaluated"].astype(bool)]
    fig = go.Figure()
    for label, mask, color in (("other users", ~ev["weak"].astype(bool), "#88CCEE"),
                               ("weak users", ev["weak"].astype(bool), "#CC6677")):
        fig.add_histogram(x=ev.loc[mask, nd], name=label, marker_color=color, nbinsx=30,
                          opacity=0.8)
    fig.update_layout(barmode="overlay", title=f"Per-user test NDCG@{k}",
                      xaxis_title=f"NDCG@{k}", yaxis_title="users")
    parts.append(charts(fig))
    sg_path = Path(info.path) / "subgroups.csv"
    if sg_path.is_file():
        sg = pd.read_csv(sg_path, dtype={"group": str, "dimension": str})
        sg = sg[~sg["dimension"].str.contains(" x ", regex=False)]
        fig = go.Figure()
        for dim, g in sg.groupby("dimension", sort=False):
            fig.add_bar(x=[f"{dim}: {x}" for x in g["group"]], y=g["mean"], name=str(dim),
                        error_y=dict(type="data", symmetric=False,
                                     array=(g["ci_high"] - g["mean"]).to_numpy(),
                                     arrayminus=(g["mean"] - g["ci_low"]).to_numpy()))
        fig.update_layout(title=f"Mean test NDCG@{k} per subgroup (bootstrap 95% CI)",
                          yaxis_title=f"NDCG@{k}", showlegend=False)
        parts.append(charts(fig))
        cols = ["dimension", "group", "size", "mean", "ci_low", "ci_high", "weak_share",
                "reliable"]
        parts.append(_table(sg[[c for c in cols if c in sg.columns]]))
        if "reliable" in sg.columns and not sg["reliable"].all():
            parts.append("<p>Groups with <code>reliable</code> False have fewer users than the "
                         "minimum group size: their mean and CI are shown but too noisy to rank "
                         "groups by, and they enter no disparity figure below.</p>")
    disp = summary.get("disparity") or []
    if disp:
        parts.append("<h3>Disparity per dimension</h3>")
        dt = pd.DataFrame(disp)
        cols = ["dimension", "worst_group", "group_min", "group_max", "difference", "ratio",
                "kruskal_p", "kruskal_p_holm", "kruskal_p_bh"]
        dt = dt[[c for c in cols if c in dt.columns]].copy()
        for col in ("kruskal_p", "kruskal_p_holm", "kruskal_p_bh"):
            if col in dt.columns:  # tiny p-values stay readable
                dt[col] = [f"{p:.3g}" if pd.notna(p) else "n/a" for p in dt[col]]
        parts.append(_table(dt))
        first = disp[0]
        if first.get("p_family_size") is not None:
            parts.append(
                f"<p>Disparity figures use groups of at least {first['min_group_size']} users. "
                f"p-values: raw, then Holm- and BH-adjusted over {first['p_family_size']} tests "
                "(every dimension and every pair). A small adjusted p says the groups' "
                "distributions differ by more than chance; it does not say by how much, why, "
                "or that the difference matters.</p>")
    coh = Path(info.path) / "weak_cohorts.csv"
    if coh.is_file():
        c = pd.read_csv(coh)
        keep = [x for x in ("rule", "n_users", "share", "val_mean", "test_mean", "mean_metric")
                if x in c.columns]
        parts.append("<h3>Weakest cohorts</h3>")
        if "test_mean" in c.columns:
            parts.append("<p>Leaves of a regression tree fitted on validation NDCG, worst "
                         "first on validation; <code>test_mean</code> is each cohort's NDCG on "
                         "the test split the tree never saw.</p>")
        parts.append(_table(c[keep].head(10)))
    parts.append("<h3>Dataset</h3>")
    stats = pd.DataFrame({"statistic": list(ds), "value": [str(v) for v in ds.values()]})
    parts.append(_table(stats))
    return parts


def _rerank_section(info: RunInfo, files: RerankRunFiles, charts) -> list[str]:
    s, g = files.summary, files.summary["gains"]
    k = int(g["k"])
    nd = f"ndcg@{k}"
    wr = g["weak_remaining"]
    cfg = s["config"]
    parts = [f"<h2>LLM rerank: {_e(cfg['backend'])} {_e(cfg['model'])}</h2>", '<div class="cards">',
             _card(f"NDCG@{k} gain, weak users", _num(g["mean_gain_selected"][nd])),
             _card(f"NDCG@{k} gain, everyone", _num(g["mean_gain_all"][nd])),
             _card("Weak users remaining",
                   f"{wr['selected_before']:,} → "
                   + ("not recomputed" if wr["selected_after"] is None
                      else f"{wr['selected_after']:,}")),
             _card("Spent", _usd(s["usd_total_including_cached"])),
             _card("Per +0.01 NDCG", _usd(g.get("cost_per_0.01_ndcg_usd"))), "</div>"]
    parts.append(
        f"<p>{s['n_requests']:,} weak users sent, {s['n_reranked']:,} reranked "
        f"({s['n_cached']:,} answers reused from the cache); fell back: "
        f"{_e(s['fallback'] or 'none')}. Wilcoxon signed-rank p = {_num(g['wilcoxon_p'], 4)}. "
        f"Cost per weak user {_usd(g.get('cost_per_selected_user_usd'))}.</p>")
    parts += _net_gain_section(s, k, charts)
    rows = [{"metric": m, "before": g["mean_before"][m], "after": g["mean_after"][m],
             "gain (everyone)": g["mean_gain_all"][m],
             "gain (weak users)": g["mean_gain_selected"][m]} for m in g["mean_before"]]
    parts += ["<h3>Before vs after</h3>", _table(pd.DataFrame(rows))]
    bg = files.by_group
    if len(bg):
        fig = go.Figure()
        x = [f"{d}: {v}" for d, v in zip(bg["dimension"], bg["group"], strict=True)]
        fig.add_bar(x=x, y=bg["mean_before"], name="before", marker_color="#88CCEE")
        fig.add_bar(x=x, y=bg["mean_after"], name="after", marker_color="#117733")
        fig.update_layout(barmode="group", title=f"Mean NDCG@{k} per subgroup, before vs after",
                          yaxis_title=f"NDCG@{k}")
        parts += [charts(fig), _table(bg)]
    cv = files.curve
    if len(cv):
        fig = go.Figure(go.Scatter(x=cv["cost_usd"], y=cv["gain"], mode="lines+markers",
                                   text=[f"threshold {t:.4f}, {n} users" for t, n in
                                         zip(cv["threshold"], cv["n_users"], strict=True)],
                                   line=dict(color="#332288")))
        fig.update_layout(title="Cost-benefit curve over thresholds", xaxis_title="dollars",
                          yaxis_title=f"mean NDCG@{k} gain (everyone)")
        parts += [charts(fig), _table(cv)]
    parts += ["<h3>Prices used</h3>", _settings(s.get("prices") or {"local": "GPU time"}),
              "<h3>Dry-run estimate it started from</h3>", _settings(s.get("estimate") or {})]
    return parts


def _net_gain_section(s: dict, k: int, charts) -> list[str]:
    """The LLM against free reorderings of the same candidates, both user counts, a pilot's
    projection, and the paper protocol's label."""
    net = s.get("net_gain")
    if not net:
        return []
    from analysis.rerank.controls import PAPER_PROTOCOL_NOTE

    parts = ["<h3>Against the no-LLM controls on the same candidates</h3>"]
    if s["config"].get("protocol") == "paper":
        parts.append(f'<p class="note"><strong>{_e(PAPER_PROTOCOL_NOTE)}</strong></p>')
    lo, hi = net["ci95"]
    users = s.get("users") or {}
    parts += ['<div class="cards">',
              _card(f"NDCG@{k} gain net of the best control ({_e(net['control'])})",
                    f"{_num(net['mean'])} [{_num(lo)}, {_num(hi)}]"),
              _card("Per +0.01 NDCG, net", _usd(net.get("cost_per_0.01_net_ndcg_usd"))),
              _card("Weak users (all) / sent and evaluated",
                    f"{users.get('weak_all', 0):,} / {users.get('sent', 0):,}"),
              "</div>"]
    zero = (" The interval includes zero: these answers do not show that the LLM beats a "
            "free reordering." if net["ci_includes_zero"] else "")
    parts.append(
        f"<p>Net gain: the LLM's NDCG@{k} minus that of the best free reordering of the same "
        f"candidates, per weak user sent, with its 95% interval; paired Wilcoxon p = "
        f"{_num(net['wilcoxon_p'], 4)}.{zero} A deployment would pay for every weak user: "
        f"about {_usd(users.get('deployment_usd_expected'))}.</p>")
    pilot = s.get("pilot")
    if pilot:
        pr = pilot["projected"]
        parts.append(
            f"<p>Pilot of {pilot['n_sample']:,} of {pilot['n_population']:,} weak users with "
            f"test items: all of them would move mean NDCG@{k} by "
            f"{_num(pr['net_gain_over_all_users'])} net (95% interval {_num(pr['ci95'][0])} to "
            f"{_num(pr['ci95'][1])}) for about {_usd(pr['cost_all_weak_usd'])}; "
            f"{_e(pilot['verdict'])}.</p>")
    names = {"llm": "LLM", "baseline": "baseline order", "shuffled": "shuffled (as shown)",
             "popularity": "popularity", "oracle": "ceiling (oracle)"}
    keys = [n for n in names if n in net["means"]]
    fig = go.Figure(go.Bar(x=[names[n] for n in keys], y=[net["means"][n] for n in keys],
                           marker_color=["#CC6677" if n == "llm" else "#88CCEE" for n in keys]))
    fig.update_layout(title=f"Weak users sent: mean NDCG@{k}, LLM against free reorderings",
                      yaxis_title=f"NDCG@{k}")
    parts.append(charts(fig))
    return parts


def build_report(
    baseline: RunInfo,
    rerank: RunInfo | None = None,
    *,
    generated_at: datetime | None = None,
) -> Report:
    """Build the HTML report of ``baseline`` (and its rerank ``rerank``).

    Sections: headline cards, per-user NDCG histogram (weak vs others), subgroup means with
    CIs, disparity, weakest cohorts, dataset statistics; with a rerank: gains (weak users,
    everyone), weak users remaining, paired test, cost per user and per +0.01 NDCG, before vs
    after per subgroup, the cost-benefit curve, prices; then every setting of both runs.

    Args:
        baseline: a baseline run (:meth:`analysis.runs.RunStore.get`).
        rerank: one of its rerank runs, or None.
        generated_at: timestamp to print (default: now, UTC).

    Raises:
        AnalysisError: a run file is missing, ``baseline`` is not a baseline, or ``rerank``
            is not one of its reranks.
    """
    _check(baseline, rerank)
    when = generated_at or datetime.now(UTC)
    summary = json.loads(_read(baseline, "summary.json").read_text())
    per_user = pd.read_parquet(_read(baseline, "per_user.parquet"))
    charts = _Charts()
    k = int(summary["k"])
    ov, wk = summary["overall"], summary["weak_users"]
    headline = {
        "dataset": baseline.dataset, "model": summary["model"]["name"],
        "n_users": int(summary["dataset"]["n_users"]), "n_evaluated": int(ov["n_evaluated"]),
        "ndcg": float(ov[f"ndcg@{k}"]), "auc": float(ov["auc"]),
        "n_weak": int(wk["n_weak"]), "weak_share": float(wk["share"]),
    }
    title = f"Weakspot report: {baseline.dataset}, {summary['model']['name']}"
    ids = [("Baseline run", baseline.run_id, baseline.created_at)]
    body = _baseline_section(baseline, summary, per_user, charts)
    files = None
    if rerank is not None:
        files = load_rerank_files(rerank.path)
        g = files.summary["gains"]
        headline.update({
            "gain_selected": g["mean_gain_selected"][f"ndcg@{k}"],
            "gain_all": g["mean_gain_all"][f"ndcg@{k}"],
            "weak_before": g["weak_remaining"]["selected_before"],
            "weak_after": g["weak_remaining"]["selected_after"],
            "usd_spent": files.summary["usd_total_including_cached"],
            "usd_per_0.01": g.get("cost_per_0.01_ndcg_usd"),
        })
        title += f" + LLM rerank ({files.summary['config']['model']})"
        ids.append(("Rerank run", rerank.run_id, rerank.created_at))
        body += _rerank_section(rerank, files, charts)
    body += ["<h2>Settings</h2>", "<h3>Baseline</h3>", _settings(summary["config"]),
             "<h3>Source</h3>", _settings(summary.get("source", {}))]
    if files is not None:
        body += ["<h3>LLM rerank</h3>", _settings(files.summary["config"])]
    meta = "<br>".join(f"{_e(lab)}: <code>{_e(rid)}</code> (created {_e(_stamp(ts))})"
                       for lab, rid, ts in ids)
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class=\"meta\">Dataset <b>{_e(baseline.dataset)}</b> · "
        f"generated {_e(_stamp(when))}<br>{meta}</p>"
        + "\n".join(body)
        + "<p class=\"meta\">Made with Weakspot. Weak users are selected on the validation split "
          "and judged on the test split (Kaur &amp; Shah, 2024).</p></body></html>"
    )
    return Report(html=doc, baseline_run_id=baseline.run_id,
                  rerank_run_id=None if rerank is None else rerank.run_id,
                  generated_at=when, headline=headline, n_charts=charts.n)


def _stamp(ts: Any) -> str:
    if isinstance(ts, datetime):
        return ts.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if ts.tzinfo is None or
                                                    ts.utcoffset().total_seconds() == 0 else "")
    return str(ts)
