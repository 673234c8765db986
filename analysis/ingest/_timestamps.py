"""Timestamps at ingest: the unit of a numeric timestamp column, and the range checks.

Private helper of :mod:`analysis.ingest`. Integers above 1e11 are taken as milliseconds, 1e14
microseconds, 1e17 nanoseconds (by the largest magnitude in the column); no other value may
read as a real date in a smaller unit, and every timestamp must fall between the years 1 and
9999.
"""

from __future__ import annotations

import duckdb

from analysis.errors import AnalysisError
from analysis.ingest._columns import ColumnMapping
from analysis.ingest._formats import Source
from analysis.ingest._stage import locate

TIMESTAMP_RANGE = (
    "{file}: row {row}, column {column!r}: {value} is not a timestamp between the years 1 and "
    "9999 ({how}); fix or drop that row."
)
MIXED_TIMESTAMP_UNITS = (
    "{file}: column {column!r} mixes timestamp units: row {row} holds {value} ({unit}) but row "
    "{row2} holds {value2} ({unit2}); give every timestamp in the same unit."
)
#: Unix seconds of 0001-01-01 and 9999-12-31 23:59:59, the range a timestamp may take
MIN_TS_SECONDS = -62135596800
MAX_TS_SECONDS = 253402300799
#: Unix seconds of 1973-03-03: a number at least this big, in some unit, reads as a real date
TS_PLAUSIBLE_SECONDS = 1e8
#: (upper bound of a unit's magnitude band, scale to seconds, unit) from seconds up
_TS_BANDS = ((1e11, 1.0, "seconds"), (1e14, 1e3, "milliseconds"), (1e17, 1e6, "microseconds"),
             (float("inf"), 1e9, "nanoseconds"))  # fmt: skip
_TS_UNIT = {scale: unit for _, scale, unit in _TS_BANDS}


def _ts_scale(max_abs: float | None) -> float:
    """Seconds per unit of a column whose largest magnitude is ``max_abs``."""
    if max_abs is None:
        return 1.0
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if max_abs > limit:
            return scale
    return 1.0


def checked_ts_scale(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    m: ColumnMapping,
    types: dict[str, str],
    max_abs: float | None,
) -> float:
    """The scale of the staged numeric timestamps to seconds, once they are known to be sane.

    The unit follows the largest magnitude in the column (see :func:`_ts_scale`). No other
    value may read as a date from 1973 on in a smaller unit (seconds among milliseconds),
    and every timestamp, in seconds, must lie between the years 1 and 9999. Reads
    ``_ws_stage``.

    Raises:
        AnalysisError: a timestamp out of range in any unit (``1e300``) or once scaled (far
            before year 1, dates past 9999), or seconds mixed with milliseconds (etc.).
    """
    if not m.timestamp:
        return 1.0
    col = m.timestamp
    lo, hi = MIN_TS_SECONDS, MAX_TS_SECONDS

    def out_of_range(condition: str, how: str) -> None:
        (found,) = con.execute(f"SELECT count(*) FROM _ws_stage WHERE {condition}").fetchall()[0]
        if found:
            row, value = locate(con, src, m, types, col, condition)
            raise AnalysisError(
                TIMESTAMP_RANGE.format(
                    file=src.label, row=row, column=col, value=repr(value), how=how
                )
            )

    out_of_range(f"abs(ts_num) > {float(hi) * 1e9!r}", "in any unit")
    scale = _ts_scale(max_abs)
    if scale != 1.0:
        # a value below the column's unit band that is a real date (1973 on) in a smaller
        # unit: seconds among milliseconds; tiny values (5000) stay in the column's unit
        below = {1e3: 1e11, 1e6: 1e14, 1e9: 1e17}[scale]
        smaller = f"abs(ts_num) BETWEEN {TS_PLAUSIBLE_SECONDS!r} AND {below!r}"
        (mixed,) = con.execute(f"SELECT count(*) FROM _ws_stage WHERE {smaller}").fetchall()[0]
        if mixed:
            row, value = locate(con, src, m, types, col, smaller)
            row2, value2 = locate(con, src, m, types, col, f"abs(ts_num) > {below!r}")
            (small,) = con.execute(
                f"SELECT min(abs(ts_num)) FROM _ws_stage WHERE {smaller}"
            ).fetchall()[0]
            unit = next(u for limit, _, u in _TS_BANDS if small <= limit)
            raise AnalysisError(
                MIXED_TIMESTAMP_UNITS.format(
                    file=src.label, column=col, row=row, value=value, unit=unit, row2=row2,
                    value2=value2, unit2=_TS_UNIT[scale],
                )
            )  # fmt: skip
    out_of_range(f"ts_num / {scale!r} NOT BETWEEN {lo} AND {hi}", f"read as {_TS_UNIT[scale]}")
    out_of_range(f"ts_dt NOT BETWEEN {lo} AND {hi}", "as a date")
    return scale
