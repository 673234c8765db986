"""The report itself: reads the runs' files through :mod:`analysis.runs`, builds each section
and renders them into one self-contained HTML document."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from markupsafe import Markup

from analysis.gains.remedies import RemedyComparison
from analysis.report._baseline import baseline_section
from analysis.report._bracket import bracket_view, dry_run_bracket, loaded_or_none
from analysis.report._charts import Charts
from analysis.report._cost import cost_section
from analysis.report._html import json_block, mapping_table, render, stamp
from analysis.report._inputs import check_runs, run_file
from analysis.report._remedies import remedies_section
from analysis.report._rerank import rerank_section
from analysis.report._scenarios import scenarios_section
from analysis.report._verdict import verdict
from analysis.runs.baseline import BaselineRun, read_per_user, read_summary
from analysis.runs.rerank import RerankRun, load_rerank_run
from analysis.runs.store import RunInfo
from analysis.runs.summary import BaselineSummary
from analysis.scenarios import analyse_scenarios


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


def build_report(
    baseline: RunInfo,
    rerank: RunInfo | None = None,
    *,
    generated_at: datetime | None = None,
    loaded: BaselineRun | None = None,
    remedies: RemedyComparison | None = None,
    target_gain: float | None = None,
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
        remedies: every remedy of the run compared (:func:`analysis.gains.remedies.
            compare_remedies`), shown in a "Remedies compared" section; None: no section.
        target_gain: the net gain the remedies' verdict looks for (None: the largest).

    Raises:
        AnalysisError: a run file is missing, ``baseline`` is not a baseline, or ``rerank``
            is not one of its reranks.
    """
    check_runs(baseline, rerank)
    when = generated_at or datetime.now(UTC)
    summary = read_summary(run_file(baseline, "summary.json").parent)
    per_user = read_per_user(run_file(baseline, "per_user.parquet").parent)
    charts = Charts()
    headline = _headline(baseline, summary)
    title = f"Weakspot report: {baseline.dataset}, {summary.model.name}" + (
        " (imported rankings)" if summary.is_imported else "")
    runs = [{"label": "Baseline run", "id": baseline.run_id,
             "created": stamp(baseline.created_at)}]
    base_view, figures = baseline_section(baseline, summary, per_user, charts)
    rerank_run = rerank_view = free_bracket = free_bracket_view = cost = None
    if rerank is not None:
        rerank_run = load_rerank_run(rerank.path)
        headline.update(_rerank_headline(rerank_run, summary.k))
        title += f" + LLM rerank ({rerank_run.config.model})"
        runs.append({"label": "Rerank run", "id": rerank.run_id,
                     "created": stamp(rerank.created_at)})
        rerank_view, rerank_figures = rerank_section(rerank_run, charts, summary.min_group_size)
        figures.update(rerank_figures)
        cost = cost_section(rerank_run.summary)
    run = loaded_or_none(baseline, loaded)
    if rerank is None:
        free_bracket = None if run is None else dry_run_bracket(run)
        free_bracket_view = None if free_bracket is None else bracket_view(free_bracket)
    scenarios = None
    if run is not None and run.dataset.has_scenarios:
        scenarios = scenarios_section(analyse_scenarios(run))
    verdict_view = verdict(summary, None if rerank_run is None else rerank_run.summary,
                          free_bracket)
    headline["verdict"] = verdict_view["answer"]
    doc = render(
        title=title, dataset=baseline.dataset, generated=stamp(when), runs=runs,
        verdict=verdict_view, base=base_view, rerank=rerank_view, bracket=free_bracket_view,
        charts=figures, cost=cost, model=_model_view(summary),
        remedies=None if remedies is None else remedies_section(remedies, target_gain),
        scenarios=scenarios, settings=_settings(summary, rerank_run),
    )
    return Report(html=doc, baseline_run_id=baseline.run_id,
                  rerank_run_id=None if rerank is None else rerank.run_id,
                  generated_at=when, headline=headline, n_charts=charts.n)


def _headline(baseline: RunInfo, summary: BaselineSummary) -> dict:
    """The baseline's figures in :attr:`Report.headline`."""
    overall, weak = summary.overall, summary.weak_users
    return {
        "dataset": baseline.dataset, "model": summary.model.name,
        "n_users": int(summary.dataset["n_users"]), "n_evaluated": int(overall["n_evaluated"]),
        "ndcg": float(overall[f"ndcg@{summary.k}"]),
        "auc": float("nan") if overall.get("auc") is None else float(overall["auc"]),
        "n_weak": int(weak.n_weak), "weak_share": float(weak.share),
    }


def _rerank_headline(run: RerankRun, k: int) -> dict:
    """The rerank's figures in :attr:`Report.headline` (NDCG at the baseline's ``k``)."""
    gains = run.summary.gains
    remaining = run.summary.weak_remaining
    return {
        "gain_selected": gains["mean_gain_selected"][f"ndcg@{k}"],
        "gain_all": gains["mean_gain_all"][f"ndcg@{k}"],
        "weak_before": remaining["selected_before"],
        "weak_after": remaining["selected_after"],
        "usd_spent": run.summary.usd_total_including_cached,
        "usd_per_0.01": gains.get("cost_per_0.01_ndcg_usd"),
    }


def _model_view(summary: BaselineSummary) -> dict:
    """The model's parameters as fitted: its defaults with the run's overrides applied; for
    an imported run, what was imported and what it cannot have."""
    if summary.is_imported:
        imported = summary.imported
        files = {f"{split} run": (info or {}).get("file") for split, info
                 in (imported.get("files") or {}).items() if info}
        notes = " ".join(imported.get("notes") or [])
        return {
            "text": (f"{summary.model.name}: an external recommender's rankings, imported (no "
                     f"model was fitted; nothing can score an item, so the paper protocol and "
                     f"the AUC over all items are not available). {notes}"),
            "table": mapping_table({**files, "unavailable metrics": ", ".join(
                imported.get("unavailable_metrics") or []) or "none",
                "held-out items": (imported.get("heldout") or {}).get("source")}, "setting"),
        }
    overrides = ", ".join(sorted(summary.model_overrides)) or "none"
    return {
        "text": (f"{summary.model.name} as fitted: the model's defaults with the run's "
                 f"overrides ({overrides}) applied."),
        "table": mapping_table(dict(summary.model.params or {}), "parameter"),
    }


def _settings(summary: BaselineSummary, rerank_run: RerankRun | None) -> dict[str, Markup | None]:
    """Every setting of both runs as JSON: the baseline's config with the model's parameters
    as used (not the often empty overrides), its source without the server path, and the
    rerank's config as recorded."""
    shown_config = dict(summary.config)
    shown_config["model_params"] = dict(summary.model.params or {})
    source = {} if summary.source is None else asdict(summary.source)
    if source.get("workspace"):
        source["workspace"] = Path(str(source["workspace"])).name  # no server path
    rerank = None if rerank_run is None else json_block(rerank_run.summary.recorded_config)
    return {"baseline": json_block(shown_config), "source": json_block(source), "rerank": rerank}
