"""Commit a staged dataset into the workspace: one short transaction.

Private helper of :mod:`analysis.ingest`. The dataset's tables are built in a private
temporary database (:mod:`analysis.ingest._build`); the workspace is touched only here, where
they are copied in under a new table prefix and the catalog row is added, so the workspace
stays free while a large file is read and is unchanged whenever the ingest refuses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from analysis.errors import AnalysisError
from analysis.ingest._build import IngestReport
from analysis.ingest._sql import sql_str
from analysis.workspace import NAME_TAKEN, Workspace

#: commits of this process take turns: two at once on one name would otherwise both pass
#: the name check and one fail on the catalog's UNIQUE constraint
COMMIT_LOCK = threading.Lock()


def commit_dataset(
    workspace: Workspace,
    stage_path: Path,
    report: IngestReport,
    kcore: int,
    replace: bool,
    t0: float,
) -> IngestReport:
    """The one short workspace transaction: check the name (drop the old dataset on
    replace), copy the staged tables in under a new prefix, add the catalog row.

    Commits of one process take turns (:data:`COMMIT_LOCK`), so two ingests of one name at
    once (a double submit in the app) end in one dataset and :data:`NAME_TAKEN` for the
    other; one that loses the name to another process the same way gets the same message.
    """
    alias = f"weakspot_stage_{uuid.uuid4().hex[:12]}"  # attachments are process-wide
    parts = ["interactions"] + ["users"] * report.has_users + ["items"] * report.has_items
    with COMMIT_LOCK, workspace.connect() as con:
        con.execute(f"ATTACH {sql_str(str(stage_path))} AS {alias} (READ_ONLY)")
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                report = _commit_in_transaction(
                    workspace, con, alias, parts, report, kcore, replace, t0
                )
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has rolled back
                    con.execute("ROLLBACK")
                if isinstance(exc, (duckdb.ConstraintException, duckdb.TransactionException)):
                    raise AnalysisError(
                        NAME_TAKEN.format(name=report.name, path=workspace.path)
                    ) from exc
                raise
        finally:
            con.execute(f"DETACH {alias}")
    return report


def _commit_in_transaction(
    workspace: Workspace,
    con: duckdb.DuckDBPyConnection,
    alias: str,
    parts: list[str],
    report: IngestReport,
    kcore: int,
    replace: bool,
    t0: float,
) -> IngestReport:
    name = report.name
    if con.execute("SELECT count(*) FROM datasets WHERE name = ?", [name]).fetchall()[0][0]:
        if not replace:
            raise AnalysisError(NAME_TAKEN.format(name=name, path=workspace.path))
        workspace.drop_dataset_tables(con, name)
    ds_id = con.execute("SELECT nextval('dataset_id_seq')").fetchall()[0][0]
    prefix = f"ds_{ds_id:06d}"
    for part in parts:
        con.execute(f"CREATE TABLE {prefix}_{part} AS SELECT * FROM {alias}.{part}")
    report = dataclasses.replace(report, seconds=round(time.perf_counter() - t0, 3))
    stats = asdict(report)
    stats["kcore"] = int(kcore)
    con.execute(
        "INSERT INTO datasets (id, name, table_prefix, created_at, source, kind, "
        "relevance_threshold, n_users, n_items, n_interactions, has_users, has_items, stats) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ds_id, name, prefix, datetime.now(UTC).replace(tzinfo=None), report.source,
            report.kind, report.relevance_threshold, report.n_users, report.n_items,
            report.n_interactions, report.has_users, report.has_items, json.dumps(stats),
        ],
    )  # fmt: skip
    return report
