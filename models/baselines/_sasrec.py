"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018), in PyTorch.

Model. Each user's training items in time order (:attr:`analysis.split.Split.train_sequences`)
are cut to the last ``max_len + 1``; the input is all but the last, the target at each
position is the next item. Items are embedded (table row 0 is padding; item ``i`` is row
``i + 1``), scaled by ``sqrt(factors)``, plus a learned embedding of the position (sequences
are left-padded, so the newest item is always at position ``max_len - 1``), then dropout.
``blocks`` blocks follow, as in the authors' code: ``q = LayerNorm(x)``;
``x = q + MultiheadAttention(q, x, x)`` under a causal mask (position t sees positions <= t,
and no padding); ``x = LayerNorm(x)``; ``x = x + FFN(x)`` (two position-wise linear layers
with ReLU and dropout); padded positions are zeroed after each step; a final LayerNorm.

Loss (the paper's): binary cross-entropy over every non-padded position t,
``-log sigmoid(h_t . e_pos) - log(1 - sigmoid(h_t . e_neg))``, averaged over positions, with
ONE sampled negative per position, drawn uniformly from the items that have at least one
training interaction and are not in the user's training set (redrawn up to 20 times). Only
training items are ever inputs, targets or negatives, so an item seen only in validation or
test gets no gradient: its embedding keeps its initial value. Adam (betas 0.9, 0.98), no
weight decay. Users with fewer than 2 training items give no training target.

Scoring. After training (dropout off) each user's state is the last hidden vector of the
network fed the user's last ``max_len`` training items; ``score(u, i) = state_u . e_i``.
The states and the item embeddings are stored as two float32 matrices
(:attr:`user_factors`, :attr:`item_factors`), so scoring, saving and loading are plain numpy,
exactly as for the factor models. Users without training items get zero states, so all-zero
scores. Seen items are filtered by the caller's ``exclude`` (the train matrix), as for every
baseline.

Protocol note. The user's state is computed from training items only, so under a temporal
split with ``n_validation`` items held out between train and test, the test items are
``n_validation + 1`` or more steps after the last item the model sees: SASRec's next-item
strength fades with that gap (ALS, which models the whole taste, loses less).

Item table from text (LLMEmb, Liu et al. 2024). ``fit(train, sequences=...,
item_vectors=V, text_table="frozen")`` replaces the random item table by ``adapter(PCA(V))``;
the definitions are in :mod:`models.baselines._sasrec_text`. The fitted :attr:`item_factors`
are ``adapter(t)``, so saving, loading and scoring are unchanged; the table and adapter are
kept on the model as :attr:`SASRec.text_state` (not saved).

Cancel. ``fit(..., should_stop=f)`` calls ``f()`` before every training batch; when it
returns True the fit stops there and raises :class:`~analysis.errors.AnalysisError`
(:data:`FIT_CANCELLED`): at most one batch runs after a cancel, and the model keeps nothing
of the stopped fit (the torch settings are restored as after any fit).

Determinism. The whole fit runs under ``torch.random.fork_rng`` seeded with ``seed`` (weights
and dropout), the batches and negatives come from ``numpy.random.default_rng(seed)``,
``torch.use_deterministic_algorithms`` is on, and torch uses ``num_threads`` threads (1 by
default: a sum split over a different number of threads may round differently). The
previous torch settings are restored after the fit; they are process-wide while it runs. On
CPU a seed gives the same bytes; on CUDA (``use_gpu`` ``"auto"`` or ``True`` with
``torch.cuda.is_available()``) results may differ in the last bits between runs.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from analysis.errors import AnalysisError
from models.base import Progress

from ._base import report
from ._device import BAD_USE_GPU
from ._factor import FactorModel
from ._params import BAD_PARAM
from ._sasrec_text import TextState, check_text, pca_reduce, text_items, text_state, unit_rms

__all__ = ["FIT_CANCELLED", "NEEDS_SEQUENCES", "NO_TORCH_CUDA", "SASRec", "build_network"]

NEEDS_SEQUENCES = (
    "Model 'sasrec' trains on each user's training items in time order: pass "
    "sequences=split.train_sequences to fit."
)
NO_TORCH_CUDA = (
    "A GPU was required for model 'sasrec' but torch finds no CUDA GPU "
    "(torch.cuda.is_available() is False); let it fit on the CPU (GPU 'auto' or off)."
)

FIT_CANCELLED = (
    "The {name} fit was cancelled at epoch {epoch}/{epochs}, batch {batch}: nothing was kept."
)

_NEG_TRIES = 20  # redraws of a negative that the user has in training
_BUCKET = 20  # batches whose rows are sorted by length together (see _batches)
_STATE_BATCH = 1024  # users per forward pass when computing the final states


def _torch():
    import torch  # imported on use: the app and the CLI start without paying for torch

    return torch


def build_network(n_items: int, params: dict[str, Any], text: np.ndarray | None = None,
                  trainable: bool = False) -> Any:
    """The SASRec network for ``n_items`` items (weights from torch's current random state);
    with ``text`` (float32 ``(n_items, factors)``, :func:`~models.baselines._sasrec_text.
    text_table`) the item table is ``adapter(text)`` instead, the rest drawn exactly as
    without it."""
    torch = _torch()
    nn = torch.nn
    d, heads, drop = int(params["factors"]), int(params["heads"]), float(params["dropout"])

    class _Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn_norm = nn.LayerNorm(d, eps=1e-8)
            self.attn = nn.MultiheadAttention(d, heads, dropout=drop, batch_first=True)
            self.ffn_norm = nn.LayerNorm(d, eps=1e-8)
            self.ffn = nn.Sequential(
                nn.Linear(d, d), nn.ReLU(), nn.Dropout(drop), nn.Linear(d, d), nn.Dropout(drop)
            )

        def forward(self, x, mask, keep):
            q = self.attn_norm(x)
            a, _ = self.attn(q, x, x, attn_mask=mask, need_weights=False)
            x = self.ffn_norm(q + a)
            return (x + self.ffn(x)) * keep

    class _SASRec(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
            self.pos_emb = nn.Embedding(int(params["max_len"]), d)
            self.drop = nn.Dropout(drop)
            self.blocks = nn.ModuleList(_Block() for _ in range(int(params["blocks"])))
            self.last_norm = nn.LayerNorm(d, eps=1e-8)
            if text is not None:  # the random table above was drawn first: same other weights
                self.item_emb = text_items(torch, text, trainable)

        def forward(self, seq):
            """Hidden states (b, L, d) of left-padded item rows ``seq`` (b, L), 0 = padding;
            ``L <= max_len``: columns that are padding in every row may be cut off the left
            (they change nothing: padding is masked out of attention and zeroed)."""
            length = seq.shape[1]  # the last ``length`` positions of ``max_len``
            pad = seq == 0
            emb = self.item_emb(seq)
            keep = (~pad).unsqueeze(-1).to(emb.dtype)
            first = self.pos_emb.num_embeddings - length
            positions = torch.arange(first, first + length, device=seq.device)
            x = emb * math.sqrt(d) + self.pos_emb(positions)[None]
            x = self.drop(x) * keep
            causal = torch.ones(length, length, dtype=torch.bool, device=seq.device).triu(1)
            eye = torch.eye(length, dtype=torch.bool, device=seq.device)
            # True = not attended: the future and padding; a position always sees itself
            mask = (causal[None] | pad[:, None, :]) & ~eye[None]
            mask = mask.repeat_interleave(heads, dim=0)
            for block in self.blocks:
                x = block(x, mask, keep)
            return self.last_norm(x)

    return _SASRec()


def _left_padded(indptr: np.ndarray, items: np.ndarray, users: np.ndarray, drop_last: int,
                 length: int) -> np.ndarray:
    """(len(users), length) int64 rows: item + 1 of the last ``length`` entries of each user's
    sequence less its last ``drop_last``, right-aligned, 0 (padding) before."""
    out = np.zeros((len(users), length), dtype=np.int64)
    stop = indptr[users + 1] - drop_last
    start = np.maximum(indptr[users], stop - length)
    n = np.maximum(stop - start, 0)
    j = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)  # index within the row
    out[np.repeat(np.arange(len(users)), n), np.repeat(length - n, n) + j] = (
        items[np.repeat(start, n) + j] + 1)
    return out


def _batches(rng: np.random.Generator, lengths: np.ndarray, batch: int) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """One epoch's batches: ``order[starts[b]:starts[b + 1]]`` are batch b's rows.

    Rows are shuffled; each run of ``_BUCKET`` batches' worth of rows is sorted by sequence
    length (stable) and cut into batches, and the batches are shuffled. Similar lengths in a
    batch mean little padding to compute over (the lengths are heavy-tailed: a median user
    has a few items, a few have hundreds), so an epoch costs about the sum of the lengths.
    """
    order = rng.permutation(len(lengths))
    chunk = batch * _BUCKET
    for a in range(0, len(order), chunk):
        part = order[a:a + chunk]
        order[a:a + chunk] = part[np.argsort(lengths[part], kind="stable")]
    cuts = [np.arange(a, min(a + chunk, len(order)), batch) for a in range(0, len(order), chunk)]
    bounds = np.concatenate([*cuts, [len(order)]]) if cuts else np.zeros(1, np.int64)
    pick = rng.permutation(len(bounds) - 1)
    sizes = np.diff(bounds)[pick]
    order = np.concatenate([order[bounds[b]:bounds[b + 1]] for b in pick]) if len(pick) else order
    return order, np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)


class SASRec(FactorModel):
    """Self-attentive sequential recommender (Kang & McAuley 2018); see the module docstring.

    ``fit(train, sequences=split.train_sequences)``: the sequences are required;
    ``item_vectors`` and ``text_table`` give the item table from text (LLMEmb).

    Attributes:
        text_state: the fitted text table and adapter (:class:`TextState`), None after a fit
            with a random table.
    """

    name = "sasrec"
    _has_gpu_version = True
    _uses_sequences = True
    text_state: TextState | None = None
    _text: tuple[np.ndarray, str] | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        d, heads = self.params["factors"], self.params["heads"]
        if d % heads:
            raise AnalysisError(BAD_PARAM.format(
                param="heads", name=self.name, expected=f"a divisor of factors ({d})",
                value=heads))

    def fit(self, train: sp.csr_matrix, progress: Progress | None = None, *,
            sequences: tuple[np.ndarray, np.ndarray] | None = None,
            item_vectors: np.ndarray | None = None, text_table: str = "frozen",
            should_stop: Callable[[], bool] | None = None) -> SASRec:
        """:meth:`BaselineRecommender.fit`, plus the item table from text and a cancel hook.

        Args:
            item_vectors: optional ``(n_items, d)`` text embeddings, one row per item of
                ``train``: the item table becomes ``adapter(PCA(item_vectors))``
                (:mod:`models.baselines._sasrec_text`); None: the random table.
            text_table: ``"frozen"`` (only the adapter trains) or ``"trainable"``.
            should_stop: optional, called before every training batch; True stops the fit.

        Raises:
            AnalysisError: as the base ``fit``; :data:`~models.baselines._sasrec_text.
                BAD_TEXT_TABLE`, :data:`~models.baselines._sasrec_text.BAD_ITEM_VECTORS`;
                :data:`FIT_CANCELLED` when ``should_stop()`` returned True (the model is
                left as it was before this fit).
        """
        text = check_text(item_vectors, text_table, train.shape[1])
        self._text, self.text_state = (None if text is None else (text, text_table)), None
        try:
            super().fit(train, progress, sequences=sequences, should_stop=should_stop)
        finally:
            self._text = None
        return self

    def _resolve_device(self, use_gpu: Any) -> bool:
        if not (isinstance(use_gpu, (bool, np.bool_)) or use_gpu == "auto"):
            raise AnalysisError(BAD_USE_GPU.format(value=use_gpu))
        has_cuda = bool(_torch().cuda.is_available())
        if use_gpu is True or use_gpu is np.True_:
            if not has_cuda:
                raise AnalysisError(NO_TORCH_CUDA)
            return True
        return bool(use_gpu == "auto" and has_cuda)

    def _fit(self, train: sp.csr_matrix, progress: Progress | None) -> None:
        raise AnalysisError(NEEDS_SEQUENCES)

    def _fit_sequences(
        self, train: sp.csr_matrix, sequences: tuple[np.ndarray, np.ndarray],
        progress: Progress | None,
    ) -> None:
        torch = _torch()
        gpu = self._resolve_device(self.use_gpu)
        device = "gpu" if gpu else "cpu"
        threads = int(self.params["num_threads"]) or (os.cpu_count() or 1)
        saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                 torch.is_deterministic_algorithms_warn_only_enabled())
        report(progress, 0.0, f"{self.name}: fitting on {device}")
        try:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(True, warn_only=True)
            with torch.random.fork_rng(devices=[0] if gpu else []):
                torch.manual_seed(self.seed)
                users, items = self._train(train, sequences, torch.device("cuda" if gpu else "cpu"),
                                           progress)
        finally:
            torch.set_num_threads(saved[0])
            torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        self._user_factors, self._item_factors = users, items
        self.device = device
        report(progress, 1.0, f"{self.name}: done")

    def _train(self, train: sp.csr_matrix, sequences: tuple[np.ndarray, np.ndarray], dev: Any,
               progress: Progress | None) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        p = self.params
        n_users, n_items = train.shape
        length, epochs, batch = int(p["max_len"]), int(p["epochs"]), int(p["batch_size"])
        indptr, items = sequences
        table = explained = None
        if self._text is not None:
            coords, explained = pca_reduce(self._text[0], int(p["factors"]))
            table = unit_rms(coords)
        trainable = self._text is not None and self._text[1] == "trainable"
        net = build_network(n_items, p, table, trainable).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=float(p["learning_rate"]), betas=(0.9, 0.98))
        rng = np.random.default_rng(self.seed)
        counts = np.diff(indptr)
        learners = np.flatnonzero(counts >= 2)
        inputs = _left_padded(indptr, items, learners, 1, length)
        targets = _left_padded(indptr, items, learners, 0, length)
        targets[inputs == 0] = 0  # a position without an input item predicts nothing
        lengths = (inputs > 0).sum(axis=1)
        # train cells as sorted keys user * n_items + item (CSR rows with sorted indices)
        keys = (np.repeat(np.arange(n_users, dtype=np.int64), np.diff(train.indptr)) * n_items
                + train.indices)
        pool = np.flatnonzero(np.diff(train.tocsc().indptr) > 0)  # items with training rows
        for epoch in range(epochs):
            net.train()
            order, starts = _batches(rng, lengths, batch)
            neg = self._negatives(rng, pool, keys, n_items, learners[order], targets.shape[1])
            total, weight = 0.0, 0
            for b, (start, stop) in enumerate(itertools.pairwise(starts)):
                if self._should_stop is not None and self._should_stop():
                    raise AnalysisError(FIT_CANCELLED.format(
                        name=self.name, epoch=epoch + 1, epochs=epochs, batch=b + 1))
                rows = order[start:stop]
                width = -max(1, int(lengths[rows].max()))  # drop all-padding columns
                seq = torch.from_numpy(inputs[rows, width:]).to(dev)
                pos = torch.from_numpy(targets[rows, width:]).to(dev)
                ng = torch.from_numpy(neg[start:stop, width:]).to(dev)
                h = net(seq)
                valid = pos > 0
                pos_logit = (h * net.item_emb(pos)).sum(-1)[valid]
                neg_logit = (h * net.item_emb(ng)).sum(-1)[valid]
                bce = torch.nn.functional.binary_cross_entropy_with_logits
                loss = (bce(pos_logit, torch.ones_like(pos_logit), reduction="sum")
                        + bce(neg_logit, torch.zeros_like(neg_logit), reduction="sum"))
                loss = loss / valid.sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(rows)
                weight += len(rows)
            mean = total / max(weight, 1)
            report(progress, (epoch + 1) / epochs,
                   f"{self.name}: epoch {epoch + 1}/{epochs}, loss {mean:.4f}")
        if table is not None:
            self.text_state = text_state(net.item_emb, self._text[1], explained)
        return self._states(net, indptr, items, n_users, length, dev)

    @staticmethod
    def _negatives(rng: np.random.Generator, pool: np.ndarray, keys: np.ndarray, n_items: int,
                   users: np.ndarray, length: int) -> np.ndarray:
        """(len(users), length) item rows (item + 1): uniform over ``pool``, not in the
        user's training set (redrawn up to ``_NEG_TRIES`` times; left as drawn after)."""
        neg = pool[rng.integers(0, len(pool), size=(len(users), length))]
        u = np.broadcast_to(users[:, None], neg.shape)
        for _ in range(_NEG_TRIES):
            cell = u * n_items + neg
            at = np.minimum(np.searchsorted(keys, cell), len(keys) - 1)
            seen = keys[at] == cell
            if not seen.any():
                break
            neg[seen] = pool[rng.integers(0, len(pool), size=int(seen.sum()))]
        return (neg + 1).astype(np.int64)

    @staticmethod
    def _states(net: Any, indptr: np.ndarray, items: np.ndarray, n_users: int, length: int,
                dev: Any) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        net.eval()
        d = net.item_emb.weight.shape[1]
        states = np.zeros((n_users, d), dtype=np.float32)
        counts = np.diff(indptr)
        active = np.flatnonzero(counts > 0)
        active = active[np.argsort(counts[active], kind="stable")]  # little padding per batch
        with torch.no_grad():
            for start in range(0, len(active), _STATE_BATCH):
                users = active[start:start + _STATE_BATCH]
                seq = _left_padded(indptr, items, users, 0, length)
                seq = seq[:, -max(1, int((seq > 0).sum(axis=1).max())):]
                h = net(torch.from_numpy(seq).to(dev))[:, -1]
                states[users] = h.float().cpu().numpy()
            emb = net.item_emb.weight[1:].detach().float().cpu().numpy()
        return states, np.ascontiguousarray(emb, dtype=np.float32)



