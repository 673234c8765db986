"""The LLM backends by name, and the factory that builds one.

The package is where backends are registered: :mod:`models.llm.protocol` holds the contract
alone and knows no implementation. Each backend module is imported only when
:func:`make_backend` builds it, so the app starts without ``anthropic``, ``transformers`` or
``openai`` loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

from analysis.errors import AnalysisError
from models.llm.protocol import LLMBackend

__all__ = ["BACKEND_NAMES", "UNKNOWN_BACKEND", "make_backend"]

#: the backends the app and the CLI offer, in the order they are offered
BACKEND_NAMES = ("anthropic", "transformers", "openai")
UNKNOWN_BACKEND = "Unknown LLM backend {name!r}: choose one of anthropic, transformers, openai."

#: name -> (module, class); "fake" is for tests only and never offered by the app
_BACKENDS = {
    "anthropic": ("models.llm.anthropic", "AnthropicBackend"),
    "transformers": ("models.llm.transformers", "TransformersBackend"),
    "openai": ("models.llm.openai_compat", "OpenAICompatBackend"),
    "fake": ("models.llm.fake", "FakeBackend"),
}


def make_backend(name: str, **config: Any) -> LLMBackend:
    """Build a backend by name; its module (and the provider package) is imported only here.

    Args:
        name: ``"anthropic"``, ``"transformers"`` or ``"openai"`` (any case).
        **config: the backend's own settings (model, base_url, concurrency, ...).

    Raises:
        AnalysisError: unknown name, missing package, missing key, bad setting.
    """
    found = _BACKENDS.get(str(name).lower())
    if found is None:
        raise AnalysisError(UNKNOWN_BACKEND.format(name=name))
    module, cls = found
    return getattr(importlib.import_module(module), cls)(**config)
