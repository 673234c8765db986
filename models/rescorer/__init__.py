"""The scenario-aware rescoring head (LLM4MSR's hierarchical meta network, reduced): torch is
imported only inside :mod:`models.rescorer.head`'s functions, so importing this is cheap."""

from models.rescorer.head import HeadConfig, HeadFit, fit_head, rerank_order

__all__ = ["HeadConfig", "HeadFit", "fit_head", "rerank_order"]
