"""Embed a dataset's catalogue: plan (the dry run) first, then encode only what is missing.

:func:`plan_embedding` says, before any model runs, how many item texts must be encoded
(distinct texts not yet in the store for this encoder), their tokens (exact for a local
tokenizer, ``ceil(chars / 3.5)`` for an API), the expected time and the one-off cost:

* time = tokens / throughput, the throughput an assumption (:data:`TOKENS_PER_S`, or the
  caller's measured figure);
* cost = tokens / 1e6 x ``usd_per_mtok`` for an API encoder, or time / 3600 x
  ``gpu_usd_per_hour`` for a local model; the TF-IDF control costs nothing.

:func:`embed_items` encodes the missing texts, stores them, records the run's actual spend
once for the catalogue (measured tokens and seconds, priced the same way), and returns every
item's vector. A catalogue-fitted encoder (TF-IDF) is fitted on all item texts first, which
is cheap and needed to name it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.dataset import Dataset
from analysis.embeddings.item_text import build_item_texts
from analysis.embeddings.store import EmbeddingStore, text_sha256
from analysis.errors import AnalysisError
from models.encoders.protocol import EncodeUsage, TextEncoder

__all__ = [
    "TOKENS_PER_S", "EmbedPlan", "EncodedTexts", "ItemEmbeddings", "embed_items",
    "encode_texts", "encoder_label", "plan_embedding", "plan_texts",
]

#: assumed encoding throughput (tokens per second) for the dry run's time, per encoder/device.
#: CPU: a 6-layer, 384-wide BERT (MiniLM-L6's shape) encoded MovieLens 100K's item texts at
#: 700 to 1,600 tokens/s on 2 busy cores; CUDA and the API are guesses until measured.
TOKENS_PER_S = {
    "tfidf": 1_000_000.0,
    "transformers:cpu": 1_000.0,
    "transformers:cuda": 200_000.0,
    "openai": 20_000.0,
}
BAD_THROUGHPUT = "Bad encoding throughput {value!r}: give tokens per second > 0."


@dataclass(frozen=True)
class EmbedPlan:
    """The dry run: what embedding a catalogue would take.

    Attributes:
        dataset: the dataset's name.
        encoder_id: the encoder (see :attr:`TextEncoder.id`).
        n_items: items in the catalogue.
        n_texts: distinct item texts.
        n_cached: distinct texts already stored for this encoder.
        n_to_encode: distinct texts to encode (``n_texts - n_cached``).
        tokens: tokens of the texts to encode (exact or estimated, see module docstring).
        tokens_per_s: the throughput assumed.
        seconds: ``tokens / tokens_per_s``.
        cost_usd: the one-off cost estimate.
        pricing: how the cost is priced, in words.
    """

    dataset: str
    encoder_id: str
    n_items: int
    n_texts: int
    n_cached: int
    n_to_encode: int
    tokens: int
    tokens_per_s: float
    seconds: float
    cost_usd: float
    pricing: str


@dataclass(frozen=True)
class ItemEmbeddings:
    """Every item's vector.

    Attributes:
        vectors: float32 ``(n_items, dim)``, row ``item_idx``.
        encoder_id: the encoder.
        plan: the dry run made before encoding.
        usage: what this run encoded (zeros when everything was cached).
        cost_usd: what this run cost.
        catalogue_cost_usd: the catalogue's one-off cost with this encoder, all runs.
    """

    vectors: np.ndarray
    encoder_id: str
    plan: EmbedPlan
    usage: EncodeUsage
    cost_usd: float
    catalogue_cost_usd: float

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def uses_llm(self) -> bool:
        """Whether a language model made the vectors (every encoder but the TF-IDF control)."""
        return not self.encoder_id.startswith("tfidf:")


def encoder_label(encoder_id: str) -> str:
    """A short name of an encoder for a label: ``tfidf``, ``transformers:<folder>``,
    ``openai:<host>/<model>`` (the id up to its first setting)."""
    head = encoder_id.split("|", 1)[0]
    return "tfidf" if head.startswith("tfidf:") else head


def _throughput_key(encoder: TextEncoder) -> str:
    if encoder.name == "transformers":
        device = str(getattr(encoder, "device", "cpu"))
        return "transformers:cuda" if device.startswith("cuda") else "transformers:cpu"
    return encoder.name


def price(encoder: TextEncoder, tokens: int, seconds: float) -> tuple[float, str]:
    """One-off cost in USD of ``tokens`` encoded in ``seconds``, and its basis in words."""
    per_mtok = float(getattr(encoder, "usd_per_mtok", 0.0) or 0.0)
    per_hour = float(getattr(encoder, "gpu_usd_per_hour", 0.0) or 0.0)
    if encoder.name == "openai":
        return tokens / 1e6 * per_mtok, f"{tokens} tokens x ${per_mtok:g}/M tokens"
    if encoder.name == "transformers":
        return seconds / 3600.0 * per_hour, f"{seconds:.1f} s x ${per_hour:g}/hour"
    return 0.0, "free (CPU, no model)"


@dataclass(frozen=True)
class EncodedTexts:
    """Texts encoded through the store (:func:`encode_texts`).

    Attributes:
        vectors: float32 ``(len(texts), dim)``, one row per input text.
        plan: the dry run made before encoding.
        usage: what this call encoded (zeros when everything was cached).
        cost_usd: what this call cost; total_usd: the spend recorded under the name, all runs.
    """

    vectors: np.ndarray
    plan: EmbedPlan
    usage: EncodeUsage
    cost_usd: float
    total_usd: float


def _unique(encoder: TextEncoder, texts) -> tuple[list[str], dict[str, str]]:
    """Fit a corpus-fitted encoder on ``texts``; their hashes and the first text per hash."""
    texts = list(texts)
    if not encoder.per_item:
        encoder.fit(texts)
    hashes = text_sha256(texts)
    return hashes, dict(zip(hashes, texts, strict=True))


def _plan(name: str, n_texts: int, encoder: TextEncoder, unique: dict, cached: dict,
          tokens_per_s: float | None) -> EmbedPlan:
    if tokens_per_s is None:
        tokens_per_s = TOKENS_PER_S[_throughput_key(encoder)]
    if not tokens_per_s > 0:
        raise AnalysisError(BAD_THROUGHPUT.format(value=tokens_per_s))
    missing = [t for h, t in unique.items() if h not in cached]
    tokens = int(sum(encoder.count_tokens(missing))) if missing else 0
    seconds = tokens / float(tokens_per_s)
    cost, basis = price(encoder, tokens, seconds)
    return EmbedPlan(
        name, encoder.id, n_texts, len(unique), len(unique) - len(missing),
        len(missing), tokens, float(tokens_per_s), seconds, cost, basis,
    )  # fmt: skip


def plan_texts(name: str, texts, encoder: TextEncoder, store: EmbeddingStore, *,
               tokens_per_s: float | None = None) -> EmbedPlan:
    """The dry run of :func:`encode_texts`: what it would encode and cost; encodes nothing
    (a corpus-fitted encoder is fitted, which is cheap and needed to name it)."""
    hashes, unique = _unique(encoder, texts)
    return _plan(name, len(hashes), encoder, unique, store.get(encoder.id, list(unique)),
                 tokens_per_s)


def encode_texts(name: str, texts, encoder: TextEncoder, store: EmbeddingStore, *,
                 tokens_per_s: float | None = None) -> EncodedTexts:
    """Every text's vector, encoding only the distinct texts the store lacks for this encoder;
    this call's spend is recorded once under ``name`` (a dataset's catalogue, or
    ``<dataset>#msr`` for the scenario knowledge).

    Raises:
        AnalysisError: a bad throughput, the encoder failed, or it answered vectors of a
            length other than the stored ones.
    """
    hashes, unique = _unique(encoder, texts)
    encoder_id = encoder.id
    cached = store.get(encoder_id, list(unique))
    plan = _plan(name, len(hashes), encoder, unique, cached, tokens_per_s)
    missing = [h for h in unique if h not in cached]
    before = encoder.usage
    if missing:
        fresh = encoder.encode([unique[h] for h in missing])
        store.put(encoder_id, missing, fresh)
        cached.update(zip(missing, np.asarray(fresh, dtype=np.float32), strict=True))
    u = encoder.usage
    usage = EncodeUsage(u.texts - before.texts, u.tokens - before.tokens,
                        u.seconds - before.seconds, u.calls - before.calls)  # fmt: skip
    cost, _ = price(encoder, usage.tokens, usage.seconds)
    if missing:
        store.record_cost(name, encoder_id, n_items=len(hashes), n_computed=len(missing),
                          tokens=usage.tokens, seconds=usage.seconds, cost_usd=cost)  # fmt: skip
    dims = {len(v) for v in cached.values()}
    if len(dims) > 1:
        raise AnalysisError(
            f"Stored vectors of encoder {encoder_id!r} have lengths {sorted(dims)}; "
            "expected one length."
        )
    vectors = np.stack([cached[h] for h in hashes]).astype(np.float32, copy=False)
    total = store.catalogue_cost(name, encoder_id).cost_usd
    return EncodedTexts(vectors, plan, usage, cost, total)


def plan_embedding(
    dataset: Dataset, encoder: TextEncoder, store: EmbeddingStore, *,
    max_chars: int = 1000, tokens_per_s: float | None = None,
) -> EmbedPlan:  # fmt: skip
    """The dry run: what :func:`embed_items` would encode and cost; encodes nothing.

    Raises:
        AnalysisError: a bad throughput or item text setting.
    """
    texts = build_item_texts(dataset, max_chars=max_chars)
    return plan_texts(dataset.name, texts, encoder, store, tokens_per_s=tokens_per_s)


def embed_items(
    dataset: Dataset, encoder: TextEncoder, store: EmbeddingStore, *,
    max_chars: int = 1000, tokens_per_s: float | None = None,
) -> ItemEmbeddings:  # fmt: skip
    """Every item's vector (:func:`encode_texts` of the item texts, recorded under the
    dataset's name).

    Raises:
        AnalysisError: the encoder failed, or answered vectors of a length other than the
            stored ones.
    """
    texts = build_item_texts(dataset, max_chars=max_chars)
    done = encode_texts(dataset.name, texts, encoder, store, tokens_per_s=tokens_per_s)
    return ItemEmbeddings(done.vectors, encoder.id, done.plan, done.usage, done.cost_usd,
                          done.total_usd)
