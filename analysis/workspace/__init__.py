"""The DuckDB workspace: one file holding every ingested dataset (and, later, runs and caches).

Layout of the file:

* ``schema_version(version INTEGER)``: one row, :data:`SCHEMA_VERSION`; later issues bump it
  and migrate (run tables, the LLM call cache) without touching the dataset tables.
* ``datasets``: the catalog, one row per dataset: ``name`` (unique, user-facing), ``id``
  (internal, never reused), ``table_prefix`` (``ds_000001``), ``created_at``, ``source``,
  ``kind``, ``relevance_threshold``, ``n_users``, ``n_items``, ``n_interactions``, ``stats``
  (JSON: ingest report, resolved column mapping, warnings).
* per dataset, tables named by the internal id, so renaming is one catalog ``UPDATE``:
  ``<prefix>_interactions(user_id, item_id, rating DOUBLE, ts BIGINT)`` with raw ids in their
  native type (``BIGINT`` or ``VARCHAR``), ``<prefix>_users(user_id, ...)`` and
  ``<prefix>_items(item_id, title, genres, ...)`` when given. Later per-dataset tables (runs)
  should reuse the prefix: :meth:`Workspace.delete_dataset` drops every ``<prefix>_*`` table.

Concurrency: DuckDB lets one process open a database file for writing at a time (the
threads of that process share one database instance); another process cannot open the file
at all while it is held, and the lock lasts as long as any connection of the holder is open.
So nothing keeps the workspace open longer than one short operation:

* :meth:`Workspace.connect` opens a connection per operation and closes it at once. Every
  connection is read-write (DuckDB refuses, within one process, connections of mixed modes).
* Long work never holds a connection while it computes or waits on a model, a network or a
  user: ingest stages and builds its tables in a private temporary database and copies them
  in with one short transaction; a job trains first and writes its run afterwards.
* A process that finds the file held waits, retrying with exponential backoff and jitter,
  for at most ``lock_wait_s`` seconds (env ``WEAKSPOT_LOCK_WAIT_S``, default 30), then raises
  :data:`WORKSPACE_LOCKED`, naming the holder's PID and what it runs (program and
  subcommand only, never its arguments). :func:`is_lock_error` tells that error apart.
* What must not be lost does not depend on the lock: a finished run is written to its folder
  first and listed once the workspace is free (:mod:`analysis.runs.store`), and a job's final state
  is written again until it lands (:mod:`analysis.jobs.manager`).
"""

from analysis.workspace._lock import (
    BAD_LOCK_WAIT,
    DEFAULT_LOCK_WAIT_S,
    LOCK_WAIT_ENV,
    WORKSPACE_LOCKED,
    backoff_delays,
    describe_process,
    is_lock_error,
)
from analysis.workspace._workspace import (
    BAD_NAME,
    DEFAULT_WORKSPACE,
    LIST_COLUMNS,
    NAME_TAKEN,
    NEWER_SCHEMA,
    NO_SUCH_DATASET,
    SCHEMA_VERSION,
    WORKSPACE_ENV,
    Workspace,
    validate_dataset_name,
)

__all__ = [
    "BAD_LOCK_WAIT",
    "BAD_NAME",
    "DEFAULT_LOCK_WAIT_S",
    "DEFAULT_WORKSPACE",
    "LIST_COLUMNS",
    "LOCK_WAIT_ENV",
    "NAME_TAKEN",
    "NEWER_SCHEMA",
    "NO_SUCH_DATASET",
    "SCHEMA_VERSION",
    "WORKSPACE_ENV",
    "WORKSPACE_LOCKED",
    "Workspace",
    "backoff_delays",
    "describe_process",
    "is_lock_error",
    "validate_dataset_name",
]
