"""Every baseline and rerank run the app (or anyone) saves, listed in the workspace.

A run's files live in a folder (the same files the CLI writes: ``per_user.parquet``,
``summary.json``... for a baseline; ``rerank_per_user.parquet``... for a rerank), under
``<workspace folder>/runs/<run_id>``; the workspace's ``runs`` table lists them with their
parameters and headline figures, so a reload of the app shows every run and a table can
compare them without opening any folder.

A trained result is never thrown away because the workspace is busy: the folder is written
first, whole (see :func:`analysis.runs.files.atomic_folder`), with a ``run.json`` manifest holding
what the ``runs`` row holds; the row is inserted next, waiting for the workspace as long as
:meth:`~analysis.workspace.Workspace.connect` does. If another process still holds it, the
run is saved but not listed yet (:attr:`RunInfo.listed` is false), and the next
:meth:`RunStore.list_runs` (or :meth:`RunStore.register_pending`) lists it.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from analysis.errors import AnalysisError
from analysis.runs.files import atomic_folder, jsonable
from analysis.workspace import Workspace, is_lock_error

__all__ = ["MANIFEST", "RUN_NOT_LISTED_YET", "RunInfo", "RunStore"]

log = logging.getLogger(__name__)

NO_SUCH_RUN = "No run {run_id!r} in the workspace; pick one from the list of runs."
RUN_NOT_LISTED_YET = (
    "Saved run {run_id}; another process holds the workspace, so the run will be listed as "
    "soon as the workspace is free."
)

#: the file in a run folder that holds what the workspace's ``runs`` row holds
MANIFEST = "run.json"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    parent_run_id VARCHAR,
    label VARCHAR,
    created_at TIMESTAMP,
    path VARCHAR NOT NULL,
    params VARCHAR,
    headline VARCHAR
)
"""


@dataclass(frozen=True)
class RunInfo:
    """One saved run.

    Attributes:
        run_id: unique id (``<dataset>-<model>-<yyyymmdd-hhmmss>-<4 hex>``).
        kind: ``baseline``, ``rerank`` or ``remedy``.
        dataset: dataset name in the workspace.
        parent_run_id: for a rerank, the baseline run it reranked.
        label: a short human label (model, split, k; or backend, model, rule).
        created_at: UTC.
        path: the run's folder.
        params: the settings (JSON-able).
        headline: headline figures (JSON-able): overall metrics, weak users, cost...
        listed: whether the workspace lists it; false when it was saved while another
            process held the workspace (it is listed by the next :meth:`RunStore.list_runs`).
    """

    run_id: str
    kind: str
    dataset: str
    parent_run_id: str | None
    label: str
    created_at: datetime
    path: Path
    params: dict
    headline: dict
    listed: bool = True


class RunStore:
    """Save, list, load and delete runs of one workspace."""

    def __init__(self, workspace: Workspace, root: str | Path | None = None) -> None:
        self.workspace = workspace
        if root is None:
            if workspace.in_memory:
                root = Path(tempfile.mkdtemp(prefix="weakspot-runs-"))
            else:
                root = Path(workspace.path).resolve().parent / "runs"
        self.root = Path(root)
        self._ws_key = None if workspace.in_memory else str(Path(workspace.path).resolve())
        self._table_ready = False  # the table is made on first use: saving needs no workspace

    @contextmanager
    def _connect(self, wait_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.workspace.connect(wait_s=wait_s) as con:
            if not self._table_ready:
                con.execute(_SCHEMA)
                self._table_ready = True
            yield con

    def _new_id(self, dataset: str, what: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{dataset}-{what}")
        return f"{safe}-{stamp}-{uuid.uuid4().hex[:4]}"

    def _save(self, info: RunInfo, write: Callable[[Path], object]) -> RunInfo:
        """Write the folder whole (files, then the manifest), then list it if possible."""
        manifest = {
            "run_id": info.run_id, "kind": info.kind, "dataset": info.dataset,
            "parent_run_id": info.parent_run_id, "label": info.label,
            "created_at": info.created_at.replace(tzinfo=None).isoformat(),
            "params": jsonable(info.params), "headline": jsonable(info.headline),
            "workspace": self._ws_key,
        }  # fmt: skip
        with atomic_folder(info.path) as tmp:
            write(tmp)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        try:
            with self._connect() as con:
                self._insert(con, info)
        except AnalysisError as err:
            if not is_lock_error(err):
                raise
            log.warning("run %s saved in %s, not listed yet: %s", info.run_id, info.path, err)
            return replace(info, listed=False)
        return info

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, info: RunInfo) -> None:
        con.execute(
            "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [info.run_id, info.kind, info.dataset, info.parent_run_id, info.label,
             info.created_at.replace(tzinfo=None), str(info.path),
             json.dumps(jsonable(info.params)), json.dumps(jsonable(info.headline))],
        )

    def save_baseline(self, result) -> RunInfo:
        """Write a :class:`~analysis.pipeline.PipelineResult`'s files and list it.

        Returns:
            The run; ``listed`` is false when another process held the workspace past the
            wait (the folder is complete and is listed later, see :meth:`register_pending`).
        """
        from analysis.runs.baseline_folder import write_run_outputs

        cfg = result.config
        run_id = self._new_id(result.dataset.name, cfg.model)
        summary = result.summary()
        headline = {"overall": summary["overall"], "weak_users": summary["weak_users"],
                    "timings_s": summary["timings_s"]}
        label = f"{cfg.model} · {cfg.split} split · k={cfg.k} · seed {cfg.seed}"
        if cfg.sample is not None:  # a stratified sample of the users was evaluated
            s = cfg.sample
            label += (f" · {s.fraction:.0%} sample" if s.fraction is not None
                      else f" · {s.size:,}-user sample")
        info = RunInfo(run_id, "baseline", result.dataset.name, None, label,
                       datetime.now(UTC), self.root / run_id, cfg.to_dict(), headline)
        return self._save(info, lambda out: write_run_outputs(result, out,
                                                              workspace=self._ws_key))

    def save_rerank(self, result, parent_run_id: str, *, dataset: str | None = None) -> RunInfo:
        """Write a :class:`~analysis.runs.rerank.RerankRun`'s files and list it.

        Args:
            result: the finished rerank.
            parent_run_id: the baseline run it reranked.
            dataset: the parent's dataset; ``None``: looked up in the workspace (pass it
                when you have it, so that saving does not wait for the workspace).

        Returns:
            The run; ``listed`` as for :meth:`save_baseline`.
        """
        from analysis.runs.rerank import write_rerank_outputs

        if dataset is None:
            dataset = self.get(parent_run_id).dataset
        cfg = result.config
        run_id = self._new_id(dataset, f"rerank-{cfg.model}")
        s = result.summary.to_json()
        headline = {k: s[k] for k in ("n_requests", "n_reranked", "n_cached", "fallback",
                                      "usd_spent_this_job", "usd_total_including_cached",
                                      "wall_s")}
        headline["gains"] = {k: s["gains"][k] for k in (
            "mean_gain_selected", "mean_gain_all", "weak_remaining", "wilcoxon_p",
            "cost_per_0.01_ndcg_usd")}
        label = f"{cfg.backend} {cfg.model} · {cfg.rule.metric} rule · C={cfg.n_candidates}"
        info = RunInfo(run_id, "rerank", dataset, parent_run_id, label, datetime.now(UTC),
                       self.root / run_id, cfg.to_dict(), headline)
        return self._save(info, lambda out: write_rerank_outputs(result, out))

    def save_remedy(self, result, parent_run_id: str, dataset) -> RunInfo:
        """Write a :class:`~analysis.runs.remedy.RemedyRun`'s files and list it (kind
        ``remedy``, its parent the baseline run of ``dataset``, a
        :class:`~analysis.dataset.Dataset`).

        Returns:
            The run; ``listed`` as for :meth:`save_baseline`.
        """
        from analysis.runs.remedy import write_remedy_outputs

        s = result.summary
        run_id = self._new_id(dataset.name, s.kind)
        headline = {"mean_gain_target": result.mean_gain(), "n_target": s.n_target,
                    "one_off_usd": s.one_off_usd, "per_user_usd": s.per_user_usd}
        info = RunInfo(run_id, "remedy", dataset.name, parent_run_id, s.label,
                       datetime.now(UTC), self.root / run_id, {"kind": s.kind, **s.settings},
                       headline)
        return self._save(info, lambda out: write_remedy_outputs(result, out, dataset))

    def register_pending(self) -> list[str]:
        """List the run folders of this workspace that were saved but not listed yet.

        Returns:
            The ids of the runs it listed.

        Raises:
            AnalysisError: another process holds the workspace past the wait.
        """
        with self._connect() as con:
            return self._register_pending(con)

    def _register_pending(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        if not self.root.is_dir():
            return []
        known = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
        added = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or folder.name in known:
                continue
            manifest = folder / MANIFEST
            if not manifest.is_file():
                continue
            try:
                m = json.loads(manifest.read_text())
                if m.get("workspace") != self._ws_key or m.get("run_id") != folder.name:
                    continue  # a run of another workspace sharing this folder
                info = RunInfo(m["run_id"], m["kind"], m["dataset"], m.get("parent_run_id"),
                               m.get("label") or "", datetime.fromisoformat(m["created_at"]),
                               folder, m.get("params") or {}, m.get("headline") or {})
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("run folder %s has an unreadable %s: %s", folder, MANIFEST, exc)
                continue
            self._insert(con, info)
            added.append(info.run_id)
        return added

    def list_runs(self, dataset: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """Runs, newest first: run_id, kind, dataset, parent_run_id, label, created_at, path,
        params (dict), headline (dict). Runs saved while the workspace was busy are listed
        first (:meth:`register_pending`)."""
        sql = "SELECT * FROM runs WHERE 1=1"
        args: list = []
        if dataset is not None:
            sql += " AND dataset = ?"
            args.append(dataset)
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        with self._connect() as con:
            self._register_pending(con)
            df = con.execute(sql + " ORDER BY created_at DESC", args).fetchdf()
        df["params"] = df["params"].map(lambda s: json.loads(s) if s else {})
        df["headline"] = df["headline"].map(lambda s: json.loads(s) if s else {})
        return df

    def get(self, run_id: str) -> RunInfo:
        """One run (listing it first if it was saved while the workspace was busy).

        Raises:
            AnalysisError: no such run.
        """
        sql = "SELECT * FROM runs WHERE run_id = ?"
        with self._connect() as con:
            rows = con.execute(sql, [run_id]).fetchall()
            if not rows and self._register_pending(con):
                rows = con.execute(sql, [run_id]).fetchall()
        if not rows:
            raise AnalysisError(NO_SUCH_RUN.format(run_id=run_id))
        r = rows[0]
        return RunInfo(r[0], r[1], r[2], r[3], r[4], r[5], Path(r[6]),
                       json.loads(r[7] or "{}"), json.loads(r[8] or "{}"))

    def load_baseline(self, run_id: str):
        """The run's :class:`~analysis.runs.baseline.BaselineRun` (dataset, split, per-user
        table)."""
        from analysis.runs.baseline import load_run

        return load_run(self.get(run_id).path)

    def delete(self, run_id: str) -> None:
        """Remove a run (and the reranks made from it) from the list and the disk."""
        info = self.get(run_id)
        children = self.list_runs()
        children = children[children["parent_run_id"] == run_id]["run_id"].tolist()
        with self._connect() as con:
            con.execute("DELETE FROM runs WHERE run_id IN (SELECT unnest(?))",
                        [[run_id, *children]])
        for rid, p in [(run_id, info.path)] + [(c, None) for c in children]:
            folder = p or self.root / rid
            (folder / MANIFEST).unlink(missing_ok=True)  # never listed again, even if half-gone
            shutil.rmtree(folder, ignore_errors=True)
