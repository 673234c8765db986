"""Step 4: per-user metrics of a ranked list against held-out relevant items.

Everything works on whole batches: recommendations are an ``(n, k)`` int array of item_idx
(best first, ``-1`` padded) and held-out items a CSR matrix aligned row by row. One module
per metric family:

* :func:`compute_user_metrics` (``_ranking``): NDCG, graded NDCG, recall, precision, hit,
  MRR and AP at ``k`` as a :class:`UserMetrics`.
* :func:`auc_from_scores` (``_auc``): per-user AUC over the full catalogue.
* :func:`auc_heldout_from_scores` (``_auc_heldout``): per-user AUC within the user's held-out
  rated items (relevant vs not relevant).
* :func:`candidate_recall` (``_candidate``): whether a candidate list holds any relevant item.
* :func:`hits_matrix` (``_hits``): the boolean hit matrix the list metrics reduce.

Definitions and conventions: ``docs/metrics.md``.
"""

from analysis.metrics._auc import auc_from_scores
from analysis.metrics._auc_heldout import auc_heldout_from_scores
from analysis.metrics._candidate import candidate_recall
from analysis.metrics._hits import hits_matrix
from analysis.metrics._ranking import UserMetrics, compute_user_metrics, metric_columns

__all__ = [
    "UserMetrics",
    "auc_from_scores",
    "auc_heldout_from_scores",
    "candidate_recall",
    "compute_user_metrics",
    "hits_matrix",
    "metric_columns",
]
