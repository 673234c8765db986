"""A scenario- and user-conditioned rescoring head: LLM4MSR's hierarchical meta network reduced
to what reordering a baseline's top-C candidates needs.

For a user ``u`` and one of their candidates ``c`` (feature row ``x`` of length ``F``, shown in
scenario ``s``; the features are built in :mod:`analysis.remedies.msr`)::

    a_s = A_s(s)                 scenario condition, length m
    a_u = A_u(u)                 user condition, length m
    W_s, b_s = G_s(a_s)          scenario-level meta layer: generates an F x H layer
    h = relu(x (W_0 + W_s) + b_0 + b_s)
    w_u = G_u(a_u)               user-level meta layer: generates the H output weights
    score = x_0 + h . (w_0 + w_u)

``x_0`` is the baseline's standardised score, and ``w_0``, ``G_u`` start at zero, so the
untrained head ranks exactly as the baseline did (ties keep the baseline's order). ``A_s`` and
``A_u`` are either a linear map of fixed knowledge vectors (the frozen LLM's hidden states, or
the random vectors of the uninformative check) or learned id embeddings (the no-LLM control):
the rest of the head is the same, so any difference is the knowledge's.

Training: listwise softmax cross-entropy over each user's candidates (only users with at least
one relevant candidate), Adam, seeded minibatches of users; the state kept is the one with the
best mean NDCG@k on the held-aside check users (epoch 0, the baseline's order, included; ties
to the earlier epoch), and only when its gain over epoch 0 on those users is established: the
lower end of the 95% t-interval of the paired per-user differences is above 0. Otherwise the
head keeps epoch 0, the baseline's order: a small validation set picks noisy epochs, and a
remedy must not reorder lists on a gain it cannot show. Deterministic for a seed: one torch
thread (single-threaded CPU kernels sum in a fixed order) while it fits and scores.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

__all__ = ["HeadConfig", "HeadFit", "fit_head", "rerank_order"]


@dataclass(frozen=True)
class HeadConfig:
    """The head's size and its fit.

    Attributes:
        hidden: H, the width of the generated layer.
        meta_dim: m, the length of a condition (knowledge projected, or id embedding).
        epochs: passes over the fitting users.
        batch_users: users per Adam step.
        lr: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
        check_every: epochs between two checks of the check users' NDCG@k.
        seed: initialisation and minibatch order.
        require_established: keep a trained epoch only when its check gain over epoch 0 is
            established (module docstring); False: keep the best check mean whatever.
    """

    hidden: int = 16
    meta_dim: int = 16
    epochs: int = 40
    batch_users: int = 256
    lr: float = 0.01
    weight_decay: float = 1e-4
    check_every: int = 2
    seed: int = 0
    require_established: bool = True


@dataclass(frozen=True)
class HeadFit:
    """A fitted head and how its epochs scored.

    Attributes:
        module: the torch module (eval mode).
        best_epoch: the epoch kept (0: the baseline's own order).
        curve: ``(epoch, check NDCG@k)`` pairs, in order.
        best_mean_epoch: the epoch with the best check mean (kept unless its gain was not
            established); check_gain_low: the lower end of that gain's 95% interval.
    """

    module: object
    best_epoch: int
    curve: tuple[tuple[int, float], ...]
    best_mean_epoch: int = 0
    check_gain_low: float = float("nan")

    def score(self, x: np.ndarray, scen: np.ndarray, users: np.ndarray) -> np.ndarray:
        """float32 ``(n, C)`` scores of candidates ``x`` ``(n, C, F)`` shown in scenarios
        ``scen`` ``(n, C)`` (condition rows) for condition rows ``users`` ``(n,)``."""
        import torch

        with _deterministic(), torch.no_grad():
            out = self.module(torch.from_numpy(np.ascontiguousarray(x, np.float32)),
                              torch.from_numpy(np.asarray(scen, np.int64)),
                              torch.from_numpy(np.asarray(users, np.int64)))
        return out.numpy().astype(np.float32)


@contextmanager
def _deterministic():
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _module(n_features: int, scenario_source, user_source, cfg: HeadConfig):
    """The head (see the module docstring). A source is a float32 ``(n, d)`` array of fixed
    vectors or an int ``n`` (learned id embeddings of ``n`` rows)."""
    import torch
    from torch import nn

    def condition(source):
        if isinstance(source, np.ndarray):
            return _Fixed(torch.from_numpy(np.ascontiguousarray(source, np.float32)),
                          cfg.meta_dim)
        emb = nn.Embedding(int(source), cfg.meta_dim)
        nn.init.normal_(emb.weight, std=0.1)
        return emb

    class _Fixed(nn.Module):
        def __init__(self, vectors, m):
            super().__init__()
            self.register_buffer("vectors", vectors)
            self.proj = nn.Linear(vectors.shape[1], m)

        def forward(self, idx):
            return self.proj(self.vectors[idx])

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            f, h, m = n_features, cfg.hidden, cfg.meta_dim
            self.f, self.h = f, h
            self.n_scen = (len(scenario_source) if isinstance(scenario_source, np.ndarray)
                           else int(scenario_source))
            self.cond_s, self.cond_u = condition(scenario_source), condition(user_source)
            self.w0 = nn.Parameter(torch.randn(f, h) * (1.0 / np.sqrt(f)))
            self.b0 = nn.Parameter(torch.zeros(h))
            self.gen_s = nn.Linear(m, f * h + h)
            nn.init.normal_(self.gen_s.weight, std=0.01)
            nn.init.zeros_(self.gen_s.bias)
            self.out0 = nn.Parameter(torch.zeros(h))
            self.gen_u = nn.Linear(m, h)
            nn.init.zeros_(self.gen_u.weight)
            nn.init.zeros_(self.gen_u.bias)

        def forward(self, x, scen, users):
            n, c, f = x.shape
            rows = torch.arange(self.n_scen)
            gen = self.gen_s(torch.tanh(self.cond_s(rows)))  # one layer per scenario row
            w = self.w0 + gen[:, : f * self.h].reshape(self.n_scen, f, self.h)
            b = self.b0 + gen[:, f * self.h:]
            every = torch.einsum("ncf,sfh->ncsh", x, w) + b  # (n, c, scenarios, h)
            pick = scen.reshape(n, c, 1, 1).expand(n, c, 1, self.h)
            hidden = torch.relu(torch.gather(every, 2, pick).squeeze(2))
            w_u = self.out0 + self.gen_u(torch.tanh(self.cond_u(users)))  # (n, h)
            return x[:, :, 0] + torch.einsum("nch,nh->nc", hidden, w_u)

    return Head()


def rerank_order(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """int ``(n, C)`` candidate positions by score descending, padding last, ties to the
    earlier position (the baseline's order)."""
    s = np.where(valid, scores.astype(np.float64), -np.inf)
    return np.argsort(-s, axis=1, kind="stable")


def _ndcg_rows(order: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Binary NDCG@k of each row's reordered candidates, NaN for a row with no label (the
    ideal list is over the row's labelled candidates, at most k)."""
    hits = np.take_along_axis(labels, order, axis=1)[:, :k]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc).sum(axis=1)
    n_rel = np.minimum(labels.sum(axis=1), k).astype(int)
    ideal = np.concatenate(([0.0], np.cumsum(disc)))[n_rel]
    return np.divide(dcg, ideal, out=np.full(len(dcg), np.nan), where=n_rel > 0)


def _ndcg_of_order(order: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean of :func:`_ndcg_rows` over the rows with a label (NaN without one)."""
    rows = _ndcg_rows(order, labels, k)
    return float(np.nanmean(rows)) if (~np.isnan(rows)).any() else float("nan")


def _gain_low(after: np.ndarray, before: np.ndarray) -> float:
    """Lower end of the 95% t-interval of the mean paired difference (rows with a value);
    NaN below two rows."""
    d = (after - before)[~np.isnan(before)]
    if len(d) < 2:
        return float("nan")
    from scipy import stats

    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean() - half)


def fit_head(
    x: np.ndarray, scen: np.ndarray, users: np.ndarray, labels: np.ndarray, valid: np.ndarray,
    *, fit_rows: np.ndarray, check_rows: np.ndarray, scenario_source, user_source, k: int,
    cfg: HeadConfig | None = None,
) -> HeadFit:  # fmt: skip
    """Fit the head on ``fit_rows`` and keep the epoch best on ``check_rows``.

    Args:
        x: float32 ``(n, C, F)`` candidate features, feature 0 the baseline's standardised
            score (0 on padding).
        scen: int ``(n, C)`` scenario condition row of each candidate.
        users: int ``(n,)`` user condition row of each list.
        labels: float ``(n, C)``, 1 where the candidate is a held-out relevant item.
        valid: bool ``(n, C)``, False on padding.
        fit_rows, check_rows: the rows to fit on and to choose the epoch on.
        scenario_source, user_source: fixed ``(rows, d)`` vectors or a number of ids.
        k: the list length NDCG is taken at.
        cfg: :class:`HeadConfig`.
    """
    import torch

    cfg = cfg or HeadConfig()
    with _deterministic():
        torch.manual_seed(cfg.seed)
        module = _module(x.shape[2], scenario_source, user_source, cfg)
        xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        st = torch.from_numpy(np.asarray(scen, np.int64))
        ut = torch.from_numpy(np.asarray(users, np.int64))
        yt = torch.from_numpy(np.asarray(labels, np.float32))
        vt = torch.from_numpy(np.asarray(valid, bool))
        rows = np.asarray(fit_rows, np.int64)
        rows = rows[np.asarray(labels)[rows].sum(axis=1) > 0]
        check = np.asarray(check_rows, np.int64)
        opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        gen = np.random.default_rng(cfg.seed)

        def check_rows_ndcg() -> np.ndarray:
            module.eval()
            with torch.no_grad():
                s = module(xt[check], st[check], ut[check]).numpy()
            module.train()
            return _ndcg_rows(rerank_order(s, valid[check]), labels[check], k)

        def mean(rows: np.ndarray) -> float:
            return float(np.nanmean(rows)) if (~np.isnan(rows)).any() else float("nan")

        base_rows = check_rows_ndcg()
        initial = {n: t.clone() for n, t in module.state_dict().items()}
        best = (mean(base_rows), 0, initial, base_rows)
        curve = [(0, best[0])]
        module.train()
        for epoch in range(1, cfg.epochs + 1):
            order = gen.permutation(rows)
            for start in range(0, len(order), cfg.batch_users):
                b = torch.from_numpy(order[start:start + cfg.batch_users])
                s = module(xt[b], st[b], ut[b]).masked_fill(~vt[b], -1e9)
                y = yt[b] / yt[b].sum(dim=1, keepdim=True)
                loss = -(y * torch.log_softmax(s, dim=1)).sum(dim=1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            if epoch % cfg.check_every == 0 or epoch == cfg.epochs:
                rows_now = check_rows_ndcg()
                value = mean(rows_now)
                curve.append((epoch, value))
                if value > best[0]:
                    best = (value, epoch, {n: t.clone() for n, t in module.state_dict().items()},
                            rows_now)
        low = _gain_low(best[3], base_rows) if best[1] else float("nan")
        kept, state = best[1], best[2]
        if cfg.require_established and kept and not low > 0:
            kept, state = 0, initial  # the gain is not established: the baseline's order
        module.load_state_dict(state)
        module.eval()
    return HeadFit(module=module, best_epoch=kept, curve=tuple(curve), best_mean_epoch=best[1],
                   check_gain_low=low)

