"""LLM4MSR's knowledge, frozen: one prompt per scenario and one per user, encoded once by a text
encoder (:mod:`models.encoders`), cached in the workspace by encoder and prompt hash.

Every prompt is built from the **training** interactions only (the validation and test
periods never enter), so the knowledge cannot carry a held-out item.

* Scenario prompt: its name; its ``top_items`` most popular training items (by interactions,
  ties to the lower item index), by title (``Dataset.items.title``, else ``item <id>``); the
  share of its users also active in another scenario; and for each other scenario the overlap
  of the two top-item lists (``|top_s & top_o| / top_items``).
* User prompt: for each scenario the user is active in (by code), their ``recent_items``
  newest training items there (by timestamp, newest first; without timestamps the dataset's
  row order stands for time), by title.

:func:`plan_knowledge` is the dry run (prompts, cached, tokens, time, one-off cost, priced as
item embeddings are: :func:`analysis.embeddings.embed.price`); :func:`encode_knowledge`
encodes only the prompts the store lacks and records the spend under ``<dataset>#msr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.embeddings.embed import EmbedPlan, encode_texts, encoder_label, plan_texts
from analysis.embeddings.store import EmbeddingStore
from analysis.errors import AnalysisError
from analysis.split import TRAIN, Split
from models.encoders.protocol import EncodeUsage, TextEncoder

__all__ = [
    "NO_SCENARIOS", "Knowledge", "KnowledgePlan", "KnowledgePrompts", "build_prompts",
    "encode_knowledge", "plan_knowledge",
]

NO_SCENARIOS = (
    "The dataset {name!r} has no scenario column: the scenario-aware re-scorer needs one "
    "(ingest it again with its scenario, domain or surface column)."
)


@dataclass(frozen=True)
class KnowledgePrompts:
    """The prompts: ``scenario[s]`` for scenario code ``s``, ``user[u]`` for user_idx ``u``."""

    scenario: list[str]
    user: list[str]

    @property
    def all(self) -> list[str]:
        return [*self.scenario, *self.user]


@dataclass(frozen=True)
class KnowledgePlan:
    """The dry run of the knowledge: one prompt per scenario and per user, and what encoding
    them would take.

    Attributes:
        n_scenario_prompts, n_user_prompts: prompts (one per scenario, one per user).
        encoding: the prompts' :class:`~analysis.embeddings.embed.EmbedPlan` (``n_texts``:
            distinct prompts; ``n_cached``, ``n_to_encode``, ``tokens``, ``seconds``,
            ``cost_usd``, ``pricing`` as for item embeddings).
    """

    n_scenario_prompts: int
    n_user_prompts: int
    encoding: EmbedPlan

    def lines(self) -> list[str]:
        """The dry run in three lines (the CLI prints them, the Remedies page shows them)."""
        e = self.encoding
        return [
            f"encoder {e.encoder_id}",
            (f"{self.n_scenario_prompts} scenario prompts + {self.n_user_prompts} user "
             f"prompts: {e.n_texts} distinct, {e.n_cached} cached, {e.n_to_encode} to encode"),
            (f"~{e.tokens} tokens, ~{e.seconds:.1f} s at {e.tokens_per_s:g} tokens/s, "
             f"~${e.cost_usd:.4f} one-off ({e.pricing}); nothing per request"),
        ]


@dataclass(frozen=True)
class Knowledge:
    """Scenario and user knowledge vectors.

    Attributes:
        scenario: float32 ``(n_scenarios, d)``, row = scenario code.
        user: float32 ``(n_users, d)``, row = user_idx.
        encoder_id: the encoder (``"planted"``/``"random"`` for vectors given directly).
        uses_llm: whether a language model made them (False for TF-IDF, planted, random).
        one_off_usd: what the prompts have cost for this dataset and encoder, all runs.
        plan: the dry run made first (None for vectors given directly).
        usage: what this call encoded (zeros when everything was cached).
    """

    scenario: np.ndarray
    user: np.ndarray
    encoder_id: str
    uses_llm: bool
    one_off_usd: float = 0.0
    plan: KnowledgePlan | None = None
    usage: EncodeUsage = field(default_factory=EncodeUsage)

    @property
    def label(self) -> str:
        return encoder_label(self.encoder_id)


def _titles(dataset) -> np.ndarray:
    ids = np.asarray(dataset.item_ids).astype(str)
    names = np.char.add("item ", ids).astype(object)
    if dataset.items is not None and "title" in dataset.items:
        title = dataset.items["title"].to_numpy(object)
        known = pd.notna(title) & (pd.Series(title).astype(str).str.strip() != "").to_numpy()
        names[known] = title[known]
    return names


def _training_rows(split: Split) -> pd.DataFrame:
    ds = split.dataset
    if ds.scenario is None:
        raise AnalysisError(NO_SCENARIOS.format(name=ds.name))
    train = np.flatnonzero(split.fold == TRAIN)
    time = (np.asarray(ds.timestamp, np.int64)[train] if ds.timestamp is not None
            else train.astype(np.int64))
    return pd.DataFrame({"user": ds.user_idx[train].astype(np.int64),
                         "item": ds.item_idx[train].astype(np.int64),
                         "scenario": ds.scenario[train].astype(np.int64),
                         "time": time, "row": train})


def _top_items(rows: pd.DataFrame, n_scen: int, top: int) -> list[np.ndarray]:
    counts = rows.groupby(["scenario", "item"]).size().rename("n").reset_index()
    counts = counts.sort_values(["scenario", "n", "item"], ascending=[True, False, True])
    tops = counts.groupby("scenario").head(top).groupby("scenario")["item"].apply(np.asarray)
    return [tops.get(s, np.zeros(0, np.int64)) for s in range(n_scen)]


def build_prompts(split: Split, *, top_items: int = 10, recent_items: int = 5) -> KnowledgePrompts:
    """The scenario and user prompts (see the module docstring).

    Raises:
        AnalysisError: the dataset has no scenarios (:data:`NO_SCENARIOS`).
    """
    ds = split.dataset
    rows = _training_rows(split)
    names, titles = list(ds.scenario_names), _titles(ds)
    n_scen = len(names)
    tops = _top_items(rows, n_scen, top_items)
    active = rows.groupby("user")["scenario"].nunique()
    multi = rows[["user", "scenario"]].drop_duplicates()
    multi = multi.assign(cross=multi["user"].map(active).to_numpy() > 1)
    share = multi.groupby("scenario")["cross"].mean()
    scenario = []
    for s in range(n_scen):
        rel = "; ".join(
            f"{names[o]}: {len(np.intersect1d(tops[s], tops[o])) / max(top_items, 1):.0%}"
            for o in range(n_scen) if o != s)
        scenario.append(
            f"Scenario: {names[s]}. Most popular items: "
            f"{'; '.join(str(titles[i]) for i in tops[s]) or 'none'}. "
            f"{share.get(s, 0.0):.0%} of its users are also active in other scenarios. "
            f"Overlap of its popular items with other scenarios: {rel or 'none'}.")
    recent = rows.sort_values(["user", "scenario", "time", "row"],
                              ascending=[True, True, False, False])
    recent = recent.groupby(["user", "scenario"]).head(recent_items)
    recent = recent.assign(title=titles[recent["item"].to_numpy()].astype(str))
    per = recent.groupby(["user", "scenario"], sort=True)["title"].agg("; ".join).reset_index()
    per["part"] = [f"{names[s]}: {t}" for s, t in zip(per["scenario"], per["title"],
                                                      strict=True)]
    parts = per.groupby("user")["part"].agg(" | ".join)
    user = [f"A user's recent items per scenario, newest first. {parts[u]}" if u in parts.index
            else "A user with no past interactions." for u in range(ds.n_users)]
    return KnowledgePrompts(scenario=scenario, user=user)


def _name(dataset_name: str) -> str:
    """Where the knowledge's spend is recorded in the embedding store."""
    return f"{dataset_name}#msr"


def _plan(prompts: KnowledgePrompts, encoding: EmbedPlan) -> KnowledgePlan:
    return KnowledgePlan(len(prompts.scenario), len(prompts.user), encoding)


def plan_knowledge(prompts: KnowledgePrompts, encoder: TextEncoder, store: EmbeddingStore, *,
                   dataset_name: str, tokens_per_s: float | None = None) -> KnowledgePlan:
    """The dry run: what :func:`encode_knowledge` would encode and cost; encodes nothing."""
    return _plan(prompts, plan_texts(_name(dataset_name), prompts.all, encoder, store,
                                     tokens_per_s=tokens_per_s))


def encode_knowledge(prompts: KnowledgePrompts, encoder: TextEncoder, store: EmbeddingStore,
                     dataset_name: str, *, tokens_per_s: float | None = None) -> Knowledge:
    """Every prompt's vector through :func:`analysis.embeddings.embed.encode_texts`: only the
    prompts the store lacks for this encoder are encoded, the spend recorded once under
    ``<dataset_name>#msr``.

    Raises:
        AnalysisError: a bad throughput, the encoder failed, or it answered vectors of
            differing lengths.
    """
    done = encode_texts(_name(dataset_name), prompts.all, encoder, store,
                        tokens_per_s=tokens_per_s)
    n_scen = len(prompts.scenario)
    return Knowledge(scenario=done.vectors[:n_scen], user=done.vectors[n_scen:],
                     encoder_id=encoder.id, uses_llm=encoder.name != "tfidf",
                     one_off_usd=done.total_usd, plan=_plan(prompts, done.plan),
                     usage=done.usage)
