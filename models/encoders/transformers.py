"""A local Hugging Face encoder (a folder with a config, weights and a tokenizer).

Only this module imports ``torch`` and ``transformers``. The embedding of a text is the mean
of the model's last hidden states over its real tokens (attention mask 1)::

    e = sum_t mask[t] * h[t] / sum_t mask[t]

computed in float32 whatever the model's dtype (bfloat16 on CUDA, float32 on CPU). Texts
are cut at ``max_length`` tokens and encoded in batches of ``batch_size``, longest first
(less padding), then put back in input order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis.errors import AnalysisError
from models.encoders.protocol import EncodeUsage
from models.torch_device import auto_dtype, resolve_device

__all__ = ["BAD_MODEL_FOLDER", "TransformersEncoder", "mean_pool"]

BAD_MODEL_FOLDER = (
    "Cannot load the encoder model from folder {path!r}: {reason}. Give a local folder holding "
    "a Hugging Face model (config.json, weights and tokenizer files)."
)
BAD_SETTING = "Bad transformers encoder setting {name}={value!r}: {rule}."
NO_CUDA = "The encoder was asked to run on {device!r}, but no CUDA device is available."


def mean_pool(hidden, mask):
    """Mean of ``hidden`` (batch, seq, d) over positions where ``mask`` (batch, seq) is 1,
    in float32; a row with no real token gives zeros."""
    import torch

    m = mask.to(torch.float32).unsqueeze(-1)
    summed = (hidden.to(torch.float32) * m).sum(dim=1)
    return summed / m.sum(dim=1).clamp(min=1.0)


class TransformersEncoder:
    """Mean-pooled last hidden states of a local ``AutoModel``.

    Args:
        model: path of the model folder.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dtype: ``"auto"`` (:func:`models.torch_device.auto_dtype`: bfloat16 on CUDA, float32 on
            CPU), ``"bfloat16"``, ``"float16"`` or ``"float32"``.
        batch_size: texts per forward pass.
        max_length: tokens kept per text.
        gpu_usd_per_hour: price of the device's time, for the cost record.

    Raises:
        AnalysisError: a bad setting, no CUDA when asked, or a folder that does not load.
    """

    name = "transformers"
    per_item = True

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 32,
        max_length: int = 128,
        gpu_usd_per_hour: float = 0.0,
    ) -> None:
        import torch

        for key, value in (("batch_size", batch_size), ("max_length", max_length)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise AnalysisError(BAD_SETTING.format(name=key, value=value,
                                                       rule="give an integer >= 1"))
        if dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise AnalysisError(BAD_SETTING.format(
                name="dtype", value=dtype, rule="one of auto, bfloat16, float16, float32"))
        device = resolve_device(device, NO_CUDA)
        if dtype == "auto":
            dtype = auto_dtype(device)
        self.model_path = str(model)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.max_length = max_length
        self.gpu_usd_per_hour = float(gpu_usd_per_hour)
        self.usage = EncodeUsage()
        path = Path(self.model_path)
        if not path.is_dir():
            raise AnalysisError(BAD_MODEL_FOLDER.format(path=path.name, reason="no such folder"))
        try:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            self._model = AutoModel.from_pretrained(
                self.model_path, dtype=getattr(torch, dtype)
            ).to(device)
        except (OSError, ValueError, KeyError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AnalysisError(BAD_MODEL_FOLDER.format(path=path.name, reason=reason)) from exc
        self._model.eval()
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token or self._tokenizer.unk_token
        self._dim = int(self._model.config.hidden_size)

    @property
    def id(self) -> str:
        """Folder name, pooling, max length and dtype (bf16 and fp32 vectors differ)."""
        return (
            f"transformers:{Path(self.model_path).resolve().name}|mean|"
            f"max_length={self.max_length}|{self.dtype}"
        )

    @property
    def dim(self) -> int:
        return self._dim

    def fit(self, corpus: Sequence[str]) -> None:
        """Nothing to learn: a pretrained model."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Exact tokens per text after truncation (special tokens included)."""
        enc = self._tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return [len(ids) for ids in enc["input_ids"]]

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out
        start = time.perf_counter()
        lengths = np.asarray([len(t) for t in texts])
        order = np.argsort(-lengths, kind="stable")
        tokens = calls = 0
        with torch.inference_mode():
            for lo in range(0, len(texts), self.batch_size):
                rows = order[lo : lo + self.batch_size]
                enc = self._tokenizer(
                    [texts[i] for i in rows], padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                )  # fmt: skip
                enc = {k: v.to(self.device) for k, v in enc.items()}
                hidden = self._model(**enc).last_hidden_state
                pooled = mean_pool(hidden, enc["attention_mask"])
                out[rows] = pooled.cpu().numpy()
                tokens += int(enc["attention_mask"].sum())
                calls += 1
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        self.usage = self.usage + EncodeUsage(
            len(texts), tokens, time.perf_counter() - start, calls
        )
        return out
