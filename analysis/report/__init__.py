"""A self-contained HTML report of a baseline run (and optionally one of its reranks), fit
for a product review, plus the per-user results as CSV and Parquet.

The HTML file needs nothing but a browser: plotly.js is embedded inline once (the first
chart) and every later chart reuses it, so the report opens offline; there is no external
script, stylesheet or font. It records every setting, the dataset, run ids and timestamps,
so a reader can tell exactly what was measured. The report reads run files only through
:mod:`analysis.runs`, and renders ``analysis/templates/report.html.j2``.

* ``_build``: :func:`build_report` and :class:`Report`, the wiring of the sections;
* ``_verdict``: the question and the one-sentence answer;
* ``_baseline``: the baseline's evidence (cards, histogram, subgroups, disparity, cohorts);
* ``_bracket``: the free bracket of an LLM's gain, for a baseline without a rerank;
* ``_rerank``: gains, the net gain against the controls, before vs after, the curve;
* ``_cost``: spend, cost per user and per +0.01 NDCG, deployment, prices;
* ``_charts``: the plotly figures and the embedder; ``_html``: template, tables, JSON;
* ``_exports``: the per-user results as a table, CSV or Parquet;
* ``_inputs``: the run files read, and the checks on the runs asked for.
"""

from analysis.report._bracket import dry_run_bracket
from analysis.report._build import Report, build_report
from analysis.report._charts import SMALL_GROUP_MARK, subgroup_figure
from analysis.report._exports import per_user_results, to_csv_bytes, to_parquet_bytes
from analysis.report._inputs import MISSING_FILE, NOT_A_BASELINE, WRONG_PARENT
from analysis.report._verdict import QUESTION

__all__ = [
    "MISSING_FILE",
    "NOT_A_BASELINE",
    "QUESTION",
    "SMALL_GROUP_MARK",
    "WRONG_PARENT",
    "Report",
    "build_report",
    "dry_run_bracket",
    "per_user_results",
    "subgroup_figure",
    "to_csv_bytes",
    "to_parquet_bytes",
]
