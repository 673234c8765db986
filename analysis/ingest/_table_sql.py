"""A file, folder of Parquet part files or glob as one DuckDB table expression, read in place.

Private helper of :mod:`analysis.ingest`, public as :func:`analysis.ingest.table_sql` for the
steps that stream a big table through DuckDB instead of ingesting it (an exported run and its
held-out interactions, :mod:`analysis.metrics.streaming`).
"""

from __future__ import annotations

from pathlib import Path

from analysis.errors import AnalysisError
from analysis.ingest._formats import parquet_source, resolve_format
from analysis.ingest._sql import duckdb_path, sql_str

NOT_A_TABLE = "{file}: a MovieLens folder/zip is not one table; give a Parquet or CSV/TSV file."


def table_sql(path: Path) -> str:
    """The SQL ``FROM`` expression that reads ``path`` in place.

    Args:
        path: a Parquet file, a folder of Parquet part files (hive-partitioned or not), a glob
            of Parquet files, or a CSV/TSV file with a header line (delimiter by extension,
            else sniffed by DuckDB).

    Returns:
        ``read_parquet([...], union_by_name=true, hive_partitioning=...)`` or ``read_csv(...)``.

    Raises:
        AnalysisError: no such path, a MovieLens folder, or what :func:`parquet_source` refuses.
    """
    kind = resolve_format(path, "auto")
    if kind == "parquet":
        return parquet_source(path).from_sql
    if kind == "movielens":
        raise AnalysisError(NOT_A_TABLE.format(file=path))
    delim = ", delim='\\t'" if kind == "tsv" else ""
    return f"read_csv({sql_str(duckdb_path(path))}, header=true{delim})"
