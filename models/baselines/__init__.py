"""Step 3: the baseline recommenders (ALS, BPR, LMF, item-kNN, most-popular, SASRec).

Each class implements :class:`models.base.Recommender` on a users x items CSR train matrix
(implicit 0.7 orientation); SASRec, a sequential model, also takes each user's training
items in time order (``fit(train, sequences=split.train_sequences)``). :func:`make_recommender` builds one by name; the CLI and the app
list hyperparameters with :data:`DEFAULT_PARAMS` and :func:`describe_params`;
:func:`save_model` / :func:`load_model` store a fitted model with its run.

Example:
    >>> model = make_recommender("als", seed=0, factors=32).fit(train)
    >>> items, scores = model.recommend(users, n=10, exclude=train)
"""

from __future__ import annotations

from typing import Any

from ._base import (
    BAD_EXCLUDE,
    BAD_ITEMS,
    BAD_N,
    BAD_SEED,
    BAD_SEQUENCES,
    BAD_TRAIN,
    BAD_USERS,
    EMPTY_TRAIN,
    NONFINITE_TRAIN,
    NOT_FITTED,
    TOO_MANY_ITEMS,
    BaselineRecommender,
    UseGpu,
)
from ._device import BAD_USE_GPU, NO_CUDA, resolve_device
from ._knn import ItemKNN
from ._mf import ALS, BPR, FIT_FAILED, LMF
from ._params import (
    BAD_PARAM,
    DEFAULT_PARAMS,
    MODEL_NAMES,
    UNKNOWN_MODEL,
    UNKNOWN_PARAM,
    ModelName,
    ParamInfo,
    check_model_name,
    describe_params,
    resolve_params,
)
from ._pop import MostPopular
from ._sasrec import FIT_CANCELLED, NEEDS_SEQUENCES, NO_TORCH_CUDA, SASRec
from ._store import BAD_MODEL_FILE, load_model, save_model

__all__ = [
    "ALS",
    "BAD_EXCLUDE",
    "BAD_ITEMS",
    "BAD_MODEL_FILE",
    "BAD_N",
    "BAD_PARAM",
    "BAD_SEED",
    "BAD_SEQUENCES",
    "BAD_TRAIN",
    "BAD_USERS",
    "BAD_USE_GPU",
    "BPR",
    "DEFAULT_PARAMS",
    "EMPTY_TRAIN",
    "FIT_CANCELLED",
    "FIT_FAILED",
    "LMF",
    "MODEL_NAMES",
    "NEEDS_SEQUENCES",
    "NONFINITE_TRAIN",
    "NOT_FITTED",
    "NO_CUDA",
    "NO_TORCH_CUDA",
    "TOO_MANY_ITEMS",
    "UNKNOWN_MODEL",
    "UNKNOWN_PARAM",
    "BaselineRecommender",
    "ItemKNN",
    "ModelName",
    "MostPopular",
    "ParamInfo",
    "SASRec",
    "UseGpu",
    "describe_params",
    "load_model",
    "make_recommender",
    "resolve_device",
    "save_model",
]

_CLASSES: dict[str, type[BaselineRecommender]] = {
    "als": ALS,
    "bpr": BPR,
    "lmf": LMF,
    "itemknn": ItemKNN,
    "pop": MostPopular,
    "sasrec": SASRec,
}


def make_recommender(
    name: ModelName, *, seed: int = 0, use_gpu: UseGpu = "auto", **params: Any
) -> BaselineRecommender:
    """Build an unfitted baseline by name.

    Args:
        name: ``"als"``, ``"bpr"``, ``"lmf"``, ``"itemknn"``, ``"pop"`` or ``"sasrec"``
            (case-insensitive).
        seed: random seed for factor initialisation and sampling.
        use_gpu: ``"auto"`` (implicit's CUDA classes when available, ALS/BPR only; torch's
            CUDA for SASRec),
            ``True`` (require a GPU) or ``False``.
        **params: hyperparameters overriding :data:`DEFAULT_PARAMS` ``[name]``; numbers may
            be given as strings. ``model.params`` round-trips: ``make_recommender(name,
            **model.params)`` rebuilds the same model.

    Returns:
        The model; call ``fit(train)`` next.

    Raises:
        AnalysisError: unknown name or parameter, bad value, or ``use_gpu=True`` without
            CUDA. Messages follow :data:`UNKNOWN_MODEL`, :data:`UNKNOWN_PARAM`,
            :data:`BAD_PARAM`, :data:`NO_CUDA`.
    """
    key = check_model_name(name)
    resolve_params(key, params)  # reports unknown parameters before any keyword error
    return _CLASSES[key](seed=seed, use_gpu=use_gpu, **params)
