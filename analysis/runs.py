"""Every baseline and rerank run the app (or anyone) saves, listed in the workspace.

A run's files live in a folder (the same files the CLI writes: ``per_user.parquet``,
``summary.json``... for a baseline; ``rerank_per_user.parquet``... for a rerank), under
``<workspace folder>/runs/<run_id>``; the workspace's ``runs`` table lists them with their
parameters and headline figures, so a reload of the app shows every run and a table can
compare them without opening any folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from analysis._files import jsonable
from analysis.errors import AnalysisError
from analysis.workspace import Workspace

__all__ = ["RunInfo", "RunStore"]

NO_SUCH_RUN = "No run {run_id!r} in the workspace; pick one from the list of runs."

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
        kind: ``baseline`` or ``rerank``.
        dataset: dataset name in the workspace.
        parent_run_id: for a rerank, the baseline run it reranked.
        label: a short human label (model, split, k; or backend, model, rule).
        created_at: UTC.
        path: the run's folder.
        params: the settings (JSON-able).
        headline: headline figures (JSON-able): overall metrics, weak users, cost...
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
        with workspace.connect() as con:
            con.execute(_SCHEMA)

    def _new_id(self, dataset: str, what: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{dataset}-{what}")
        return f"{safe}-{stamp}-{uuid.uuid4().hex[:4]}"

    def _register(self, info: RunInfo) -> RunInfo:
        with self.workspace.connect() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [info.run_id, info.kind, info.dataset, info.parent_run_id, info.label,
                 info.created_at.replace(tzinfo=None), str(info.path),
                 json.dumps(jsonable(info.params)), json.dumps(jsonable(info.headline))],
            )
        return info

    def save_baseline(self, result) -> RunInfo:
        """Write a :class:`~analysis.pipeline.PipelineResult`'s files and list it."""
        from analysis.pipeline import write_run_outputs

        cfg = result.config
        run_id = self._new_id(result.dataset.name, cfg.model)
        path = self.root / run_id
        ws_path = None if self.workspace.in_memory else str(Path(self.workspace.path).resolve())
        write_run_outputs(result, path, workspace=ws_path)
        summary = result.summary()
        headline = {"overall": summary["overall"], "weak_users": summary["weak_users"],
                    "timings_s": summary["timings_s"]}
        label = f"{cfg.model} · {cfg.split} split · k={cfg.k} · seed {cfg.seed}"
        return self._register(RunInfo(run_id, "baseline", result.dataset.name, None, label,
                                      datetime.now(UTC), path, cfg.to_dict(), headline))

    def save_rerank(self, result, parent_run_id: str) -> RunInfo:
        """Write a :class:`~analysis.rerank.job.RerankResult`'s files and list it."""
        from analysis.rerank.outputs import write_rerank_outputs

        parent = self.get(parent_run_id)
        cfg = result.plan.config
        run_id = self._new_id(parent.dataset, f"rerank-{cfg.model}")
        path = self.root / run_id
        write_rerank_outputs(result, path)
        s = result.summary
        headline = {k: s[k] for k in ("n_requests", "n_reranked", "n_cached", "fallback",
                                      "usd_spent_this_job", "usd_total_including_cached",
                                      "wall_s")}
        headline["gains"] = {k: s["gains"][k] for k in (
            "mean_gain_selected", "mean_gain_all", "weak_remaining", "wilcoxon_p",
            "cost_per_0.01_ndcg_usd")}
        label = f"{cfg.backend} {cfg.model} · {cfg.rule.metric} rule · C={cfg.n_candidates}"
        return self._register(RunInfo(run_id, "rerank", parent.dataset, parent_run_id, label,
                                      datetime.now(UTC), path, cfg.to_dict(), headline))

    def list_runs(self, dataset: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """Runs, newest first: run_id, kind, dataset, parent_run_id, label, created_at, path,
        params (dict), headline (dict)."""
        sql = "SELECT * FROM runs WHERE 1=1"
        args: list = []
        if dataset is not None:
            sql += " AND dataset = ?"
            args.append(dataset)
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        with self.workspace.connect(read_only=True) as con:
            df = con.execute(sql + " ORDER BY created_at DESC", args).fetchdf()
        df["params"] = df["params"].map(lambda s: json.loads(s) if s else {})
        df["headline"] = df["headline"].map(lambda s: json.loads(s) if s else {})
        return df

    def get(self, run_id: str) -> RunInfo:
        with self.workspace.connect(read_only=True) as con:
            rows = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).fetchall()
        if not rows:
            raise AnalysisError(NO_SUCH_RUN.format(run_id=run_id))
        r = rows[0]
        return RunInfo(r[0], r[1], r[2], r[3], r[4], r[5], Path(r[6]),
                       json.loads(r[7] or "{}"), json.loads(r[8] or "{}"))

    def load_baseline(self, run_id: str):
        """The run's :class:`~analysis.run_files.LoadedRun` (dataset, split, per-user table)."""
        from analysis.run_files import load_run

        return load_run(self.get(run_id).path)

    def delete(self, run_id: str) -> None:
        """Remove a run (and the reranks made from it) from the list and the disk."""
        info = self.get(run_id)
        children = self.list_runs()
        children = children[children["parent_run_id"] == run_id]["run_id"].tolist()
        with self.workspace.connect() as con:
            con.execute("DELETE FROM runs WHERE run_id IN (SELECT unnest(?))",
                        [[run_id, *children]])
        for rid, p in [(run_id, info.path)] + [(c, None) for c in children]:
            shutil.rmtree(p or self.root / rid, ignore_errors=True)
