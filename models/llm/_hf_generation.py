"""The generation mode of the transformers backend: batched greedy or seeded sampling with
left padding, requests grouped by ``(temperature, max_tokens)`` and sorted by prompt length
so a batch holds prompts of similar length (less padding)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from models.llm._hf_inputs import PROMPT_TOO_LONG, left_pad
from models.llm.protocol import Completion, LLMRequest, OnResult, Usage

try:  # loads without torch/transformers; the backend says so when it is built
    import torch
    from transformers import GenerationConfig
except ImportError:  # pragma: no cover - exercised only where the packages are absent
    torch = None

__all__ = ["OUT_OF_MEMORY", "Generation"]

OUT_OF_MEMORY = (
    "GPU out of memory on a batch of {n} prompts: lower batch_size (now {batch_size}) or "
    "max_tokens."
)


class Generation:
    """Mixed into the transformers backend, which provides the model (``lm``, ``tokenizer``,
    ``device``, its stop and pad token ids), its settings (``batch_size``,
    ``max_input_tokens``, ``seed``, ``min_new_tokens``), ``render(requests)`` and the
    throughput tally ``_throughput``."""

    lm: Any
    tokenizer: Any
    device: Any
    batch_size: int
    max_input_tokens: int
    seed: int
    min_new_tokens: int
    _pad_id: int
    _stop_ids: list[int]
    _throughput: Any
    render: Callable[[Sequence[LLMRequest]], list[list[int]]]

    def complete(
        self,
        requests: Sequence[LLMRequest],
        *,
        on_result: OnResult | None = None,
        gate: object | None = None,  # a local model is not billed per attempt
    ) -> list[Completion]:
        """Generate an answer to each request, in batches of ``batch_size``.

        Greedy when ``temperature == 0``, else sampling at that temperature (no top-k/top-p)
        seeded by ``seed`` + batch number. Generation stops at the model's end-of-sequence
        tokens or after ``max_tokens``. ``Usage.input_tokens`` counts the unpadded prompt,
        ``output_tokens`` the generated tokens before the stop token; ``latency_s`` is the
        request's share of its batch's wall time; ``stop_reason`` is ``"end_turn"`` or
        ``"max_tokens"``. A prompt over ``max_input_tokens`` or a batch that runs out of GPU
        memory yields Completions with ``error`` set.
        """
        requests = list(requests)
        results: list[Completion | None] = [None] * len(requests)
        prompts = self.render(requests)
        lengths = np.array([len(p) for p in prompts], dtype=np.int64)

        def emit(i: int, c: Completion) -> None:
            results[i] = c
            if on_result is not None:
                on_result(i, c)

        for i in np.flatnonzero(lengths > self.max_input_tokens):
            msg = PROMPT_TOO_LONG.format(
                index=int(i), n_tokens=int(lengths[i]), limit=self.max_input_tokens
            )
            emit(int(i), Completion(text="", error=msg, meta={"key": requests[i].key}))
        runnable = np.flatnonzero(lengths <= self.max_input_tokens)
        keys = [(float(requests[i].temperature), int(requests[i].max_tokens)) for i in runnable]
        batch_no = 0
        for temperature, max_tokens in sorted(set(keys)):
            group = runnable[[k == (temperature, max_tokens) for k in keys]]
            group = group[np.argsort(lengths[group], kind="stable")]
            for start in range(0, len(group), self.batch_size):
                idx = group[start : start + self.batch_size]
                for i, c in zip(idx, self._generate([prompts[i] for i in idx], temperature,
                                                    max_tokens, batch_no, requests, idx)):
                    emit(int(i), c)
                batch_no += 1
        return results  # type: ignore[return-value]

    def _generate(self, rows, temperature, max_tokens, batch_no, requests, idx):
        n = len(rows)
        if max_tokens < 1:
            return [
                Completion(
                    text="", usage=Usage(len(r), 0), stop_reason="max_tokens",
                    meta={"key": requests[i].key},
                )
                for r, i in zip(rows, idx)
            ]
        ids, mask, _ = left_pad(rows, self._pad_id, self.device)
        sample = temperature > 0
        config = GenerationConfig(
            max_new_tokens=max_tokens,
            min_new_tokens=min(self.min_new_tokens, max_tokens) or None,
            do_sample=sample,
            temperature=temperature if sample else None,
            top_k=0 if sample else None,
            top_p=1.0 if sample else None,
            pad_token_id=self._pad_id,
            eos_token_id=self._stop_ids,
            bos_token_id=self.tokenizer.bos_token_id,
        )
        cuda = self.device.type == "cuda"
        t0 = time.perf_counter()
        try:
            with torch.inference_mode(), torch.random.fork_rng(
                devices=[self.device] if cuda else [], device_type=self.device.type
            ):
                torch.manual_seed(self.seed + batch_no)
                out = self.lm.generate(input_ids=ids, attention_mask=mask, generation_config=config)
            if cuda:
                torch.cuda.synchronize(self.device)
        except torch.OutOfMemoryError:
            if cuda:
                torch.cuda.empty_cache()
            msg = OUT_OF_MEMORY.format(n=n, batch_size=self.batch_size)
            return [Completion(text="", error=msg, meta={"key": requests[i].key}) for i in idx]
        seconds = time.perf_counter() - t0
        new = out[:, ids.shape[1] :].cpu().numpy()
        is_stop = np.isin(new, self._stop_ids)
        stopped = is_stop.any(axis=1)
        n_out = np.where(stopped, is_stop.argmax(axis=1), new.shape[1])
        texts = self.tokenizer.batch_decode(
            [new[j, : n_out[j]].tolist() for j in range(n)], skip_special_tokens=True
        )
        n_in = sum(len(r) for r in rows)
        self._throughput.add(n_in, int(n_out.sum()), seconds, n)
        return [
            Completion(
                text=texts[j],
                usage=Usage(input_tokens=len(rows[j]), output_tokens=int(n_out[j])),
                latency_s=seconds / n,
                stop_reason="end_turn" if stopped[j] else "max_tokens",
                meta={"key": requests[i].key},
            )
            for j, i in enumerate(idx)
        ]
