"""What the HTTP backends share: their retry and concurrency settings, one paid call with
its retries, the answer to a list of requests, and whether a response says what it billed.

The subclasses (:class:`~models.llm.anthropic.AnthropicBackend`,
:class:`~models.llm.openai_compat.OpenAICompatBackend`) set ``_client`` (the SDK client, the
only holder of the key) and ``_transient`` (the SDK's timeout and connection errors), and
answer one request in ``_complete_one``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from models.llm.protocol import AttemptGate, Completion, LLMRequest, OnResult
from models.llm.retry import Outcome, RetryPolicy, call_timed, check_setting, run_gated

__all__ = ["HTTPBackend", "http_retry_policy", "usage_is_reported"]


def http_retry_policy(
    *,
    concurrency: int,
    max_retries: int,
    timeout_s: float,
    backoff_base_s: float,
    backoff_max_s: float,
    seed: int,
) -> RetryPolicy:
    """Check the settings every HTTP backend takes and return its retry policy.

    Raises:
        AnalysisError: the first bad setting, in the order of the arguments.
    """
    check_setting("concurrency", concurrency, minimum=1, integer=True)
    check_setting("max_retries", max_retries, minimum=0, integer=True)
    check_setting("timeout_s", timeout_s, minimum=0.001)
    check_setting("backoff_base_s", backoff_base_s, minimum=0)
    check_setting("backoff_max_s", backoff_max_s, minimum=0)
    check_setting("seed", seed, minimum=0, integer=True)
    return RetryPolicy(int(max_retries), float(backoff_base_s), float(backoff_max_s), int(seed))


def usage_is_reported(raw: Any, counts: tuple[str, str]) -> bool:
    """Whether a response's usage object says what it billed: both ``counts`` (its input and
    output token fields) are integers. See :attr:`Completion.usage_reported`."""
    return raw is not None and all(isinstance(getattr(raw, name, None), int) for name in counts)


class HTTPBackend:
    """The shared half of a backend that calls a paid HTTP API.

    Attributes:
        model: the model id sent with every request.
        base_url: the API root (None: the SDK's default).
        concurrency: requests in flight at most.
        timeout_s: per-attempt HTTP timeout.
        policy: retries and backoff of every call.
    """

    name: str
    model: str
    base_url: str | None
    concurrency: int
    timeout_s: float
    policy: RetryPolicy
    _client: Any
    _transient: tuple[type[BaseException], ...]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, "
            f"concurrency={self.concurrency})"
        )

    def _secret(self) -> str | None:
        """The key to scrub from error text (the SDK client holds it, this object never)."""
        return getattr(self._client, "api_key", None)

    def complete(
        self,
        requests: Sequence[LLMRequest],
        *,
        on_result: OnResult | None = None,
        gate: AttemptGate | None = None,
    ) -> list[Completion]:
        """Answer every request; see :meth:`models.llm.protocol.LLMBackend.complete`.

        At most ``concurrency`` calls are in flight; a failed request comes back as a
        Completion with ``error`` set, in input order; ``on_result`` sees each one as soon as
        it ends; ``gate`` is asked before every attempt.
        """
        return self._complete_all(list(requests), on_result, gate)

    def _complete_all(
        self, requests: list[LLMRequest], on_result: OnResult | None, gate: AttemptGate | None
    ) -> list[Completion]:
        return run_gated(
            requests,
            self._complete_one,
            concurrency=self.concurrency,
            on_result=on_result,
            gate=gate,
        )

    def _complete_one(
        self, index: int, request: LLMRequest, gate: AttemptGate | None = None
    ) -> Completion:
        raise NotImplementedError

    def _call(
        self, send: Callable[[], Any], *, index: int, what: str, gate: AttemptGate | None
    ) -> tuple[Outcome, float, dict[str, Any], Completion | None]:
        """One request's paid call with its retries: see :func:`models.llm.retry.call_timed`."""
        return call_timed(
            send,
            self.policy,
            index=index,
            transient=self._transient,
            secret=self._secret(),
            what=what,
            gate=gate,
        )
