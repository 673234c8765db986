"""LLM backends: the protocol every backend implements (:mod:`models.llm.protocol`), the
backends that move text (Anthropic, transformers, OpenAI-compatible, a fake for tests) and
the registry that builds one by name (:func:`make_backend`). Backends are imported lazily by
:func:`make_backend`, so the app starts without ``anthropic``/``transformers``/``openai``
loaded."""

from models.llm.registry import BACKEND_NAMES, UNKNOWN_BACKEND, make_backend

__all__ = ["BACKEND_NAMES", "UNKNOWN_BACKEND", "make_backend"]
