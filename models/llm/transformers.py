"""A local Hugging Face ``transformers`` chat model as an LLM backend (``LLMBackend``).

The only module that imports ``torch``/``transformers``. It loads a causal LM from a local
folder (nothing is downloaded: ``local_files_only=True``), renders each request with the
model's own chat template, and offers both reranking modes:

* **generation** (:meth:`TransformersBackend.complete`): batched greedy or seeded sampling with
  left padding; requests are grouped by ``(temperature, max_tokens)`` and sorted by prompt
  length so a batch holds prompts of similar length (less padding).
* **likelihood** (:meth:`TransformersBackend.score`): ``log p(candidate | prompt)`` for each
  (request, candidate) pair, batched across pairs; exact under padding (explicit position ids),
  so the batch size never changes the numbers beyond float rounding.

Every call adds to a throughput tally (:meth:`TransformersBackend.stats`): tokens, seconds,
tokens/s and peak GPU memory, so the cost model can charge ``gpu_usd_per_hour * seconds / 3600``.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.display import without_paths
from analysis.errors import AnalysisError, surface_hints
from models.llm.protocol import Completion, LLMRequest, OnResult, Usage

try:  # the app must start without torch/transformers; the error comes when a backend is built
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
except ImportError:  # pragma: no cover - exercised only where the packages are absent
    torch = None
    transformers = None

__all__ = ["TransformersBackend"]

# --- user-facing messages -------------------------------------------------------------------
MISSING_PACKAGE = (
    "The transformers backend needs the 'torch' and 'transformers' packages: install them "
    "(pip install torch transformers) or choose the anthropic or openai backend."
)
# a model folder is named by its last part only (no server path)
MODEL_NOT_FOUND = surface_hints(
    "Transformers model '{model}' is not a local folder, and weights cannot be downloaded "
    "here.",
    app="Give as Local model folder on the LLM rerank page a folder on this machine holding "
    "config.json, the weights and the tokenizer files.",
    cli="Give --model the path of a folder holding config.json, the weights and the "
    "tokenizer files.",
)
MODEL_NOT_LOADABLE = surface_hints(
    "Cannot load transformers model '{model}' ({reason}); weights cannot be downloaded here.",
    app="Give as Local model folder on the LLM rerank page a folder on this machine holding "
    "config.json, the weights and the tokenizer files.",
    cli="Give --model a local folder holding config.json, the weights and the tokenizer files.",
)
NO_CHAT_TEMPLATE = (
    "Transformers model '{model}' has no usable chat template ({reason}): use an instruction-"
    "tuned (chat) model whose tokenizer_config.json or chat_template.jinja defines one."
)
BAD_SETTING = "Transformers backend: {name} must be {rule}, got {value!r}."
NO_CUDA = (
    "Transformers backend: device {device!r} was requested but torch finds no CUDA GPU; "
    "run on the CPU (device 'auto' or 'cpu')."
)
PROMPT_TOO_LONG = surface_hints(
    "Prompt {index} has {n_tokens} tokens, more than the input limit of {limit} tokens.",
    app="Choose a shorter History or fewer Candidates C on the LLM rerank page.",
    cli="Use a shorter --history or fewer --candidates.",
)
CANDIDATES_MISMATCH = (
    "score(): got {n_requests} requests but {n_lists} candidate lists; give one list of "
    "candidate texts per request."
)
OUT_OF_MEMORY = (
    "GPU out of memory on a batch of {n} prompts: lower batch_size (now {batch_size}) or "
    "max_tokens."
)

_DTYPES = ("auto", "bfloat16", "float16", "float32")


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        raise AnalysisError(BAD_SETTING.format(name=name, rule=rule, value=value))


class TransformersBackend:
    """A local causal LM that answers chat prompts and scores candidate texts.

    Args:
        model: a local folder (``save_pretrained`` layout), or a hub id already in the local
            Hugging Face cache; nothing is downloaded.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cuda"``, ``"cuda:N"`` or ``"cpu"``.
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), ``"bfloat16"``, ``"float16"`` or
            ``"float32"``.
        batch_size: prompts per generation batch; (request, candidate) pairs per scoring batch.
        max_input_tokens: longer prompts are not run (their Completion carries an error;
            :meth:`score` raises).
        seed: seed of sampling (temperature > 0); the i-th batch of a call uses ``seed + i``.
        gpu_usd_per_hour: price of the machine, for :meth:`stats` (``usd``).
        trust_remote_code: let ``transformers`` run code shipped with the model folder.

    Raises:
        AnalysisError: bad setting, missing packages, no CUDA when asked for, a path that is not
            a loadable model, or a tokenizer without a chat template.
    """

    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
        max_input_tokens: int = 4096,
        seed: int = 0,
        gpu_usd_per_hour: float = 0.0,
        trust_remote_code: bool = False,
    ) -> None:
        self._configure(model, device, dtype, batch_size, max_input_tokens, seed, gpu_usd_per_hour)
        path = Path(str(model)).expanduser()
        looks_like_path = path.is_absolute() or str(model).startswith((".", "~")) or (
            str(model).count("/") != 1
        )
        if looks_like_path and not path.is_dir():
            raise AnalysisError(MODEL_NOT_FOUND.format(model=without_paths(str(model))))
        source = str(path) if path.is_dir() else str(model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                source, local_files_only=True, trust_remote_code=trust_remote_code
            )
            lm = AutoModelForCausalLM.from_pretrained(
                source,
                dtype=self._torch_dtype,
                local_files_only=True,
                trust_remote_code=trust_remote_code,
            ).to(self.device)  # device_map= would need the accelerate package
        except AnalysisError:
            raise
        except Exception as exc:  # OSError, ValueError, EnvironmentError from the hub layer
            raise AnalysisError(
                MODEL_NOT_LOADABLE.format(
                    model=without_paths(str(model)), reason=without_paths(_first_line(exc))
                )
            ) from exc
        self._attach(lm, tokenizer)

    @classmethod
    def from_loaded(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        name_or_path: str = "",
        batch_size: int = 8,
        max_input_tokens: int = 4096,
        seed: int = 0,
        gpu_usd_per_hour: float = 0.0,
        min_new_tokens: int = 0,
    ) -> TransformersBackend:
        """Wrap a model and tokenizer already in memory (the benchmark's random-weight models).

        The model stays on its device and in its dtype. ``min_new_tokens`` (benchmarks only)
        suppresses the stop tokens until that many tokens are generated, so a random-weight
        model does the same work as a real one answering in that many tokens.
        """
        self = cls.__new__(cls)
        param = next(model.parameters())
        self._configure(
            name_or_path or getattr(model, "name_or_path", "") or type(model).__name__,
            str(param.device),
            str(param.dtype).removeprefix("torch."),
            batch_size,
            max_input_tokens,
            seed,
            gpu_usd_per_hour,
        )
        _check(
            isinstance(min_new_tokens, (int, np.integer)) and min_new_tokens >= 0,
            "min_new_tokens", "an integer >= 0", min_new_tokens,
        )
        self.min_new_tokens = int(min_new_tokens)
        self._attach(model, tokenizer)
        return self

    # --- setup ------------------------------------------------------------------------------
    def _configure(self, model, device, dtype, batch_size, max_input_tokens, seed, usd) -> None:
        if torch is None:
            raise AnalysisError(MISSING_PACKAGE)
        _check(
            isinstance(batch_size, (int, np.integer)) and batch_size >= 1,
            "batch_size", "an integer >= 1", batch_size,
        )
        _check(
            isinstance(max_input_tokens, (int, np.integer)) and max_input_tokens >= 1,
            "max_input_tokens", "an integer >= 1", max_input_tokens,
        )
        _check(isinstance(seed, (int, np.integer)), "seed", "an integer", seed)
        _check(
            isinstance(usd, (int, float)) and math.isfinite(usd) and usd >= 0,
            "gpu_usd_per_hour", "a finite number >= 0", usd,
        )
        _check(dtype in _DTYPES, "dtype", f"one of {', '.join(_DTYPES)}", dtype)
        device = str(device)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        _check(
            device == "cpu" or device.startswith(("cuda", "mps")),
            "device", "'auto', 'cpu', 'cuda' or 'cuda:N'", device,
        )
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise AnalysisError(NO_CUDA.format(device=device))
        if dtype == "auto":
            if device.startswith("cuda"):
                dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
            else:
                dtype = "float32"
        self.model = str(model)
        self.device = torch.device(device)
        self.dtype = dtype
        self._torch_dtype = getattr(torch, dtype)
        self.batch_size = int(batch_size)
        self.max_input_tokens = int(max_input_tokens)
        self.seed = int(seed)
        self.gpu_usd_per_hour = float(usd)
        self.min_new_tokens = 0
        self.reset_stats()

    def _attach(self, lm: Any, tokenizer: Any) -> None:
        lm.eval()
        self.lm = lm
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self._pad_id = int(tokenizer.pad_token_id)
        stops = {tokenizer.eos_token_id}
        gen_eos = getattr(getattr(lm, "generation_config", None), "eos_token_id", None)
        stops.update(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos])
        self._stop_ids = sorted(int(s) for s in stops if s is not None)
        self._keeps_logits = "logits_to_keep" in inspect.signature(lm.forward).parameters
        try:
            tokenizer.apply_chat_template(
                [{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=False
            )
        except Exception as exc:
            raise AnalysisError(
                NO_CHAT_TEMPLATE.format(
                    model=without_paths(str(self.model)),
                    reason=without_paths(_first_line(exc)),
                )
            ) from exc
        try:
            tokenizer.apply_chat_template(
                [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}],
                add_generation_prompt=True,
                tokenize=False,
            )
            self.system_role = True
        except Exception:  # e.g. Gemma: "System role not supported"
            self.system_role = False

    def __repr__(self) -> str:
        return (
            f"TransformersBackend(model={self.model!r}, device={str(self.device)!r}, "
            f"dtype={self.dtype!r}, batch_size={self.batch_size})"
        )

    # --- prompts ----------------------------------------------------------------------------
    def _messages(self, request: LLMRequest) -> list[dict[str, str]]:
        if not request.system:
            return [{"role": "user", "content": request.user}]
        if self.system_role:
            return [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.user},
            ]
        return [{"role": "user", "content": f"{request.system}\n\n{request.user}"}]

    def render(self, requests: Sequence[LLMRequest]) -> list[list[int]]:
        """Token ids of each prompt: chat template, system + user turns, assistant turn opened."""
        if len(requests) == 0:
            return []
        ids = self.tokenizer.apply_chat_template(
            [self._messages(r) for r in requests],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
        return [list(x) for x in ids]

    def count_tokens(self, requests: Sequence[LLMRequest]) -> list[int]:
        """Exact input tokens of each request (chat template included)."""
        return [len(x) for x in self.render(requests)]

    def _left_pad(self, rows: Sequence[Sequence[int]]):
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        lengths = np.array([len(r) for r in rows])
        flat = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
        cols = (np.arange(width)[None, :] >= (width - lengths)[:, None])
        ids[cols] = flat  # row-major fill matches each row's tail
        mask[cols] = 1
        ids_t = torch.from_numpy(ids).to(self.device)
        mask_t = torch.from_numpy(mask).to(self.device)
        positions = (mask_t.cumsum(1) - 1).clamp(min=0)
        return ids_t, mask_t, positions

    # --- generation -------------------------------------------------------------------------
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
        ids, mask, _ = self._left_pad(rows)
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
        self._tally(n_in, int(n_out.sum()), seconds, n)
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

    # --- likelihood -------------------------------------------------------------------------
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
                )
            todo = np.flatnonzero(n_cand > 0)
            todo = todo[np.argsort(total[todo], kind="stable")]
            for start in range(0, len(todo), self.batch_size):
                idx = todo[start : start + self.batch_size]
                out[idx] = self._score_batch([seqs[i] for i in idx], n_cand[idx])
        return list(np.split(out, np.cumsum(counts)[:-1])) if len(requests) else []

    def _score_batch(self, rows, n_cand: np.ndarray) -> np.ndarray:
        ids, mask, positions = self._left_pad(rows)
        keep = int(n_cand.max()) + 1  # logits at the last prompt token and each candidate token
        cuda = self.device.type == "cuda"
        t0 = time.perf_counter()
        with torch.inference_mode():
            kwargs = {"logits_to_keep": keep} if self._keeps_logits else {}
            logits = self.lm(
                input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                **kwargs,
            ).logits[:, -keep:-1]
            logp = torch.log_softmax(logits.float(), dim=-1)
            target = ids[:, -keep + 1 :]
            tok = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
            first = torch.as_tensor(keep - 1 - n_cand, device=self.device)
            in_cand = torch.arange(keep - 1, device=self.device)[None, :] >= first[:, None]
            sums = (tok * in_cand).sum(dim=1).double().cpu().numpy()
        if cuda:
            torch.cuda.synchronize(self.device)
        self._tally(sum(len(r) for r in rows), 0, time.perf_counter() - t0, 0, pairs=len(rows))
        return sums

    # --- throughput -------------------------------------------------------------------------
    def _tally(self, prompt: int, generated: int, seconds: float, requests: int, pairs=0) -> None:
        self._prompt_tokens += prompt
        self._generated_tokens += generated
        self._seconds += seconds
        self._requests += requests
        self._pairs += pairs

    def reset_stats(self) -> None:
        """Zero the throughput tally (and CUDA's peak-memory counter)."""
        self._prompt_tokens = self._generated_tokens = self._requests = self._pairs = 0
        self._seconds = 0.0
        if getattr(self, "device", None) is not None and self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def stats(self) -> dict[str, float | int | None]:
        """Throughput accumulated since construction or :meth:`reset_stats`.

        Returns:
            ``prompt_tokens`` (unpadded tokens fed to the model: prompts in generation, prompt
            + candidate in scoring), ``generated_tokens``, ``seconds`` (model time, tokenizing
            excluded), ``prompt_tokens_per_s``, ``generated_tokens_per_s``, ``requests``
            (completed generations), ``scored_pairs``, ``peak_gpu_mem_gb`` (None on CPU) and
            ``usd`` (``gpu_usd_per_hour * seconds / 3600``). Rates are 0 before any call.
        """
        s = self._seconds
        peak = None
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 2**30
        return {
            "prompt_tokens": self._prompt_tokens,
            "generated_tokens": self._generated_tokens,
            "seconds": s,
            "prompt_tokens_per_s": self._prompt_tokens / s if s > 0 else 0.0,
            "generated_tokens_per_s": self._generated_tokens / s if s > 0 else 0.0,
            "requests": self._requests,
            "scored_pairs": self._pairs,
            "peak_gpu_mem_gb": peak,
            "usd": self.gpu_usd_per_hour * s / 3600.0,
        }
