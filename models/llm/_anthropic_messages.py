"""The Messages API's shapes: the parameters of one request, and an answer (live or from a
batch) read back as a :class:`~models.llm.protocol.Completion`."""

from __future__ import annotations

from typing import Any

from models.llm._http import usage_is_reported
from models.llm.protocol import Completion, LLMRequest, Usage

__all__ = ["message_completion", "message_params", "message_text", "message_usage"]


def message_params(model: str, request: LLMRequest, *, prompt_cache: bool) -> dict[str, Any]:
    """Messages parameters of one request.

    The system prompt is sent only when there is one; with ``prompt_cache`` it is marked
    ``cache_control: ephemeral`` so later requests read it from the cache. ``request.
    temperature`` is not sent: the Messages API of anthropic 2.x takes no sampling parameters
    (the SDK dropped ``temperature``), so answers are the model's.
    """
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": int(request.max_tokens),
        "messages": [{"role": "user", "content": request.user}],
    }
    if request.system:
        params["system"] = (
            [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}]
            if prompt_cache
            else request.system
        )
    return params


def message_completion(
    message: Any, latency: float, meta: dict, *, batch: bool = False
) -> Completion:
    """A Messages API answer (direct or from a batch) as a :class:`Completion`."""
    meta["message_id"] = getattr(message, "id", None)
    raw = getattr(message, "usage", None)
    return Completion(
        text=message_text(message),
        usage=message_usage(raw),
        latency_s=latency,
        stop_reason=getattr(message, "stop_reason", None),
        batch=batch,
        meta=meta,
        usage_reported=usage_is_reported(raw, ("input_tokens", "output_tokens")),
    )


def message_usage(raw: Any) -> Usage:
    """Our Usage from the SDK's (missing or None counts read as 0; whether the job may trust
    it is :func:`models.llm._http.usage_is_reported`)."""
    if raw is None:
        return Usage()
    return Usage(
        input_tokens=int(getattr(raw, "input_tokens", 0) or 0),
        output_tokens=int(getattr(raw, "output_tokens", 0) or 0),
        cache_creation_tokens=int(getattr(raw, "cache_creation_input_tokens", 0) or 0),
        cache_read_tokens=int(getattr(raw, "cache_read_input_tokens", 0) or 0),
    )


def message_text(message: Any) -> str:
    """Concatenation of the message's text blocks (tool or thinking blocks are skipped)."""
    return "".join(
        getattr(block, "text", "") or ""
        for block in (getattr(message, "content", None) or [])
        if getattr(block, "type", None) == "text"
    )
