"""After a rerank, for the app and the report: one stored LLM call, why one user gained or
lost, and whether a provider's API key is available.

Nothing here calls an LLM or spends anything. A user's candidates, history and the LLM's
ranking are rebuilt from the run's recorded settings: the candidate shuffle and the history
sample are seeded per user (batch-independent, :mod:`analysis.rerank.candidates`), so one
user's prompt is rebuilt exactly without re-planning the whole job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.rerank.config import RerankConfig
from analysis.rerank.parsing import parse_ranking
from analysis.rerank.prompt_book import (
    ItemTexts,
    build_candidates,
    build_history,
    build_prompt_book,
)
from analysis.rerank.prompts import load_template
from analysis.runs.baseline import BaselineRun
from analysis.workspace import Workspace

__all__ = [
    "CallDetails",
    "KeyStatus",
    "UserExplanation",
    "call_details",
    "explain_user",
    "key_status",
    "resolve_api_key",
]

NO_SUCH_CALL = (
    "No stored LLM call with key {key!r} in this workspace; the call failed (failed calls are "
    "not stored) or the workspace was replaced."
)
NO_SUCH_USER = "User {user_id!r} is not in this run's per-user table; pick a user from the table."

#: environment variable holding each backend's key (None: the backend needs no key)
KEY_VARS: dict[str, str | None] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "transformers": None,
}

@dataclass(frozen=True)
class CallDetails:
    """One stored LLM call (the workspace's ``llm_calls`` row), prompt and answer included.

    Never holds a key: prompts carry item titles and ratings only.
    """

    key: str
    backend: str
    model: str
    mode: str
    system_prompt: str
    user_prompt: str
    response_text: str
    max_tokens: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float
    stop_reason: str | None
    created_at: datetime | None


def call_details(workspace: Workspace, key: str) -> CallDetails:
    """The stored prompt and answer of the call with cache key ``key``.

    Args:
        workspace: the workspace the rerank ran in.
        key: the ``key`` column of the run's ``calls.parquet``.

    Raises:
        AnalysisError: no such call (:data:`NO_SUCH_CALL`), e.g. a call that failed.
    """
    with workspace.connect(read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'llm_calls'"
        ).fetchall()[0][0]
        rows = []
        if exists:
            rows = con.execute(
                "SELECT key, backend, model, mode, system_prompt, user_prompt, response_text, "
                "max_tokens, input_tokens, output_tokens, cost_usd, latency_s, stop_reason, "
                "created_at FROM llm_calls WHERE key = ?",
                [str(key)],
            ).fetchall()
    if not rows:
        raise AnalysisError(NO_SUCH_CALL.format(key=key))
    r = rows[0]
    return CallDetails(
        key=r[0], backend=r[1], model=r[2], mode=r[3], system_prompt=r[4] or "",
        user_prompt=r[5] or "", response_text=r[6] or "", max_tokens=int(r[7] or 0),
        input_tokens=int(r[8] or 0), output_tokens=int(r[9] or 0), cost_usd=float(r[10] or 0),
        latency_s=float(r[11] or 0), stop_reason=r[12], created_at=r[13],
    )


@dataclass(frozen=True)
class UserExplanation:
    """Why one weak user gained or lost: what the LLM saw and how it reordered it.

    Attributes:
        user_id: raw id.
        history: the prompt's history, in prompt order: ``position`` (from 1), ``item_id``,
            ``text``, ``rating`` (NaN when unknown).
        candidates: one row per candidate in BASELINE order: ``item_id``, ``text``,
            ``shown_id`` (the identifier in the prompt), ``baseline_rank`` and ``llm_rank``
            (from 1; ``llm_rank`` is the ranking actually used, i.e. the baseline's when the
            answer was unusable), ``relevant`` (a held-out relevant test item).
        answer: the LLM's raw answer ("" in likelihood mode or when there was none).
        answer_used: whether the answer gave a usable ranking.
        n_hallucinated: identifiers or titles in the answer that were not candidates.
        taste: the taste line the prompt carried after the history
            (:func:`~analysis.rerank.prompts.format_taste`); ``""`` when the rerank's
            ``taste`` was ``off`` or the user has no categorised training item.
    """

    user_id: Any
    history: pd.DataFrame
    candidates: pd.DataFrame
    answer: str
    answer_used: bool
    n_hallucinated: int
    taste: str = ""


def explain_user(
    run: BaselineRun, config: RerankConfig, user_id: Any, answer: str | None
) -> UserExplanation:
    """Rebuild one user's candidates and history and read the LLM's ranking from ``answer``.

    Args:
        run: the baseline run the rerank started from.
        config: the rerank's settings (:attr:`analysis.runs.rerank.RerankRun.config`).
        user_id: raw id of a user of the run.
        answer: the stored answer (:func:`call_details`), None when there was none.

    Raises:
        AnalysisError: unknown user (:data:`NO_SUCH_USER`).
    """
    pu = run.per_user
    hit = np.flatnonzero(pu["user_id"].astype(str).to_numpy() == str(user_id))
    if len(hit) == 0:
        raise AnalysisError(NO_SUCH_USER.format(user_id=user_id))
    u = np.array([int(pu.index[hit[0]])], dtype=np.int64)
    # the very builders of the dry run and the job: same candidates, history, texts, template
    cands = build_candidates(run, u, config)
    hist = build_history(run, u, cands, config)
    texts = ItemTexts(run, config)
    template = load_template(config.template)
    book = build_prompt_book(texts, config, template, cands, hist)
    ds = run.dataset
    items = cands.items[0]
    n_valid = int((items >= 0).sum())
    hist_items = hist.items[0][hist.items[0] >= 0]
    shown = cands.shown[0][:n_valid].astype(np.int64)  # baseline column at each prompt slot
    base_rank = cands.baseline_rank[0][:n_valid]
    text = answer or ""
    pr = parse_ranking(text, book.shown_texts(0), base_rank, id_style=template.id_style)
    order = np.asarray(pr.order, dtype=np.int64) if pr.used else np.argsort(base_rank)
    llm_rank = np.empty(n_valid, dtype=np.int64)
    llm_rank[shown[order]] = np.arange(1, n_valid + 1)
    shown_id = np.empty(n_valid, dtype=np.int64)
    shown_id[shown] = np.arange(1, n_valid + 1)
    relevant = np.isin(items[:n_valid], run.split.test[int(u[0])].indices)  # gain > 0 only
    candidates = pd.DataFrame({
        "item_id": ds.item_ids[items[:n_valid]],
        "text": [texts.texts[i] for i in items[:n_valid]],
        "shown_id": shown_id,
        "baseline_rank": np.arange(1, n_valid + 1),
        "llm_rank": llm_rank,
        "relevant": relevant,
    })
    ratings = hist.ratings[0][: len(hist_items)].astype(np.float64)
    history = pd.DataFrame({
        "position": np.arange(1, len(hist_items) + 1),
        "item_id": ds.item_ids[hist_items],
        "text": [texts.texts[i] for i in hist_items],
        "rating": ratings,
    })
    return UserExplanation(
        user_id=pu["user_id"].iloc[hit[0]],
        history=history,
        candidates=candidates,
        answer=text,
        answer_used=bool(pr.used),
        n_hallucinated=int(pr.n_hallucinated),
        taste="" if book.taste is None else str(book.taste[0]),
    )


@dataclass(frozen=True)
class KeyStatus:
    """Whether a backend's API key is available. Never holds the key itself.

    Attributes:
        backend: the backend name.
        env_var: the variable it reads (None: the backend needs no key).
        found: a non-empty key is available.
        source: ``"environment"``, ``"secrets"`` or None.
        message: one line for the page.
    """

    backend: str
    env_var: str | None
    found: bool
    source: str | None
    message: str


def _lookup(backend: str, environ: Mapping[str, str], secrets: Mapping[str, Any]):
    var = KEY_VARS.get(backend)
    if var is None:
        return var, None, None
    value = environ.get(var)
    if value and str(value).strip():
        return var, str(value).strip(), "environment"
    try:
        value = secrets.get(var)
    except Exception:  # noqa: BLE001 - a broken secrets file reads as no secret
        value = None
    if isinstance(value, str) and value.strip():
        return var, value.strip(), "secrets"
    return var, None, None


def key_status(
    backend: str, environ: Mapping[str, str], secrets: Mapping[str, Any] | None = None
) -> KeyStatus:
    """Where ``backend``'s key comes from, worded for the page (the environment wins).

    Args:
        backend: ``anthropic``, ``openai`` or ``transformers``.
        environ: the environment (``os.environ``).
        secrets: the app's secrets (``st.secrets`` as a dict; empty when there is no file).
    """
    var, value, source = _lookup(backend, environ, secrets or {})
    if var is None:
        return KeyStatus(backend, None, True, None,
                         "A local model needs no API key (it runs on this machine).")
    if value is not None:
        where = "the environment" if source == "environment" else "the app's secrets"
        return KeyStatus(backend, var, True, source, f"{var} found in {where}.")
    if backend == "openai":
        msg = (f"{var} missing: fine for a local server (vLLM, Ollama); for a hosted one set "
               f"it in the environment or .streamlit/secrets.toml and reload.")
    else:
        msg = (f"{var} missing: set it in the environment or .streamlit/secrets.toml and "
               f"reload; until then the dry run uses an approximate token count.")
    return KeyStatus(backend, var, False, None, msg)


def resolve_api_key(
    backend: str, environ: Mapping[str, str], secrets: Mapping[str, Any] | None = None
) -> str | None:
    """The key itself, to hand straight to the backend (never to display or store)."""
    return _lookup(backend, environ, secrets or {})[1]
