"""Hyperparameters of the baselines: defaults, one-line help, validation.

The CLI and the app build their controls from :data:`DEFAULT_PARAMS` and
:func:`describe_params`; :func:`resolve_params` turns user input (possibly strings from a
command line) into a validated, JSON-able dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from analysis.errors import AnalysisError

__all__ = [
    "BAD_PARAM",
    "DEFAULT_PARAMS",
    "MODEL_NAMES",
    "UNKNOWN_MODEL",
    "UNKNOWN_PARAM",
    "ModelName",
    "ParamInfo",
    "describe_params",
    "resolve_params",
]

ModelName = Literal["als", "bpr", "lmf", "itemknn", "pop", "sasrec"]
MODEL_NAMES: tuple[str, ...] = ("als", "bpr", "lmf", "itemknn", "pop", "sasrec")

UNKNOWN_MODEL = "Unknown model {name!r}: choose one of {valid}."
UNKNOWN_PARAM = "Unknown parameter {param!r} for model {name!r}: valid parameters are {valid}."
BAD_PARAM = "Parameter {param!r} of model {name!r} must be {expected}; got {value!r}."


@dataclass(frozen=True)
class _Spec:
    default: Any
    help: str
    kind: type  # int, float, bool or str
    minimum: float | None = None  # inclusive lower bound
    positive: bool = False  # strictly greater than zero
    maximum: float | None = None  # inclusive upper bound
    choices: tuple[str, ...] = ()

    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is bool:
            return "true or false"
        noun = "an integer" if self.kind is int else "a number"
        if self.positive:
            bound = " > 0"
        elif self.minimum is not None:
            bound = f" >= {self.minimum:g}"
        else:
            bound = ""
        if self.maximum is not None:
            bound += f" and <= {self.maximum:g}" if bound else f" <= {self.maximum:g}"
        return noun + bound


_THREADS = _Spec(0, "CPU threads for implicit (0 = all cores; the result is the same)", int, 0)
#: Hogwild SGD (BPR, LMF) updates shared factors from several threads at once, so its result
#: depends on the thread schedule: one thread by default, so that a seed fixes the model
_SGD_THREADS = _Spec(
    1,
    "CPU threads for implicit's Hogwild SGD (1 = reproducible for a seed; 0 = all cores, "
    "faster but the factors change from run to run)",
    int,
    0,
)

_SPECS: dict[str, dict[str, _Spec]] = {
    "als": {
        "factors": _Spec(32, "latent factors (embedding size)", int, 1),
        "regularization": _Spec(1.0, "L2 penalty on the factors", float, 0.0),
        "alpha": _Spec(
            2.0,
            "confidence weight: observed cells get confidence alpha * value",
            float,
            positive=True,
        ),
        "iterations": _Spec(15, "ALS sweeps over users and items", int, 1),
        "num_threads": _THREADS,
    },
    "bpr": {
        "factors": _Spec(64, "latent factors (an item-bias column is added)", int, 1),
        "learning_rate": _Spec(0.05, "SGD step size", float, positive=True),
        "regularization": _Spec(0.01, "L2 penalty on the factors", float, 0.0),
        "iterations": _Spec(100, "SGD epochs over the interactions", int, 1),
        "verify_negative_samples": _Spec(
            True, "resample negatives the user actually interacted with", bool
        ),
        "num_threads": _SGD_THREADS,
    },
    "lmf": {
        "factors": _Spec(30, "latent factors (bias columns are added)", int, 1),
        "learning_rate": _Spec(1.0, "AdaGrad step size", float, positive=True),
        "regularization": _Spec(0.6, "L2 penalty on the factors", float, 0.0),
        "iterations": _Spec(30, "training epochs", int, 1),
        "neg_prop": _Spec(30, "negative samples per positive interaction", int, 1),
        "num_threads": _SGD_THREADS,
    },
    "itemknn": {
        "similarity": _Spec("cosine", "item-item similarity", str, choices=("cosine", "bm25")),
        "K": _Spec(100, "neighbours kept per item", int, 1),
        "K1": _Spec(1.2, "BM25 term-saturation K1 (bm25 only)", float, 0.0),
        "B": _Spec(0.75, "BM25 length normalisation B (bm25 only)", float, 0.0, maximum=1.0),
        "num_threads": _THREADS,
    },
    "pop": {},
    "sasrec": {
        "factors": _Spec(64, "hidden size: item and position embedding width", int, 1),
        "blocks": _Spec(2, "self-attention blocks", int, 1),
        "heads": _Spec(1, "attention heads (must divide factors)", int, 1),
        "max_len": _Spec(50, "longest history used: each user's last max_len items", int, 2),
        "dropout": _Spec(0.2, "dropout rate on embeddings, attention and feed-forward", float,
                         0.0, maximum=0.9),
        "learning_rate": _Spec(0.005, "Adam step size", float, positive=True),
        "batch_size": _Spec(32, "users per training step", int, 1),
        "epochs": _Spec(20, "passes over the users' sequences", int, 1),
        "num_threads": _Spec(
            1,
            "CPU threads for torch (1 = the same bytes on any machine for a seed; 0 = all "
            "cores, faster, sums may round differently)",
            int,
            0,
        ),
    },
}

#: model name -> {parameter: default}; the resolved ``params`` of a model start from these.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    model: {p: s.default for p, s in specs.items()} for model, specs in _SPECS.items()
}


@dataclass(frozen=True)
class ParamInfo:
    """One hyperparameter, as shown by the CLI (``--help``) and the app.

    Attributes:
        name: keyword accepted by :func:`make_recommender`.
        default: default value (JSON-able).
        help: one-line description.
        choices: allowed values for a categorical parameter, else empty.
    """

    name: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()


def check_model_name(name: str) -> str:
    """Return ``name`` normalised to lower case, or raise for an unknown model."""
    key = str(name).strip().lower()
    if key not in _SPECS:
        raise AnalysisError(UNKNOWN_MODEL.format(name=name, valid=", ".join(MODEL_NAMES)))
    return key


def describe_params(name: str) -> list[ParamInfo]:
    """Hyperparameters of model ``name`` with default and one-line help.

    Args:
        name: one of ``"als"``, ``"bpr"``, ``"lmf"``, ``"itemknn"``, ``"pop"``, ``"sasrec"``.

    Returns:
        One :class:`ParamInfo` per parameter, in a stable order (empty for ``"pop"``).

    Raises:
        AnalysisError: unknown model name.
    """
    key = check_model_name(name)
    return [ParamInfo(p, s.default, s.help, s.choices) for p, s in _SPECS[key].items()]


def _coerce(name: str, param: str, spec: _Spec, value: Any) -> Any:
    bad = AnalysisError(
        BAD_PARAM.format(param=param, name=name, expected=spec.expected(), value=value)
    )
    if spec.kind is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise bad
    if spec.kind is str:
        out = str(value).strip().lower() if isinstance(value, str) else None
        if out not in spec.choices:
            raise bad
        return out
    if isinstance(value, (bool, np.bool_)):
        raise bad
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise bad from None
    if not np.isfinite(number):
        raise bad
    if spec.kind is int:
        if number != int(number):
            raise bad
        out = int(number)
    else:
        out = number
    if spec.positive and out <= 0:
        raise bad
    if spec.minimum is not None and out < spec.minimum:
        raise bad
    if spec.maximum is not None and out > spec.maximum:
        raise bad
    return out


def resolve_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Defaults of ``name`` overridden by ``params``, validated and JSON-able.

    Numbers given as strings (``"64"``, ``"0.05"``) are accepted, as a CLI passes them.

    Raises:
        AnalysisError: unknown model, unknown parameter, or a value of the wrong type/range.
    """
    key = check_model_name(name)
    specs = _SPECS[key]
    unknown = [p for p in params if p not in specs]
    if unknown:
        valid = ", ".join(specs) if specs else "(none)"
        raise AnalysisError(UNKNOWN_PARAM.format(param=unknown[0], name=key, valid=valid))
    out = dict(DEFAULT_PARAMS[key])
    for param, value in params.items():
        out[param] = _coerce(key, param, specs[param], value)
    return out
