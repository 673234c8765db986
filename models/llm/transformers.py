"""A local Hugging Face ``transformers`` chat model as an LLM backend (``LLMBackend``).

Only this module and its private parts import ``torch``/``transformers``; this one loads a
causal LM from a local folder (nothing is downloaded: ``local_files_only=True``) and renders
each request with the model's own chat template (:mod:`models.llm._hf_inputs`). The backend
offers both reranking modes:

* **generation** (:meth:`TransformersBackend.complete`, :mod:`models.llm._hf_generation`):
  batched greedy or seeded sampling with
  left padding; requests are grouped by ``(temperature, max_tokens)`` and sorted by prompt
  length so a batch holds prompts of similar length (less padding).
* **likelihood** (:meth:`TransformersBackend.score`, :mod:`models.llm._hf_likelihood`):
  ``log p(candidate | prompt)`` for each (request, candidate) pair: each prompt read once, its
  candidates scored in batches against the prompt's key/value cache; exact under padding
  (explicit position ids), so the batch size never changes the numbers beyond float rounding.

Every call adds to a throughput tally (:meth:`TransformersBackend.stats`,
:mod:`models.llm._hf_throughput`): tokens, seconds,
tokens/s and peak GPU memory, so the cost model can charge ``gpu_usd_per_hour * seconds / 3600``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.display import without_paths
from analysis.errors import AnalysisError, surface_hints
from models.llm._hf_generation import OUT_OF_MEMORY, Generation
from models.llm._hf_inputs import (
    NO_CHAT_TEMPLATE,
    PROMPT_TOO_LONG,
    chat_messages,
    first_line,
    probe_chat_template,
)
from models.llm._hf_likelihood import CANDIDATES_MISMATCH, LikelihoodScoring
from models.llm._hf_throughput import Throughput
from models.llm.protocol import LLMRequest
from models.torch_device import auto_dtype, resolve_device

try:  # the app must start without torch/transformers; the error comes when a backend is built
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
except ImportError:  # pragma: no cover - exercised only where the packages are absent
    torch = None
    transformers = None

__all__ = [
    "CANDIDATES_MISMATCH",
    "MISSING_PACKAGE",
    "MODEL_NOT_FOUND",
    "MODEL_NOT_LOADABLE",
    "NO_CHAT_TEMPLATE",
    "NO_CUDA",
    "OUT_OF_MEMORY",
    "PROMPT_TOO_LONG",
    "TransformersBackend",
]

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
BAD_SETTING = "Transformers backend: {name} must be {rule}, got {value!r}."
NO_CUDA = (
    "Transformers backend: device {device!r} was requested but torch finds no CUDA GPU; "
    "run on the CPU (device 'auto' or 'cpu')."
)

_DTYPES = ("auto", "bfloat16", "float16", "float32")


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        raise AnalysisError(BAD_SETTING.format(name=name, rule=rule, value=value))


class TransformersBackend(Generation, LikelihoodScoring):
    """A local causal LM that answers chat prompts and scores candidate texts.

    Args:
        model: a local folder (``save_pretrained`` layout), or a hub id already in the local
            Hugging Face cache; nothing is downloaded.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cuda"``, ``"cuda:N"`` or ``"cpu"``.
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), ``"bfloat16"``, ``"float16"`` or
            ``"float32"``.
        batch_size: prompts per generation batch; in scoring, prompts per cached prompt pass
            and candidates per batch.
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
                    model=without_paths(str(model)), reason=without_paths(first_line(exc))
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
        _check(
            device in ("auto", "cpu") or device.startswith(("cuda", "mps")),
            "device", "'auto', 'cpu', 'cuda' or 'cuda:N'", device,
        )
        device = resolve_device(device, NO_CUDA)
        if dtype == "auto":
            dtype = auto_dtype(device)
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
        self.system_role = probe_chat_template(tokenizer, self.model)

    def __repr__(self) -> str:
        return (
            f"TransformersBackend(model={self.model!r}, device={str(self.device)!r}, "
            f"dtype={self.dtype!r}, batch_size={self.batch_size})"
        )

    # --- prompts ----------------------------------------------------------------------------
    def render(self, requests: Sequence[LLMRequest]) -> list[list[int]]:
        """Token ids of each prompt: chat template, system + user turns, assistant turn opened."""
        if len(requests) == 0:
            return []
        ids = self.tokenizer.apply_chat_template(
            [chat_messages(r, system_role=self.system_role) for r in requests],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
        return [list(x) for x in ids]

    def count_tokens(self, requests: Sequence[LLMRequest]) -> list[int]:
        """Exact input tokens of each request (chat template included)."""
        return [len(x) for x in self.render(requests)]

    # --- throughput -------------------------------------------------------------------------
    def reset_stats(self) -> None:
        """Zero the throughput tally (and CUDA's peak-memory counter)."""
        self._throughput = Throughput()
        if getattr(self, "device", None) is not None and self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def stats(self) -> dict[str, float | int | None]:
        """Throughput accumulated since construction or :meth:`reset_stats`.

        Returns:
            ``prompt_tokens`` (unpadded tokens fed to the model: prompts in generation; in
            scoring, each prompt once plus each candidate's tokens but its last),
            ``generated_tokens``, ``seconds`` (model time, tokenizing
            excluded), ``prompt_tokens_per_s``, ``generated_tokens_per_s``, ``requests``
            (completed generations), ``scored_pairs``, ``peak_gpu_mem_gb`` (None on CPU) and
            ``usd`` (``gpu_usd_per_hour * seconds / 3600``). Rates are 0 before any call.
        """
        return self._throughput.stats(gpu_usd_per_hour=self.gpu_usd_per_hour, device=self.device)
