"""Step 8's other remedies for weak users, beside LLM reranking (:mod:`analysis.rerank`):
:mod:`~analysis.remedies.content_blend`, a content score from item embeddings blended into the
baseline for the target users only, with no per-request LLM call."""
