"""Every LLM call, stored in the DuckDB workspace as soon as it returns.

A call is keyed by a SHA-256 of the backend, the model, the full prompt (system and user
parts) and the sampling parameters, so a re-run or a resumed job finds every answer it has
already paid for and never pays twice; a crash or a kill loses nothing that was stored. Each
row keeps the raw answer, the usage, the cost and the prompt (prompts hold item titles and
ratings, never a key). Failed calls (no answer) and answers with no text are not cached: a
resume retries them. Each write is its own short connection, so a job waiting on a model
never holds the workspace's write lock.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from analysis.workspace import Workspace
from models.llm.protocol import Completion, LLMRequest, Usage

__all__ = ["CachedCall", "CallCache", "call_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_calls (
    key VARCHAR PRIMARY KEY,
    backend VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    system_prompt VARCHAR,
    user_prompt VARCHAR,
    max_tokens INTEGER,
    temperature DOUBLE,
    response_text VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cache_creation_tokens BIGINT,
    cache_read_tokens BIGINT,
    cost_usd DOUBLE,
    latency_s DOUBLE,
    stop_reason VARCHAR,
    batch BOOLEAN,
    job_id VARCHAR,
    created_at TIMESTAMP
)
"""


_COLUMNS = (
    "key", "backend", "model", "mode", "system_prompt", "user_prompt", "max_tokens",
    "temperature", "response_text", "input_tokens", "output_tokens", "cache_creation_tokens",
    "cache_read_tokens", "cost_usd", "latency_s", "stop_reason", "batch", "job_id", "created_at",
)  # fmt: skip
#: rows arrive as a DataFrame (DuckDB's executemany takes ~1 ms a row: a batch's 100,000
#: answers would take minutes)
_INSERT = "INSERT INTO llm_calls SELECT * FROM rows ON CONFLICT (key) DO NOTHING"
_STOP = object()


class _GroupWriter:
    """A thread that commits queued rows in groups: whatever has arrived, in one write."""

    def __init__(self, write) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="weakspot-cache")
        self._thread.start()

    def put(self, row: list) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(row)

    def flush(self) -> None:
        """Wait until every row queued so far is committed; re-raise a failed write."""
        done = threading.Event()
        self._queue.put(done)
        done.wait()
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        stop = False
        while not stop:
            rows = [self._queue.get()]
            while True:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(r is _STOP for r in rows)
            flushed = [r for r in rows if isinstance(r, threading.Event)]
            rows = [r for r in rows if isinstance(r, list)]
            if rows and self._error is None:
                try:
                    self._write(rows)
                except BaseException as exc:  # noqa: BLE001 -- re-raised in the job's thread
                    self._error = exc
            for event in flushed:
                event.set()

    def close(self) -> None:
        """Commit everything queued, stop the thread, re-raise a failed write."""
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error


def call_key(backend: str, model: str, request: LLMRequest, mode: str = "generate") -> str:
    """SHA-256 of everything that determines the answer (and nothing else)."""
    payload = json.dumps(
        {
            "backend": backend,
            "model": model,
            "mode": mode,
            "system": request.system,
            "user": request.user,
            "max_tokens": int(request.max_tokens),
            "temperature": float(request.temperature),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedCall:
    """A stored answer."""

    key: str
    text: str
    usage: Usage
    cost_usd: float
    latency_s: float
    stop_reason: str | None
    batch: bool

    def completion(self) -> Completion:
        return Completion(
            text=self.text,
            usage=self.usage,
            latency_s=self.latency_s,
            stop_reason=self.stop_reason,
            batch=self.batch,
            meta={"cached": True},
        )


class CallCache:
    """The ``llm_calls`` table of a workspace. Thread-safe: backends report from threads."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.RLock()
        self._writer: _GroupWriter | None = None
        with workspace.connect() as con:
            con.execute(_SCHEMA)

    @contextmanager
    def _connection(self, read_only: bool = False):
        """A short-lived workspace connection: a job never holds the workspace between
        calls, so the app and other commands can write while it waits on the model."""
        with self._lock, self.workspace.connect(read_only=read_only) as con:
            yield con

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedCall]:
        """The stored answers among ``keys``."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        with self._connection(read_only=True) as con:
            rows = con.execute(
                "SELECT key, response_text, input_tokens, output_tokens, cache_creation_tokens, "
                "cache_read_tokens, cost_usd, latency_s, stop_reason, batch FROM llm_calls "
                "WHERE key IN (SELECT unnest(?))",
                [keys],
            ).fetchall()
        return {
            r[0]: CachedCall(
                r[0],
                r[1] or "",
                Usage(int(r[2]), int(r[3]), int(r[4]), int(r[5])),
                float(r[6]),
                float(r[7]),
                r[8],
                bool(r[9]),
            )
            for r in rows
        }

    def put(
        self,
        key: str,
        *,
        backend: str,
        model: str,
        mode: str,
        request: LLMRequest,
        completion: Completion,
        cost_usd: float,
        job_id: str,
    ) -> None:
        """Store one successful answer: committed before returning, or, inside
        :meth:`writing`, within one connection's time (answers arriving together are
        committed together)."""
        if not completion.ok:
            return
        u = completion.usage
        row = [
            key,
            backend,
            model,
            mode,
            request.system,
            request.user,
            int(request.max_tokens),
            float(request.temperature),
            completion.text,
            u.input_tokens,
            u.output_tokens,
            u.cache_creation_tokens,
            u.cache_read_tokens,
            float(cost_usd),
            float(completion.latency_s),
            completion.stop_reason,
            bool(completion.batch),
            job_id,
            datetime.now(UTC).replace(tzinfo=None),
        ]
        writer = self._writer
        if writer is not None:
            writer.put(row)
            return
        self._write([row])

    def _write(self, rows: list[list]) -> None:
        frame = pd.DataFrame(rows, columns=list(_COLUMNS)).drop_duplicates("key")
        frame = frame.astype({"stop_reason": "string", "max_tokens": "int64"})
        with self._connection() as con:
            con.register("rows", frame)
            con.execute(_INSERT)
            con.unregister("rows")

    def flush(self) -> None:
        """Inside :meth:`writing`: return once every answer put so far is committed (a
        batch is marked collected only after its answers are stored)."""
        writer = self._writer
        if writer is not None:
            writer.flush()

    @contextmanager
    def writing(self) -> Iterator[CallCache]:
        """Within the block, :meth:`put` hands answers to a writer thread that commits
        whatever has arrived in one short connection, then closes it: each answer is stored
        within about one connection's time of arriving, a burst of answers costs one
        connection, and the workspace is never held while the job waits on the model.
        Everything handed over is committed when the block ends, however it ends."""
        writer = _GroupWriter(self._write)
        self._writer = writer
        try:
            yield self
        finally:
            self._writer = None
            writer.close()

    def prompt_lengths(
        self, backend: str, model: str, mode: str, system: str, max_tokens: int,
        temperature: float,
    ) -> np.ndarray:
        """The distinct lengths (characters) of the user prompts stored for calls like these:
        a prompt of another length cannot be in the cache, so a dry run renders and looks up
        only the prompts whose length is here (none, usually, for a model not used before)."""
        with self._connection(read_only=True) as con:
            rows = con.execute(
                "SELECT DISTINCT length(user_prompt) FROM llm_calls WHERE backend = ? AND "
                "model = ? AND mode = ? AND system_prompt = ? AND max_tokens = ? AND "
                "temperature = ?",
                [backend, model, mode, system, int(max_tokens), float(temperature)],
            ).fetchall()
        return np.array(sorted(r[0] for r in rows if r[0] is not None), dtype=np.int64)

    def count(self) -> int:
        with self._connection(read_only=True) as con:
            return int(con.execute("SELECT count(*) FROM llm_calls").fetchall()[0][0])
