"""Text encoders: item text to float32 vectors, behind one interface.

``make_encoder(name, **config)`` builds one by name: ``"transformers"`` (a local Hugging Face
folder, mean-pooled), ``"openai"`` (any OpenAI-compatible ``/v1/embeddings`` server) or
``"tfidf"`` (the no-LLM control). Each implementation imports its heavy package
(``torch``/``transformers``, ``openai``, ``sklearn``) only inside its own module, so importing
this package costs nothing.
"""

from __future__ import annotations

from analysis.errors import AnalysisError
from models.encoders.protocol import EncodeUsage, TextEncoder

__all__ = ["ENCODERS", "UNKNOWN_ENCODER", "EncodeUsage", "TextEncoder", "make_encoder"]

#: encoder names, in the order they are offered
ENCODERS = ("tfidf", "transformers", "openai")
UNKNOWN_ENCODER = "Unknown encoder {name!r}: choose one of tfidf, transformers, openai."


def make_encoder(name: str, **config) -> TextEncoder:
    """Build the encoder ``name`` with its settings (see each class for them).

    Raises:
        AnalysisError: an unknown name or a bad setting.
    """
    if name == "tfidf":
        from models.encoders.tfidf import TfidfEncoder

        return TfidfEncoder(**config)
    if name == "transformers":
        from models.encoders.transformers import TransformersEncoder

        return TransformersEncoder(**config)
    if name == "openai":
        from models.encoders.openai_compat import OpenAIEncoder

        return OpenAIEncoder(**config)
    raise AnalysisError(UNKNOWN_ENCODER.format(name=name))
