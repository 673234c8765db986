"""What a local chat model is fed: requests rendered with the tokenizer's own chat template,
and token rows left-padded into one batch with explicit positions.

Part of the transformers backend (:mod:`models.llm.transformers`); ``torch`` is imported
only when a batch is padded, so this module loads without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis.display import without_paths
from analysis.errors import AnalysisError, surface_hints
from models.llm.protocol import LLMRequest

__all__ = [
    "NO_CHAT_TEMPLATE",
    "PROMPT_TOO_LONG",
    "chat_messages",
    "first_line",
    "left_pad",
    "probe_chat_template",
]

NO_CHAT_TEMPLATE = (
    "Transformers model '{model}' has no usable chat template ({reason}): use an instruction-"
    "tuned (chat) model whose tokenizer_config.json or chat_template.jinja defines one."
)
PROMPT_TOO_LONG = surface_hints(
    "Prompt {index} has {n_tokens} tokens, more than the input limit of {limit} tokens.",
    app="Choose a shorter History or fewer Candidates C on the LLM rerank page.",
    cli="Use a shorter --history or fewer --candidates.",
)


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The exception's text on one line, cut to ``limit`` characters (its type if empty)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def probe_chat_template(tokenizer: Any, model: str) -> bool:
    """Check that the tokenizer renders a chat; returns whether it accepts a system turn.

    Raises:
        AnalysisError: the tokenizer has no usable chat template.
    """
    try:
        tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=False
        )
    except Exception as exc:
        raise AnalysisError(
            NO_CHAT_TEMPLATE.format(
                model=without_paths(str(model)), reason=without_paths(first_line(exc))
            )
        ) from exc
    try:
        tokenizer.apply_chat_template(
            [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}],
            add_generation_prompt=True,
            tokenize=False,
        )
    except Exception:  # noqa: BLE001 -- e.g. Gemma: "System role not supported"
        return False
    return True


def chat_messages(request: LLMRequest, *, system_role: bool) -> list[dict[str, str]]:
    """The chat turns of one request: system and user, or, for a template without a system
    role, one user turn ``system + "\\n\\n" + user``."""
    if not request.system:
        return [{"role": "user", "content": request.user}]
    if system_role:
        return [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.user},
        ]
    return [{"role": "user", "content": f"{request.system}\n\n{request.user}"}]


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[Any, Any, Any]:
    """Token rows as one left-padded batch on ``device``.

    Returns:
        ``(input_ids, attention_mask, position_ids)``, int64 tensors of shape ``(rows,
        longest row)``: padding on the left, mask 1 on real tokens, positions counting real
        tokens from 0 (0 under the padding), so a row's numbers do not depend on its batch.
    """
    import torch

    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    lengths = np.array([len(r) for r in rows])
    flat = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
    cols = np.arange(width)[None, :] >= (width - lengths)[:, None]
    ids[cols] = flat  # row-major fill matches each row's tail
    mask[cols] = 1
    ids_t = torch.from_numpy(ids).to(device)
    mask_t = torch.from_numpy(mask).to(device)
    positions = (mask_t.cumsum(1) - 1).clamp(min=0)
    return ids_t, mask_t, positions
