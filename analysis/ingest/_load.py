"""Load a workspace dataset back as a dense-indexed :class:`~analysis.dataset.Dataset`."""

from __future__ import annotations

import json

import numpy as np

from analysis.dataset import Dataset, FeedbackKind, compute_gain
from analysis.workspace import Workspace


def load_dataset(workspace: Workspace, name: str) -> Dataset:
    """Load a stored dataset as an in-memory :class:`~analysis.dataset.Dataset`.

    Dense indices follow the sorted raw ids (``user_idx = dense_rank() over (order by
    user_id) - 1``, likewise items); interactions come sorted by ``(user_idx, item_idx)``.
    A dataset stored with a scenario column gets ``scenario`` codes in sorted name order
    (``scenario_names[code]``) and ``meta["pairs_in_several_scenarios"]``; one stored without
    (or before scenarios existed) gets ``scenario=None``.

    Args:
        workspace: the workspace holding it.
        name: the dataset name.

    Returns:
        The dataset; ``users`` / ``items`` frames aligned with ``user_idx`` / ``item_idx``
        (nulls for ids absent from the side table), ``meta`` with the catalog entry.

    Raises:
        AnalysisError: no such dataset.
    """
    with workspace.connect(read_only=True) as con:
        info = workspace.catalog_row(con, name)
        stats = json.loads(info["stats"]) if info.get("stats") else {}
        p = info["table_prefix"]
        vocab = (
            f"WITH u AS (SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) - 1 AS "
            f"INTEGER) AS user_idx FROM (SELECT DISTINCT user_id FROM {p}_interactions)), "
            f"i AS (SELECT item_id, CAST(row_number() OVER (ORDER BY item_id) - 1 AS INTEGER) "
            f"AS item_idx FROM (SELECT DISTINCT item_id FROM {p}_interactions)) "
        )
        columns = {r[0] for r in con.execute(f"DESCRIBE {p}_interactions").fetchall()}
        names: tuple[str, ...] = ()
        scen_sql = scen_join = ""
        if "scenario" in columns:
            names = tuple(
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT scenario FROM {p}_interactions ORDER BY scenario"
                ).fetchall()
            )
            vocab += (
                f", s AS (SELECT scenario, CAST(row_number() OVER (ORDER BY scenario) - 1 AS "
                f"SMALLINT) AS scenario_code FROM (SELECT DISTINCT scenario FROM "
                f"{p}_interactions)) "
            )
            scen_sql, scen_join = ", s.scenario_code", " JOIN s USING (scenario)"
        arrays = con.execute(
            f"{vocab} SELECT u.user_idx, i.item_idx, CAST(t.rating AS FLOAT) AS value, t.ts"
            f"{scen_sql} FROM {p}_interactions t JOIN u USING (user_id) JOIN i USING (item_id)"
            f"{scen_join} ORDER BY u.user_idx, i.item_idx"
        ).fetchnumpy()
        user_ids = con.execute(
            f"SELECT DISTINCT user_id FROM {p}_interactions ORDER BY user_id"
        ).fetchnumpy()["user_id"]
        item_ids = con.execute(
            f"SELECT DISTINCT item_id FROM {p}_interactions ORDER BY item_id"
        ).fetchnumpy()["item_id"]
        users = items = None
        if info["has_users"]:
            users = con.execute(
                f"{vocab} SELECT u.user_id, s.* EXCLUDE (user_id) FROM u "
                f"LEFT JOIN {p}_users s USING (user_id) ORDER BY u.user_idx"
            ).df()
        if info["has_items"]:
            items = con.execute(
                f"{vocab} SELECT i.item_id, s.* EXCLUDE (item_id) FROM i "
                f"LEFT JOIN {p}_items s USING (item_id) ORDER BY i.item_idx"
            ).df()
    kind: FeedbackKind = info["kind"]
    value = None if kind == "implicit" else np.asarray(arrays["value"], dtype=np.float32)
    ts = np.asarray(arrays["ts"], dtype=np.int64) if stats.get("has_timestamps") else None
    threshold = float(info["relevance_threshold"])
    n = len(arrays["user_idx"])
    meta = {
        "source": info["source"],
        "created_at": str(info["created_at"]),
        "workspace": workspace.path,
        "ingest": stats,
    }
    scenario = None
    if "scenario" in columns:
        scenario = np.asarray(arrays["scenario_code"], dtype=np.int16)
        meta["pairs_in_several_scenarios"] = int(stats.get("pairs_in_several_scenarios", 0))
    gain = compute_gain(value, kind, threshold) if value is not None else np.ones(n, np.float32)
    return Dataset(
        name=info["name"],
        user_idx=np.asarray(arrays["user_idx"], dtype=np.int32),
        item_idx=np.asarray(arrays["item_idx"], dtype=np.int32),
        value=value,
        timestamp=ts,
        gain=gain,
        user_ids=np.asarray(user_ids),
        item_ids=np.asarray(item_ids),
        users=users,
        items=items,
        kind=kind,
        relevance_threshold=threshold,
        meta=meta,
        scenario=scenario,
        scenario_names=names,
    )
