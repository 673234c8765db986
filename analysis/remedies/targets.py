"""Which users of a baseline run get a remedy: its weak users, its inactive users, or either.

One rule for every remedy (the content blend, SASRec with a text item table), so that their
gains are measured on the same users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

__all__ = ["BAD_TARGET", "TARGETS", "select_targets"]

#: which users get a remedy: the run's weak users, its inactive users, or either
TARGETS = ("weak", "inactive", "weak_or_inactive")

BAD_TARGET = "Unknown remedy target {target!r}: use weak, inactive or weak_or_inactive."


def select_targets(per_user: pd.DataFrame, target: str) -> np.ndarray:
    """int64 user_idx (the table's index) of the ``target`` users, ascending table order.

    Args:
        per_user: a baseline run's per-user table (index = user_idx) with the bool ``weak``
            column and, when the run has it, ``inactive`` (absent: nobody is inactive).
        target: one of :data:`TARGETS`.

    Raises:
        AnalysisError: unknown target (:data:`BAD_TARGET`).
    """
    if target not in TARGETS:
        raise AnalysisError(BAD_TARGET.format(target=target))
    weak = per_user["weak"].to_numpy(bool)
    inactive = (per_user["inactive"].to_numpy(bool) if "inactive" in per_user
                else np.zeros(len(per_user), bool))
    chosen = {"weak": weak, "inactive": inactive, "weak_or_inactive": weak | inactive}[target]
    return per_user.index.to_numpy(np.int64)[chosen]
