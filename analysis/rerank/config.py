"""The settings of a rerank job (:class:`RerankConfig`): what the dry run plans and the job
runs, recorded in ``rerank_summary.json`` and read back from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.weak_users import WeakRule

__all__ = ["DEFAULT_GPU_USD_PER_HOUR", "TASTE_MODES", "RerankConfig"]

#: how the user's taste categories enter the prompt (:attr:`RerankConfig.taste`)
TASTE_MODES = ("off", "beside", "instead")

#: dollars per GPU-hour used for local backends when none is given
DEFAULT_GPU_USD_PER_HOUR = 0.0


@dataclass(frozen=True)
class RerankConfig:
    """Everything that defines a rerank job (JSON-able).

    Attributes:
        backend: ``anthropic``, ``transformers`` or ``openai`` (``fake`` in tests).
        model: model name as the backend knows it.
        rule: weak-user rule (selected on validation).
        protocol: ``realistic`` (baseline's top C) or ``paper`` (held-out + sampled items).
        n_candidates: C.
        history: ``recent``, ``paper`` or ``long-short``; ``history_params`` its settings.
        template: ``paper``, ``llmrank``, ``rankgpt`` or a template file.
        item_chars: item text length cap in the prompt.
        max_tokens: answer bound (default ``8 * C + 64``: an identifier list fits easily).
        temperature: sampling temperature.
        mode: ``generate`` (parse the answer) or ``likelihood`` (score each candidate; local).
        budget_usd: hard cap on dollars spent by this job (None: no cap).
        batch: price (and send) through the provider's batch API.
        gpu_usd_per_hour: price of local GPU time.
        expected_tokens_per_s: throughput assumed by a local dry run.
        seed: shuffles and draws.
        negatives: the paper protocol's negatives: ``popularity`` (matched to the test items'
            training popularity, the default) or ``uniform`` (the original draw, which
            popularity alone separates from the test items).
        taste: the user's taste categories in the prompt
            (:mod:`analysis.subgroups.taste`): ``off`` (default; the prompt is unchanged),
            ``beside`` (one line after the history, "Preferred kinds of items: 60% like
            <category>; ...", the top 3) or ``instead`` (that line replaces the second half
            of the history in prompt order: the older half for the ``recent`` history).
        taste_params: its settings: ``n_categories`` (default 8) and ``source`` of the item
            vectors, ``tfidf`` (default, the catalogue's item texts) or ``factors`` (the
            baseline's item factors).
        pilot_users: rerank only a seeded random sample of this many weak users (a pilot:
            its net gain per user, with its interval, is projected to every weak user);
            None: all of them.
    """

    backend: str = "anthropic"
    model: str = "claude-haiku-4-5"
    rule: WeakRule = field(default_factory=WeakRule.default)
    protocol: str = "realistic"
    n_candidates: int = 20
    history: str = "recent"
    history_params: dict = field(default_factory=dict)
    template: str = "paper"
    item_chars: int = 80
    max_tokens: int | None = None
    temperature: float = 0.0
    mode: str = "generate"
    budget_usd: float | None = None
    batch: bool = False
    gpu_usd_per_hour: float = DEFAULT_GPU_USD_PER_HOUR
    expected_tokens_per_s: float = 5000.0
    seed: int = 0
    pilot_users: int | None = None
    negatives: str = "popularity"
    taste: str = "off"
    taste_params: dict = field(default_factory=dict)

    @property
    def resolved_max_tokens(self) -> int:
        return int(self.max_tokens) if self.max_tokens else 8 * int(self.n_candidates) + 64

    @property
    def expected_output_tokens(self) -> int:
        """Expected answer length of one call: ``5 C + 10`` tokens when the model writes its
        ranking (``generate``), 0 when it is scored (``likelihood``)."""
        return 5 * int(self.n_candidates) + 10 if self.mode == "generate" else 0

    @property
    def local(self) -> bool:
        return self.backend == "transformers"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rule"] = asdict(self.rule)
        d["max_tokens"] = self.resolved_max_tokens
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RerankConfig:
        """The config :meth:`to_dict` recorded (unknown keys are ignored, so a summary from a
        newer version still reads)."""
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        kw.setdefault("negatives", "uniform")  # recorded before there was a choice: uniform
        if isinstance(kw.get("rule"), Mapping):
            kw["rule"] = WeakRule(**kw["rule"])
        return cls(**kw)
