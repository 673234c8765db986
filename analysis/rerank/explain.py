"""Reading a finished rerank run back, for the app and the report: its files, one stored LLM
call, why one user gained or lost, and whether a provider's API key is available.

Nothing here calls an LLM or spends anything. A user's candidates, history and the LLM's
ranking are rebuilt from the run's recorded settings: the candidate shuffle and the history
sample are seeded per user (batch-independent, :mod:`analysis.rerank.candidates`), so one
user's prompt is rebuilt exactly without re-planning the whole job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.rerank.candidates import paper_candidates, realistic_candidates
from analysis.rerank.history import select_history
from analysis.rerank.parsing import parse_ranking
from analysis.rerank.plan import RerankConfig
from analysis.rerank.prompts import item_texts, load_template
from analysis.runs.baseline import LoadedRun
from analysis.weak_users import WeakRule
from analysis.workspace import Workspace

__all__ = [
    "CallDetails",
    "KeyStatus",
    "RerankRunFiles",
    "UserExplanation",
    "call_details",
    "config_from_dict",
    "explain_user",
    "key_status",
    "load_rerank_files",
    "resolve_api_key",
]

NOT_A_RERANK_RUN = surface_hints(
    "The folder {folder!r} is not a rerank run folder (no {missing}).",
    app="Launch a rerank on the LLM rerank page.",
    cli="Run `python -m analysis rerank ... --out DIR` first and give that folder.",
)
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

_FILES = (
    "rerank_summary.json",
    "rerank_per_user.parquet",
    "calls.parquet",
    "gains_by_group.csv",
    "cost_curve.csv",
)


@dataclass(frozen=True)
class RerankRunFiles:
    """The files of one rerank run (see :mod:`analysis.runs.rerank`).

    Attributes:
        path: the run folder.
        summary: ``rerank_summary.json`` (settings, totals, prices, ``gains``).
        per_user: ``rerank_per_user.parquet``: one row per weak user sent to the LLM.
        calls: ``calls.parquet``: one row per call, with its cache ``key``.
        by_group: ``gains_by_group.csv``: ``dimension``, ``group`` (str), ``n_users``,
            ``n_selected``, ``mean_before``, ``mean_after``, ``mean_gain``,
            ``mean_gain_selected``.
        curve: ``cost_curve.csv``: ``threshold``, ``n_users``, ``share``, ``mean_ndcg``,
            ``gain``, ``cost_usd``, ``usd_per_0.01``.
    """

    path: Path
    summary: dict
    per_user: pd.DataFrame
    calls: pd.DataFrame
    by_group: pd.DataFrame
    curve: pd.DataFrame

    @property
    def k(self) -> int:
        return int(self.summary["gains"]["k"])

    @property
    def config(self) -> RerankConfig:
        return config_from_dict(self.summary["config"])


def load_rerank_files(path: str | Path) -> RerankRunFiles:
    """Read a rerank run folder.

    Raises:
        AnalysisError: a file is missing (:data:`NOT_A_RERANK_RUN`).
    """
    p = Path(path)
    for name in _FILES:
        if not (p / name).is_file():
            raise AnalysisError(NOT_A_RERANK_RUN.format(folder=p.name, missing=name))
    by_group = pd.read_csv(p / "gains_by_group.csv", dtype={"group": str, "dimension": str})
    return RerankRunFiles(
        path=p,
        summary=json.loads((p / "rerank_summary.json").read_text()),
        per_user=pd.read_parquet(p / "rerank_per_user.parquet"),
        calls=pd.read_parquet(p / "calls.parquet"),
        by_group=by_group,
        curve=pd.read_csv(p / "cost_curve.csv"),
    )


def config_from_dict(d: Mapping[str, Any]) -> RerankConfig:
    """The :class:`RerankConfig` recorded by :meth:`RerankConfig.to_dict` (unknown keys are
    ignored, so a summary from a newer version still reads)."""
    fields = set(RerankConfig.__dataclass_fields__)
    kw = {k: v for k, v in d.items() if k in fields}
    kw.setdefault("negatives", "uniform")  # recorded before there was a choice: uniform
    if isinstance(kw.get("rule"), Mapping):
        kw["rule"] = WeakRule(**kw["rule"])
    return RerankConfig(**kw)


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
    """

    user_id: Any
    history: pd.DataFrame
    candidates: pd.DataFrame
    answer: str
    answer_used: bool
    n_hallucinated: int


def explain_user(
    run: LoadedRun, config: RerankConfig, user_id: Any, answer: str | None
) -> UserExplanation:
    """Rebuild one user's candidates and history and read the LLM's ranking from ``answer``.

    Args:
        run: the baseline run the rerank started from.
        config: the rerank's settings (:attr:`RerankRunFiles.config`).
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
    if config.protocol == "paper":
        cands = paper_candidates(
            run.split, run.model.score, u, n_candidates=config.n_candidates, seed=config.seed,
            negatives=config.negatives,
        )
    else:
        cands = realistic_candidates(
            run.rankings, u, run.split.test, n_candidates=config.n_candidates, seed=config.seed
        )
    hist = select_history(run.split, u, config.history, item_factors=run.item_factors,
                          candidates=cands, seed=config.seed, **config.history_params)
    ds = run.dataset
    items = cands.items[0]
    valid = items >= 0
    hist_items = hist.items[0][hist.items[0] >= 0]
    needed = np.unique(np.concatenate([items[valid], hist_items]))
    texts = np.empty(ds.n_items, dtype=object)
    texts[needed] = item_texts(ds.items, ds.item_ids, needed, max_chars=config.item_chars)

    n_valid = int(valid.sum())
    shown = cands.shown[0][:n_valid].astype(np.int64)  # baseline column at each prompt slot
    shown_texts = [texts[items[c]] for c in shown]
    base_rank = cands.baseline_rank[0][:n_valid]
    text = answer or ""
    template = load_template(config.template)
    pr = parse_ranking(text, shown_texts, base_rank, id_style=template.id_style)
    order = np.asarray(pr.order, dtype=np.int64) if pr.used else np.argsort(base_rank)
    llm_rank = np.empty(n_valid, dtype=np.int64)
    llm_rank[shown[order]] = np.arange(1, n_valid + 1)
    shown_id = np.empty(n_valid, dtype=np.int64)
    shown_id[shown] = np.arange(1, n_valid + 1)
    relevant = np.isin(items[:n_valid], run.split.test[int(u[0])].indices)  # gain > 0 only
    candidates = pd.DataFrame({
        "item_id": ds.item_ids[items[:n_valid]],
        "text": [texts[i] for i in items[:n_valid]],
        "shown_id": shown_id,
        "baseline_rank": np.arange(1, n_valid + 1),
        "llm_rank": llm_rank,
        "relevant": relevant,
    })
    ratings = hist.ratings[0][: len(hist_items)].astype(np.float64)
    history = pd.DataFrame({
        "position": np.arange(1, len(hist_items) + 1),
        "item_id": ds.item_ids[hist_items],
        "text": [texts[i] for i in hist_items],
        "rating": ratings,
    })
    return UserExplanation(
        user_id=pu["user_id"].iloc[hit[0]],
        history=history,
        candidates=candidates,
        answer=text,
        answer_used=bool(pr.used),
        n_hallucinated=int(pr.n_hallucinated),
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
    except Exception:  # a broken secrets file reads as no secret
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
