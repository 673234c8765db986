"""A fitted baseline on disk: ``save_model`` / ``load_model``, so a run is never refitted.

The file is an ``.npz`` archive (numpy's own format, read with ``np.load``; no pickle): one
``.npy`` entry per fitted array (factors, item-item similarity as CSR parts, item counts)
plus ``meta.npy``, a JSON string with the model's name, parameters (seed included), fitted
shape and device. Entries are written in name order with a fixed zip date, so the same
fitted model gives the same bytes.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from analysis.display import without_paths
from analysis.errors import AnalysisError, surface_hints

from ._base import NOT_FITTED, BaselineRecommender

__all__ = ["BAD_MODEL_FILE", "MODEL_FORMAT", "load_model", "save_model"]

#: version of the stored layout (``meta["format"]``)
MODEL_FORMAT = 1

BAD_MODEL_FILE = surface_hints(
    "{file} is not a readable stored baseline ({detail}).",
    app="Train the baseline again on the Baseline page.",
    cli="Run evaluate again to write the run again.",
)

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the zip epoch: no wall-clock time in the file


def save_model(model: BaselineRecommender, path: str | Path) -> Path:
    """Write a fitted baseline to ``path`` (an ``.npz`` archive).

    Args:
        model: a fitted baseline from :func:`models.baselines.make_recommender`.
        path: the file to write (replaced if present).

    Returns:
        The path written.

    Raises:
        AnalysisError: the model is not fitted.
    """
    if not model.is_fitted:
        raise AnalysisError(NOT_FITTED.format(name=model.name))
    meta = {
        "format": MODEL_FORMAT,
        "name": model.name,
        "params": model.params,
        "shape": [int(model.n_users), int(model.n_items)],
        "device": model.device,
    }
    arrays = {"meta": np.array(json.dumps(meta, sort_keys=True))}
    arrays.update({k: np.ascontiguousarray(v) for k, v in model._state().items()})
    out = Path(path)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arrays[name], allow_pickle=False)
    return out


def load_model(path: str | Path) -> BaselineRecommender:
    """Read a baseline written by :func:`save_model`, fitted, without refitting it.

    The model scores exactly as the one saved (the same arrays, the same arithmetic). It is
    rebuilt with ``use_gpu=False``: everything after ``fit`` runs on the CPU anyway.

    Raises:
        AnalysisError: the file is missing, not such an archive, or of another format;
            message :data:`BAD_MODEL_FILE`.
    """
    from . import make_recommender  # the factory lives in the package's __init__

    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        meta = json.loads(str(arrays.pop("meta")))
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {MODEL_FORMAT}")
        params = dict(meta["params"])
        seed = int(params.pop("seed"))
        model = make_recommender(meta["name"], seed=seed, use_gpu=False, **params)
        model._shape = (int(meta["shape"][0]), int(meta["shape"][1]))
        model._restore(arrays)
        model.device = meta.get("device")
    except AnalysisError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        file = f"{p.parent.name}/{p.name}" if p.parent.name else p.name
        detail = without_paths(str(exc))
        raise AnalysisError(BAD_MODEL_FILE.format(file=file, detail=detail)) from exc
    return model
