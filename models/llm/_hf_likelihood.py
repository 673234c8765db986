"""The likelihood mode of the transformers backend: ``log p(candidate | prompt)`` for every
(request, candidate) pair, batched across pairs and exact under padding."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from analysis.errors import AnalysisError
from models.llm._hf_inputs import PROMPT_TOO_LONG, left_pad
from models.llm.protocol import LLMRequest

__all__ = ["CANDIDATES_MISMATCH", "LikelihoodScoring"]

CANDIDATES_MISMATCH = (
    "score(): got {n_requests} requests but {n_lists} candidate lists; give one list of "
    "candidate texts per request."
)


class LikelihoodScoring:
    """Mixed into the transformers backend, which provides the model (``lm``, ``tokenizer``,
    ``device``), its limits (``batch_size``, ``max_input_tokens``), ``render(requests)`` (the
    prompts' token ids) and the throughput tally ``_throughput``."""

    lm: Any
    tokenizer: Any
    device: Any
    batch_size: int
    max_input_tokens: int
    _pad_id: int
    _keeps_logits: bool
    _throughput: Any
    render: Callable[[Sequence[LLMRequest]], list[list[int]]]

    def score(
        self, requests: Sequence[LLMRequest], candidates: Sequence[Sequence[str]]
    ) -> list[np.ndarray]:
        """Log-probability of each candidate text as the start of the assistant's answer.

        ``score[r][c] = sum_t log p(y_t | prompt_r, y_<t)`` where ``prompt_r`` is the request
        rendered with the chat template (assistant turn opened) and ``y`` the candidate's
        tokens (``tokenizer(text, add_special_tokens=False)``, appended to the prompt ids).
        An empty candidate scores 0.0; a request with no candidates gets an empty array.
        Pairs are sorted by length and run ``batch_size`` at a time with left padding and
        explicit position ids, so the batch size does not change the values (beyond float
        rounding); log-softmax is taken in float32.

        Returns:
            One float64 array per request, aligned with its candidates.

        Raises:
            AnalysisError: one candidate list per request is not given, or a prompt plus a
                candidate exceeds ``max_input_tokens``.
        """
        requests = list(requests)
        if len(candidates) != len(requests):
            raise AnalysisError(
                CANDIDATES_MISMATCH.format(n_requests=len(requests), n_lists=len(candidates))
            )
        counts = np.array([len(c) for c in candidates], dtype=np.int64)
        flat = [str(t) for c in candidates for t in c]
        out = np.zeros(len(flat), dtype=np.float64)
        if flat:
            prompts = self.render(requests)
            cand_ids = self.tokenizer(flat, add_special_tokens=False)["input_ids"]
            owner = np.repeat(np.arange(len(requests)), counts)
            seqs = [prompts[r] + list(c) for r, c in zip(owner, cand_ids)]
            n_cand = np.array([len(c) for c in cand_ids], dtype=np.int64)
            total = np.array([len(s) for s in seqs], dtype=np.int64)
            over = np.flatnonzero(total > self.max_input_tokens)
            if over.size:
                raise AnalysisError(
                    PROMPT_TOO_LONG.format(
                        index=int(owner[over[0]]), n_tokens=int(total[over[0]]),
                        limit=self.max_input_tokens,
                    )
                )  # fmt: skip
            todo = np.flatnonzero(n_cand > 0)
            todo = todo[np.argsort(total[todo], kind="stable")]
            for start in range(0, len(todo), self.batch_size):
                idx = todo[start : start + self.batch_size]
                out[idx] = self._score_batch([seqs[i] for i in idx], n_cand[idx])
        return list(np.split(out, np.cumsum(counts)[:-1])) if len(requests) else []

    def _score_batch(self, rows, n_cand: np.ndarray) -> np.ndarray:
        import torch

        ids, mask, positions = left_pad(rows, self._pad_id, self.device)
        keep = int(n_cand.max()) + 1  # logits at the last prompt token and each candidate token
        cuda = self.device.type == "cuda"
        t0 = time.perf_counter()
        with torch.inference_mode():
            kwargs = {"logits_to_keep": keep} if self._keeps_logits else {}
            logits = self.lm(
                input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                **kwargs,
            ).logits[:, -keep:-1]  # fmt: skip
            logp = torch.log_softmax(logits.float(), dim=-1)
            target = ids[:, -keep + 1 :]
            tok = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
            first = torch.as_tensor(keep - 1 - n_cand, device=self.device)
            in_cand = torch.arange(keep - 1, device=self.device)[None, :] >= first[:, None]
            sums = (tok * in_cand).sum(dim=1).double().cpu().numpy()
        if cuda:
            torch.cuda.synchronize(self.device)
        self._throughput.add(
            sum(len(r) for r in rows), 0, time.perf_counter() - t0, 0, pairs=len(rows)
        )
        return sums
