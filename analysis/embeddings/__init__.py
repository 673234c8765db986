"""Item text to embeddings: one text per item, encoders' vectors cached in the workspace.

:func:`build_item_texts` makes each item's text; :func:`plan_embedding` is the dry run
(texts, tokens, time, cost); :func:`embed_items` encodes what the :class:`EmbeddingStore`
lacks and records the catalogue's one-off cost. The encoders are :mod:`models.encoders`.
"""

from analysis.embeddings.embed import (
    TOKENS_PER_S,
    EmbedPlan,
    ItemEmbeddings,
    embed_items,
    encoder_label,
    plan_embedding,
)
from analysis.embeddings.item_text import DESCRIPTION_COLUMNS, build_item_texts
from analysis.embeddings.store import CostRecord, EmbeddingStore, text_sha256

__all__ = [
    "DESCRIPTION_COLUMNS",
    "TOKENS_PER_S",
    "CostRecord",
    "EmbedPlan",
    "EmbeddingStore",
    "ItemEmbeddings",
    "build_item_texts",
    "embed_items",
    "encoder_label",
    "plan_embedding",
    "text_sha256",
]
