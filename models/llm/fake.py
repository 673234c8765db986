"""A deterministic stand-in LLM for tests. Never offered by the app: its "gains" mean nothing.

It reads the candidate identifiers out of the prompt (lines ``[3] Title`` or ``3. Title``)
and answers a ranking of them according to ``policy``; tokens are ``ceil(chars / 4)`` of
the prompt and of the answer, so tests can compute exact totals.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence

import numpy as np

from analysis.errors import AnalysisError
from models.llm.protocol import Completion, LLMRequest, OnResult, Usage

__all__ = ["BAD_FAKE_SETTING", "FakeBackend", "candidate_ids"]

BAD_FAKE_SETTING = "Bad fake LLM backend setting {name}={value!r}: use {rule}."
_POLICIES = ("reverse", "identity", "garbage")
_STYLES = ("bracket", "lines")

_CAND = re.compile(r"^(?:\[(\d+)\]|(\d+)\.)\s", re.MULTILINE)


def candidate_ids(prompt: str) -> list[int]:
    """The candidate identifiers listed in a prompt, in order."""
    return [int(a or b) for a, b in _CAND.findall(prompt)]


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


class FakeBackend:
    """Answers from the prompt alone.

    Args:
        model: any name.
        policy: ``"reverse"`` (last shown first), ``"identity"`` (shown order),
            ``"garbage"`` (no identifier), or a callable ``(ids, request) -> text``.
        style: ``"bracket"`` (``[3] > [1]``) or ``"lines"`` (one number per line).
        fail: optional predicate ``(call_number) -> bool``: that call returns an error.
        crash_after: raise ``KeyboardInterrupt`` after this many answered calls (kill test).

    Raises:
        AnalysisError: an unknown policy or style.
    """

    name = "fake"

    def __init__(
        self,
        model: str = "fake-1",
        *,
        policy: str | Callable = "reverse",
        style: str = "lines",
        fail: Callable[[int], bool] | None = None,
        crash_after: int | None = None,
        latency_s: float = 0.0,
    ) -> None:
        if not callable(policy) and policy not in _POLICIES:
            rule = "a callable or one of " + ", ".join(_POLICIES)
            raise AnalysisError(BAD_FAKE_SETTING.format(name="policy", value=policy, rule=rule))
        if style not in _STYLES:
            rule = "one of " + ", ".join(_STYLES)
            raise AnalysisError(BAD_FAKE_SETTING.format(name="style", value=style, rule=rule))
        self.model = model
        self.policy = policy
        self.style = style
        self.fail = fail
        self.crash_after = crash_after
        self.latency_s = latency_s
        self.calls = 0  # calls answered (what a provider would bill)
        self.prompts: list[LLMRequest] = []
        self.last_count_exact = True
        self._lock = threading.Lock()

    def _answer(self, req: LLMRequest) -> str:
        ids = candidate_ids(req.user)
        if callable(self.policy):
            return self.policy(ids, req)
        if self.policy == "garbage":
            return "I cannot help with that."
        order = ids[::-1] if self.policy == "reverse" else ids
        if self.style == "bracket":
            return " > ".join(f"[{i}]" for i in order)
        return "\n".join(str(i) for i in order)

    def complete(
        self, requests: Sequence[LLMRequest], *, on_result: OnResult | None = None, gate=None
    ) -> list[Completion]:
        """Answer in order; ``gate`` (the job's budget) is ignored, as a local model may:
        the job reserved each request's first attempt before the call."""
        out = []
        for j, req in enumerate(requests):
            with self._lock:
                if self.crash_after is not None and self.calls >= self.crash_after:
                    raise KeyboardInterrupt("fake crash")
                self.calls += 1
                number = self.calls
                self.prompts.append(req)
            if self.fail is not None and self.fail(number):
                comp = Completion(text="", error="fake failure")
            else:
                text = self._answer(req)
                usage = Usage(_tokens(req.system) + _tokens(req.user), _tokens(text))
                comp = Completion(
                    text=text, usage=usage, latency_s=self.latency_s, stop_reason="end_turn"
                )
            out.append(comp)
            if on_result is not None:
                on_result(j, comp)
        return out

    def count_tokens(self, requests: Sequence[LLMRequest]) -> list[int]:
        return [_tokens(r.system) + _tokens(r.user) for r in requests]

    def score(self, requests, candidates) -> list[np.ndarray]:  # likelihood-mode stand-in
        return [-np.arange(len(c), dtype=np.float64) for c in candidates]  # shown order
