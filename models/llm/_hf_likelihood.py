"""The likelihood mode of the transformers backend: ``log p(candidate | prompt)`` for every
(request, candidate) pair, reading each prompt once and scoring its candidates against the
prompt's key/value cache, batched across candidates and exact under padding."""

from __future__ import annotations

import copy
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

        Each prompt is read once: up to ``batch_size`` prompts (sorted by length, left padded,
        explicit position ids) run in one forward pass that keeps their key/value cache and
        the log-probabilities after the last prompt token (which give ``y_0``). Their
        candidates then run ``batch_size`` at a time against that cache, each row a copy of
        its prompt's cache rows, fed ``y_0 .. y_{n-2}`` (right padded, positions continuing
        after the prompt) to give ``y_1 .. y_{n-1}``; a one-token candidate needs no second
        pass. The batch size does not change the values beyond float rounding; log-softmax
        is taken in float32.

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
            n_prompt = np.array([len(p) for p in prompts], dtype=np.int64)
            n_cand = np.array([len(c) for c in cand_ids], dtype=np.int64)
            total = n_prompt[owner] + n_cand
            over = np.flatnonzero(total > self.max_input_tokens)
            if over.size:
                raise AnalysisError(
                    PROMPT_TOO_LONG.format(
                        index=int(owner[over[0]]), n_tokens=int(total[over[0]]),
                        limit=self.max_input_tokens,
                    )
                )  # fmt: skip
            todo = np.flatnonzero(n_cand > 0)
            users = np.unique(owner[todo])
            users = users[np.argsort(n_prompt[users], kind="stable")]
            for start in range(0, len(users), self.batch_size):
                group = users[start : start + self.batch_size]
                pairs = todo[np.isin(owner[todo], group)]
                pairs = pairs[np.argsort(n_cand[pairs], kind="stable")]
                row = np.searchsorted(group, owner[pairs], sorter=np.argsort(group))
                row = np.argsort(group)[row]  # position of each pair's user in the group
                out[pairs] = self._score_group(
                    [prompts[u] for u in group], row, [cand_ids[i] for i in pairs]
                )
        return list(np.split(out, np.cumsum(counts)[:-1])) if len(requests) else []

    def _score_group(self, prompts, row: np.ndarray, cands: list) -> np.ndarray:
        """Scores of ``cands`` (token lists, none empty, sorted by length), the j-th under
        ``prompts[row[j]]``: one prefill of the prompts, then the candidates in batches."""
        import torch

        cuda = self.device.type == "cuda"
        t0 = time.perf_counter()
        ids, mask, positions = left_pad(prompts, self._pad_id, self.device)
        n_prompt = torch.as_tensor([len(p) for p in prompts], device=self.device)
        row_t = torch.as_tensor(row, device=self.device)
        fed = sum(len(p) for p in prompts)
        with torch.inference_mode():
            kwargs = {"logits_to_keep": 1} if self._keeps_logits else {}
            first = self.lm(
                input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                **kwargs,
            )  # fmt: skip
            cache = first.past_key_values
            logp0 = torch.log_softmax(first.logits[:, -1].float(), dim=-1)
            y0 = torch.as_tensor([c[0] for c in cands], device=self.device)
            sums = logp0[row_t, y0]
            longer = [j for j, c in enumerate(cands) if len(c) > 1]
            for start in range(0, len(longer), self.batch_size):
                js = longer[start : start + self.batch_size]
                sel = row_t[js]
                feed = [cands[j][:-1] for j in js]
                width = len(feed[-1])  # sorted by length: the last is the longest
                tok = np.full((len(js), width + 1), self._pad_id, dtype=np.int64)
                for i, j in enumerate(js):
                    tok[i, : len(cands[j])] = cands[j]
                tok_t = torch.from_numpy(tok).to(self.device)
                lens = torch.as_tensor([len(f) for f in feed], device=self.device)
                steps = torch.arange(width, device=self.device)
                in_cand = steps[None, :] < lens[:, None]
                logits = self.lm(
                    input_ids=tok_t[:, :width],
                    attention_mask=torch.cat([mask[sel], in_cand.long()], dim=1),
                    position_ids=n_prompt[sel][:, None] + steps[None, :],
                    past_key_values=_rows_of(cache, sel),
                    use_cache=True,
                ).logits
                logp = torch.log_softmax(logits.float(), dim=-1)
                nxt = logp.gather(-1, tok_t[:, 1:].unsqueeze(-1)).squeeze(-1)
                sums[js] += (nxt * in_cand).sum(dim=1)
                fed += sum(len(f) for f in feed)
            result = sums.double().cpu().numpy()
        if cuda:
            torch.cuda.synchronize(self.device)
        self._throughput.add(fed, 0, time.perf_counter() - t0, 0, pairs=len(cands))
        return result


def _rows_of(cache: Any, rows: Any) -> Any:
    """A cache holding ``cache``'s batch rows ``rows`` (repeats allowed); ``cache`` is left
    as it is. Dynamic layers rebind their tensors on select and update, so copying the layer
    objects suffices; any other layer type is deep-copied first."""
    from transformers.cache_utils import DynamicLayer

    if all(isinstance(layer, DynamicLayer) for layer in cache.layers):
        view = copy.copy(cache)
        view.layers = [copy.copy(layer) for layer in cache.layers]
    else:
        view = copy.deepcopy(cache)
    view.batch_select_indices(rows)
    return view
