"""Argument checks shared by the subgroup modules, each raising :class:`AnalysisError`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

__all__ = ["UNKNOWN_COLUMN", "check_columns", "check_count"]

UNKNOWN_COLUMN = "Column {column!r} is not in the per-user table; available: {available}."


def check_count(value: object, minimum: int, template: str, **fields: object) -> int:
    """``value`` as an int when it is an integer (not a bool) of at least ``minimum``.

    Raises:
        AnalysisError: ``template`` formatted with ``value`` and ``fields`` otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise AnalysisError(template.format(value=value, **fields))
    return int(value)


def check_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise :data:`UNKNOWN_COLUMN` for the first of ``columns`` not in ``table``."""
    for c in columns:
        if c not in table.columns:
            raise AnalysisError(
                UNKNOWN_COLUMN.format(column=c, available=", ".join(map(str, table.columns)))
            )
