"""Step 1: ingest an interaction log (plus optional users/items tables) into the workspace.

Everything runs in DuckDB, in one transaction per :func:`ingest` call, so a bad file leaves
the workspace exactly as it was and big files never pass whole through pandas:

1. open the input (CSV/TSV/Parquet/DataFrame, a folder of Parquet part files or a glob as
   Spark/Hive export them (:mod:`analysis.ingest._parquet_set`), or a MovieLens folder/zip: see
   :mod:`analysis.ingest._formats` and :mod:`analysis.ingest._open`; any file name, decided
   by content; a header line or none, detected: see :mod:`analysis.ingest._sniff` and
   :mod:`analysis.ingest._text`) and resolve the column roles (:mod:`analysis.ingest._columns`);
2. stage every row with typed columns and a ``problem`` code (null id, non-numeric value,
   negative count, unparsable timestamp); the first problem is reported with its row;
3. ids: integers stay ``BIGINT``, strings stay ``VARCHAR`` (CSV text ids become ``BIGINT``
   only when every value is a plain integer, so ``"007"`` stays text); timestamps become
   Unix seconds (integers above 1e11 are taken as milliseconds, 1e14 microseconds, 1e17
   nanoseconds; date/datetime strings are parsed as UTC);
4. merge duplicate (user, item) rows: explicit ratings keep the latest rating by timestamp
   (ties: the higher rating; no timestamps: the mean), counts are summed, the timestamp is
   the latest, an optional scenario column keeps the latest row's scenario
   (:mod:`analysis.ingest._scenario`);
5. optional k-core filter, repeated until every user and item has >= k interactions;
6. users/items tables keyed by the same ids; a side table whose ids match nothing fails.
"""

from analysis.ingest._build import KCORE_EMPTY
from analysis.ingest._columns import (
    MAPPED_COLUMN_ABSENT,
    MISSING_COLUMN,
    NO_VALUE_COLUMN,
    SAME_COLUMN,
    ColumnMapping,
)
from analysis.ingest._formats import (
    BAD_ENCODING,
    BINARY_FILE,
    DUPLICATE_HEADER,
    EMPTY_FILE,
    NO_DATA_ROWS,
    NOT_FOUND,
    UNREADABLE,
)
from analysis.ingest._ingest import (
    BAD_KCORE,
    BAD_THRESHOLD,
    IngestReport,
    dataset_from_frames,
    detect_columns,
    ingest,
)
from analysis.ingest._load import load_dataset
from analysis.ingest._movielens import NOT_MOVIELENS
from analysis.ingest._scenario import MAX_SCENARIOS, TOO_MANY_SCENARIOS
from analysis.ingest._side import SIDE_NO_MATCH, SIDE_PARTIAL
from analysis.ingest._stage import BAD_TIMESTAMP, NEGATIVE_COUNT, NOT_A_NUMBER, NULL_ID
from analysis.ingest._table_sql import table_sql
from analysis.ingest._text import WRONG_DELIMITER
from analysis.ingest._text_rows import RAGGED_ROW

__all__ = [
    "ColumnMapping",
    "IngestReport",
    "dataset_from_frames",
    "detect_columns",
    "ingest",
    "load_dataset",
    "table_sql",
    # message templates, so tests and callers can match errors
    "BAD_ENCODING",
    "BAD_KCORE",
    "BAD_THRESHOLD",
    "BAD_TIMESTAMP",
    "BINARY_FILE",
    "DUPLICATE_HEADER",
    "EMPTY_FILE",
    "KCORE_EMPTY",
    "MAPPED_COLUMN_ABSENT",
    "MISSING_COLUMN",
    "NEGATIVE_COUNT",
    "NO_DATA_ROWS",
    "NO_VALUE_COLUMN",
    "NOT_A_NUMBER",
    "NOT_FOUND",
    "NOT_MOVIELENS",
    "NULL_ID",
    "RAGGED_ROW",
    "SAME_COLUMN",
    "SIDE_NO_MATCH",
    "SIDE_PARTIAL",
    "MAX_SCENARIOS",
    "TOO_MANY_SCENARIOS",
    "UNREADABLE",
    "WRONG_DELIMITER",
]
