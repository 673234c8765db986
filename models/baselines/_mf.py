"""Matrix-factorisation baselines on implicit 0.7.3: ALS, BPR, LMF.

Score of user u for item i: ``user_factors[u] @ item_factors[i]``. For BPR and LMF implicit
stores the biases as extra factor columns (BPR: item bias column, user column fixed to 1;
LMF: user and item bias columns), so this one dot product equals implicit's own
``recommend`` scores for all three models.

GPU: when ``implicit.gpu.HAS_CUDA`` and ``use_gpu`` is ``"auto"`` or ``True``, ALS and BPR
fit with implicit's CUDA classes and the factors are copied back with ``to_cpu()``, so
everything after ``fit`` is CPU numpy. LMF has no GPU version and always fits on the CPU.
``use_gpu=True`` without CUDA raises :class:`AnalysisError`.
"""

from __future__ import annotations

from typing import Any

import implicit.cpu.als
import implicit.cpu.bpr
import implicit.cpu.lmf
import implicit.gpu.als
import implicit.gpu.bpr
import numpy as np
import scipy.sparse as sp
from implicit.recommender_base import ModelFitError
from threadpoolctl import threadpool_limits

from analysis.errors import AnalysisError
from models.base import Progress

from ._base import report
from ._device import resolve_device
from ._factor import FactorModel

__all__ = ["ALS", "BPR", "FIT_FAILED", "FIT_STOPPED", "LMF"]

FIT_STOPPED = (
    "The {name} fit was cancelled after iteration {iteration}/{iterations}: nothing was kept."
)


class _Stopped(Exception):
    """Raised from implicit's per-iteration callback when the fit is cancelled."""

FIT_FAILED = (
    "Model {name!r} diverged while fitting ({error}): lower learning_rate or raise regularization."
)


class _ImplicitMF(FactorModel):
    """Common fit/score code of the implicit factor models."""

    _has_gpu_version = True

    #: params passed to implicit's constructor under their own names (on the CPU, with
    #: ``num_threads`` too), beside ``random_state=seed``
    _passed: tuple[str, ...] = ()

    def _implicit_class(self, gpu: bool) -> Any:
        """implicit's class of the model, on the GPU or the CPU (looked up at each fit)."""
        raise NotImplementedError

    def _build(self, gpu: bool) -> Any:
        p = self.params
        kwargs = {name: p[name] for name in self._passed}
        if not gpu:
            kwargs["num_threads"] = p["num_threads"]
        return self._implicit_class(gpu)(random_state=self.seed, **kwargs)

    def _fit(self, train: sp.csr_matrix, progress: Progress | None) -> None:
        gpu = resolve_device(self.use_gpu, self.name, self._has_gpu_version)
        total = int(self.params["iterations"])
        device = "gpu" if gpu else "cpu"
        report(progress, 0.0, f"{self.name}: fitting on {device}")
        last = [0.0]

        def callback(iteration: int, *_: Any) -> None:
            last[0] = (iteration + 1) / total
            report(progress, last[0], f"{self.name}: iteration {iteration + 1}/{total}")
            if self._should_stop is not None and self._should_stop():
                raise _Stopped(iteration + 1)

        # implicit asks for single-threaded BLAS; its own kernels use num_threads cores
        with threadpool_limits(1, "blas"):
            model = self._build(gpu)
            try:
                model.fit(train, show_progress=False, callback=callback)
            except ModelFitError as exc:
                raise AnalysisError(FIT_FAILED.format(name=self.name, error=exc)) from exc
            except _Stopped as stop:  # nothing of this fit is kept
                raise AnalysisError(FIT_STOPPED.format(
                    name=self.name, iteration=stop.args[0], iterations=total)) from None
        if gpu:
            model = model.to_cpu()
        self._user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self._item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self.device = device
        if last[0] < 1.0:
            report(progress, 1.0, f"{self.name}: done")





class ALS(_ImplicitMF):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008), ``implicit.als``.

    Observed (u, i) cells have preference 1 and confidence ``alpha * value`` (implicit's
    convention; Hu et al. write ``1 + alpha * value``); unobserved cells have preference 0
    and confidence 1. Deterministic for a given seed (CG solver per row).
    Users without train interactions get all-zero factors, hence all-zero scores.
    """

    name = "als"
    _passed = ("factors", "regularization", "alpha", "iterations")

    def _implicit_class(self, gpu: bool) -> Any:
        if gpu:
            return implicit.gpu.als.AlternatingLeastSquares
        return implicit.cpu.als.AlternatingLeastSquares


class BPR(_ImplicitMF):
    """Bayesian Personalized Ranking (Rendle et al. 2009), ``implicit.bpr``.

    Values are treated as binary. Hogwild SGD: reproducible for a seed only with
    ``num_threads=1``, the default (``num_threads=0`` uses every core and gives different
    factors on every fit). Users without train interactions keep zero factors and a bias
    weight of 1, so they are ranked by the learned item bias.
    """

    name = "bpr"
    _passed = ("factors", "learning_rate", "regularization", "iterations",
               "verify_negative_samples")

    def _implicit_class(self, gpu: bool) -> Any:
        if gpu:
            return implicit.gpu.bpr.BayesianPersonalizedRanking
        return implicit.cpu.bpr.BayesianPersonalizedRanking


class LMF(_ImplicitMF):
    """Logistic Matrix Factorization (Johnson 2014), ``implicit.lmf`` (CPU only).

    Defaults are implicit's own, except ``num_threads=1``: its SGD is Hogwild, like BPR's,
    so only one thread makes a seed fix the model. Users without train interactions are
    scored by their (random initial) factors plus the learned item biases.
    """

    name = "lmf"
    _has_gpu_version = False
    _passed = ("factors", "learning_rate", "regularization", "iterations", "neg_prop")

    def _implicit_class(self, gpu: bool) -> Any:
        return implicit.cpu.lmf.LogisticMatrixFactorization
