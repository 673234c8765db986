"""Step 3's alternative, "bring your own rankings": analyse an external recommender's run.

Instead of fitting a baseline, read the top-C lists a production recommender produced for the
validation and test periods (TREC run files, CSV or Parquet), judge them against the held-out
interactions of the workspace dataset (its split, or held-out files) and hand the result to
the same subgroup, weak-user, rerank and report steps as a trained baseline's.

* :func:`read_rankings` (``_read``): a run file into (n_users, C) item_idx lists, with the
  rows naming unknown users or items counted (:func:`unknown_lines`).
* :func:`evaluate_rankings` (``_evaluate``): per-user metrics of the lists;
  :func:`auc_heldout_from_ranks`: the AUC within held-out rated items, from ranks.
* :func:`import_run` (``_import``): the whole import into an :class:`ImportedResult`.
* :func:`analyse_export` (``_scale``): an export too big for memory, analysed in place by
  DuckDB end to end (per-user metrics, subgroups, weak users, the LLM bill).
"""

from analysis.external._evaluate import (
    ListCounts,
    auc_heldout_from_ranks,
    evaluate_rankings,
    listed_in,
)
from analysis.external._import import (
    AUC_NOTE,
    AUC_UNAVAILABLE,
    NO_SCORER,
    ONLY_TEST,
    RANDOM_HALF_NOTE,
    ImportConfig,
    ImportedRanker,
    ImportedResult,
    import_run,
)
from analysis.external._read import (
    RUN_FORMATS,
    UNKNOWN_ROWS,
    Rankings,
    RunColumns,
    read_pairs,
    read_rankings,
    run_format,
    unknown_lines,
)
from analysis.external._save import import_and_save
from analysis.external._scale import ExportFiles, ScaleAnalysis, ScaleConfig, analyse_export

__all__ = [
    "AUC_NOTE",
    "ExportFiles",
    "ScaleAnalysis",
    "ScaleConfig",
    "AUC_UNAVAILABLE",
    "NO_SCORER",
    "ONLY_TEST",
    "RANDOM_HALF_NOTE",
    "RUN_FORMATS",
    "UNKNOWN_ROWS",
    "ImportConfig",
    "ImportedRanker",
    "ImportedResult",
    "ListCounts",
    "Rankings",
    "RunColumns",
    "analyse_export",
    "auc_heldout_from_ranks",
    "evaluate_rankings",
    "import_and_save",
    "import_run",
    "listed_in",
    "read_pairs",
    "read_rankings",
    "run_format",
    "unknown_lines",
]
