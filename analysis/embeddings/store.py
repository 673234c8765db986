"""Item embeddings and their one-off cost, stored in the DuckDB workspace.

A vector is keyed by the encoder's id (model and every setting that changes a vector, see
:class:`models.encoders.TextEncoder`) and the SHA-256 of the item's text, not by dataset or
item id: identical texts share one stored vector (across items and datasets), a second run
finds every vector and computes nothing, and a changed title misses only for that item.
Vectors are stored as their float32 bytes, so a cached vector is byte-identical to the one
computed. Each embed run that computed anything adds one row to ``embedding_costs``; the
catalogue's one-off cost is the sum of its rows (a cost per catalogue, never per user).
Each read or write is its own short connection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from analysis.workspace import Workspace

__all__ = ["CostRecord", "EmbeddingStore", "text_sha256"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS item_embeddings (
    encoder_id VARCHAR NOT NULL,
    text_sha256 VARCHAR NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    created_at TIMESTAMP,
    PRIMARY KEY (encoder_id, text_sha256)
);
CREATE TABLE IF NOT EXISTS embedding_costs (
    dataset VARCHAR NOT NULL,
    encoder_id VARCHAR NOT NULL,
    n_items BIGINT,
    n_computed BIGINT,
    tokens BIGINT,
    seconds DOUBLE,
    cost_usd DOUBLE,
    created_at TIMESTAMP
)
"""


def text_sha256(texts: Sequence[str]) -> list[str]:
    """Hex SHA-256 of each text's UTF-8 bytes."""
    return [hashlib.sha256(str(t).encode("utf-8")).hexdigest() for t in texts]


@dataclass(frozen=True)
class CostRecord:
    """What embedding a dataset's catalogue with one encoder has cost, all runs together.

    Attributes:
        dataset: the dataset's name.
        encoder_id: the encoder.
        n_computed: texts actually encoded (cache misses), all runs.
        tokens: tokens encoded, all runs.
        seconds: encode wall time, all runs.
        cost_usd: one-off cost (tokens x price for an API, seconds x $/hour for a GPU).
        runs: embed runs that computed something.
    """

    dataset: str
    encoder_id: str
    n_computed: int
    tokens: int
    seconds: float
    cost_usd: float
    runs: int


class EmbeddingStore:
    """The ``item_embeddings`` and ``embedding_costs`` tables of a workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        with workspace.connect() as con:
            con.execute(_SCHEMA)

    def get(self, encoder_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored float32 vectors among ``hashes`` (text SHA-256s), by hash."""
        keys = list(dict.fromkeys(hashes))
        if not keys:
            return {}
        with self.workspace.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT text_sha256, vector FROM item_embeddings WHERE encoder_id = ? "
                "AND text_sha256 IN (SELECT unnest(?))",
                [encoder_id, keys],
            ).fetchall()
        return {h: np.frombuffer(bytes(v), dtype=np.float32) for h, v in rows}

    def put(self, encoder_id: str, hashes: Sequence[str], vectors: np.ndarray) -> int:
        """Store ``vectors[i]`` under ``hashes[i]`` (already stored keys are kept as they are).

        Returns:
            rows written.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not len(hashes):
            return 0
        now = datetime.now(UTC).replace(tzinfo=None)
        seen: dict[str, int] = {}
        for i, h in enumerate(hashes):
            seen.setdefault(h, i)
        rows = pa.table({
            "text_sha256": pa.array(list(seen), pa.string()),
            "vector": pa.array([vectors[i].tobytes() for i in seen.values()], pa.binary()),
        })  # fmt: skip
        with self.workspace.connect() as con:
            con.register("_new_embeddings", rows)
            con.execute(
                "INSERT INTO item_embeddings SELECT ?, text_sha256, ?, vector, ? "
                "FROM _new_embeddings ON CONFLICT (encoder_id, text_sha256) DO NOTHING",
                [encoder_id, int(vectors.shape[1]), now],
            )
            con.unregister("_new_embeddings")
        return len(seen)

    def count(self, encoder_id: str | None = None) -> int:
        """Stored vectors (of one encoder, or all)."""
        with self.workspace.connect(read_only=True) as con:
            if encoder_id is None:
                return int(con.execute("SELECT count(*) FROM item_embeddings").fetchone()[0])
            return int(con.execute("SELECT count(*) FROM item_embeddings WHERE encoder_id = ?",
                                   [encoder_id]).fetchone()[0])  # fmt: skip

    def record_cost(
        self, dataset: str, encoder_id: str, *, n_items: int, n_computed: int, tokens: int,
        seconds: float, cost_usd: float,
    ) -> None:  # fmt: skip
        """Add one run's spend for a dataset's catalogue."""
        with self.workspace.connect() as con:
            con.execute(
                "INSERT INTO embedding_costs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [dataset, encoder_id, int(n_items), int(n_computed), int(tokens), float(seconds),
                 float(cost_usd), datetime.now(UTC).replace(tzinfo=None)],
            )  # fmt: skip

    def catalogue_cost(self, dataset: str, encoder_id: str) -> CostRecord:
        """The one-off cost of ``dataset``'s catalogue with ``encoder_id`` (zeros when none)."""
        with self.workspace.connect(read_only=True) as con:
            row = con.execute(
                "SELECT coalesce(sum(n_computed), 0), coalesce(sum(tokens), 0), "
                "coalesce(sum(seconds), 0), coalesce(sum(cost_usd), 0), count(*) "
                "FROM embedding_costs WHERE dataset = ? AND encoder_id = ?",
                [dataset, encoder_id],
            ).fetchone()
        return CostRecord(dataset, encoder_id, int(row[0]), int(row[1]), float(row[2]),
                          float(row[3]), int(row[4]))  # fmt: skip
