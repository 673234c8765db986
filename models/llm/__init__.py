"""LLM rerankers: backends that move text (Anthropic, transformers, OpenAI-compatible),
prompt templates and output parsing. Backends are imported lazily by :func:`make_backend`
so the app starts without ``anthropic``/``transformers``/``openai`` loaded."""
