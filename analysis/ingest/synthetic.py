"""A synthetic interaction log with planted weak users: the zero-setup demo dataset.

:func:`generate_synthetic` draws a MovieLens-like log whose structure is known, so that every
later step (baseline, per-user metrics, subgroups, weak users) has something real to find:

* **Items** have Zipf-like popularity (``weight(rank) = rank ** -zipf_exponent``), one to three
  genres, and a readable, unique title built from per-genre word lists ("The Silent Harbor";
  repeats become sequels: "Neon Heist 2").
* **Users** have ``age_band``, ``gender`` and ``country`` with skewed shares, and a heavy-tailed
  (lognormal) number of interactions with a floor of ``min_interactions``, so most users are
  light and a few are very heavy.
* **Mainstream taste** (a low-rank model): each user likes up to three genres with Dirichlet
  weights; an interaction picks a liked genre, then an item of that genre with probability
  proportional to its popularity (a share ``background_share`` is drawn from global popularity).
  Collaborative filtering learns this well.
* **Niche taste** (the planted weak users, ``niche_share`` of users): most choices fall in the
  long tail (items outside the ``head_share`` most popular), half from a small cluster of tail
  items shared by only ~``niche_cluster_users`` users, half uniformly at random from the tail,
  so the structure is weakly shared and idiosyncratic. ALS serves these users far worse. The
  niche group is over-represented in one country (``"BR"``) and age band (``"18-24"``), but not
  exclusively, so subgroup analysis has a signal to find.
* **Ratings** are 1-5 (stored as float32), higher for items matching the user's taste (about
  55% are >= 4). **Timestamps** are Unix seconds: each user is active in a window inside a
  two-year span, and their interactions are spread over it.
* No (user, item) pair repeats. Users and items get ids ``1..n``.
* **Scenarios** (optional, ``n_scenarios > 0``): surfaces such as ``home``, ``search``,
  ``email`` over one shared catalogue; a share of users is active in several, and one
  (``hard_scenario``) follows a popularity-free taste unrelated to the user's taste elsewhere,
  so a shared model serves it worse: see :mod:`analysis.ingest._synth_scenarios`. Without
  scenarios the log is byte-identical to what the same seed gave before they existed.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed``, with whole-array
operations only (no loop per user or item), so the same seed gives identical frames and 1M
users x 20M interactions take well under a minute.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._synth_catalog import GENRES, Catalog, draw_catalog, genre_log_weights
from analysis.ingest._synth_log import TasteModel, draw_pairs, draw_ratings, draw_timestamps
from analysis.ingest._synth_scenarios import SCENARIO_NAMES, PlantedScenarios, plant_scenarios
from analysis.ingest._synth_users import (
    AGE_BANDS,
    COUNTRIES,
    NICHE_AGE,
    NICHE_COUNTRY,
    Attributes,
    draw_activity,
    draw_attributes,
    draw_niche_clusters,
    draw_niche_group,
    draw_tastes,
)

__all__ = [
    "AGE_BANDS",
    "COUNTRIES",
    "GENRES",
    "SCENARIO_NAMES",
    "PlantedScenarios",
    "SyntheticData",
    "generate_synthetic",
    "write_synthetic",
]

# --- user-facing messages -------------------------------------------------------------------
BAD_PARAM = "Synthetic data: {name} must be {rule}, got {value!r}; pick a value in that range."
OUT_IS_FILE = surface_hints(
    "Synthetic data: the output folder {name!r} is an existing file.",
    cli="Give a folder path to --out (it is created if missing).",
)
OUT_NOT_WRITABLE = surface_hints(
    "Synthetic data: cannot write to the folder {name!r} ({reason}).",
    cli="Give another folder to --out.",
)


@dataclass(frozen=True)
class SyntheticData:
    """A generated log with its side tables and the planted ground truth.

    Attributes:
        interactions: one row per (user, item), sorted by ``user_id`` then ``timestamp``;
            columns ``user_id`` (int64), ``item_id`` (int64), ``rating`` (float32, 1-5),
            ``timestamp`` (int64, Unix seconds), and ``scenario`` (str) with scenarios.
        users: one row per user; ``user_id`` (int64), ``age_band``, ``gender``, ``country`` (str).
        items: one row per item; ``item_id`` (int64), ``title`` (str, unique), ``genres``
            (str, ``|``-separated).
        niche_user_ids: sorted int64 ids of the planted niche users (ground truth; deliberately
            not a column of ``users``).
        params: the generator's parameters and a few realised statistics, JSON-able.
        scenarios: the planted scenarios (ground truth), None without scenarios.
    """

    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    niche_user_ids: np.ndarray
    params: dict = field(default_factory=dict)
    scenarios: PlantedScenarios | None = None

    def to_dataset(self, name: str = "synthetic") -> Dataset:
        """The log as a :class:`~analysis.dataset.Dataset` (ingested by the same rules as a
        file, :func:`analysis.ingest.dataset_from_frames`), the ground truth in
        ``meta["planted"]``: ``niche_user_ids`` (raw ids), and with scenarios
        ``hard_scenario`` (name), ``scenario_names``, ``active`` (``(n_users, S)`` bool by
        user_idx, which scenarios each user is active in) and ``cross_scenario_user_ids``."""
        from analysis.ingest._ingest import dataset_from_frames

        ds = dataset_from_frames(self.interactions, self.users, self.items, name=name)
        planted: dict = {"niche_user_ids": self.niche_user_ids}
        sc = self.scenarios
        if sc is not None:
            pos = np.searchsorted(self.users["user_id"].to_numpy(), ds.user_ids)
            active = sc.active[pos]
            planted.update(
                hard_scenario=sc.names[sc.hard],
                scenario_names=sc.names,
                active=active,
                cross_scenario_user_ids=ds.user_ids[active.sum(axis=1) > 1],
            )
        return replace(ds, meta={**ds.meta, "planted": planted})


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        raise AnalysisError(BAD_PARAM.format(name=name, rule=rule, value=value))


def _checked_params(
    n_users, n_items, seed, mean_interactions, niche_share, zipf_exponent, n_genres,
    min_interactions, activity_sigma, background_share, head_share, niche_cluster_users,
    niche_cluster_items, niche_mainstream_share,
) -> dict:  # fmt: skip
    """The generator's parameters as a JSON-able dict, each checked against its range.

    Raises:
        AnalysisError: a parameter out of range (:data:`BAD_PARAM`).
    """
    _check(isinstance(n_users, (int, np.integer)) and n_users >= 1, "n_users", "an integer >= 1",
           n_users)
    _check(isinstance(n_items, (int, np.integer)) and n_items >= 10, "n_items",
           "an integer >= 10", n_items)
    _check(1 <= min_interactions, "min_interactions", ">= 1", min_interactions)
    _check(math.isfinite(mean_interactions) and mean_interactions >= min_interactions,
           "mean_interactions", f">= min_interactions ({min_interactions})", mean_interactions)
    _check(0 <= niche_share < 1, "niche_share", "in [0, 1)", niche_share)
    _check(zipf_exponent >= 0, "zipf_exponent", ">= 0", zipf_exponent)
    _check(2 <= n_genres <= len(GENRES), "n_genres", f"between 2 and {len(GENRES)}", n_genres)
    _check(activity_sigma >= 0, "activity_sigma", ">= 0", activity_sigma)
    for name, v in (("background_share", background_share), ("head_share", head_share),
                    ("niche_mainstream_share", niche_mainstream_share)):
        _check(0 <= v < 1, name, "in [0, 1)", v)
    _check(niche_cluster_users >= 1, "niche_cluster_users", ">= 1", niche_cluster_users)
    _check(niche_cluster_items >= 1, "niche_cluster_items", ">= 1", niche_cluster_items)
    return {
        "n_users": int(n_users), "n_items": int(n_items), "seed": int(seed),
        "mean_interactions": float(mean_interactions), "niche_share": float(niche_share),
        "zipf_exponent": float(zipf_exponent), "n_genres": int(n_genres),
        "min_interactions": int(min_interactions), "activity_sigma": float(activity_sigma),
        "background_share": float(background_share), "head_share": float(head_share),
        "niche_cluster_users": int(niche_cluster_users),
        "niche_cluster_items": int(niche_cluster_items),
        "niche_mainstream_share": float(niche_mainstream_share),
    }  # fmt: skip


def generate_synthetic(
    n_users: int = 5000,
    n_items: int = 2000,
    *,
    seed: int = 0,
    mean_interactions: float = 20.0,
    niche_share: float = 0.1,
    zipf_exponent: float = 1.0,
    n_genres: int = 16,
    min_interactions: int = 3,
    activity_sigma: float = 1.1,
    background_share: float = 0.05,
    head_share: float = 0.2,
    niche_cluster_users: int = 10,
    niche_cluster_items: int = 40,
    niche_mainstream_share: float = 0.25,
    n_scenarios: int = 0,
    hard_scenario: str | None = None,
    cross_scenario_share: float = 0.4,
    hard_noise: float = 0.5,
) -> SyntheticData:
    """Draw a synthetic log with planted mainstream and niche users (see module docstring).

    The steps, in the order they draw from the one generator: the catalogue (popularity,
    genres, titles), the niche group, the users' attributes, their tastes, the niche
    clusters, the activity, a rating bias per user, the (user, item) pairs, the ratings and
    the timestamps.

    Args:
        n_users: number of users (ids ``1..n_users``).
        n_items: number of items (ids ``1..n_items``), at least 10.
        seed: seed of the single random generator; same seed -> identical frames.
        mean_interactions: target mean interactions per user (>= ``min_interactions``).
            Picks that repeat a (user, item) pair are redrawn (four rounds from the user's
            taste, then up to six uniform rounds), so the realised mean is at most slightly
            lower; a user never asks for more than ``max(min_interactions, n_items // 3)``.
        niche_share: share of users with niche taste, in [0, 1).
        zipf_exponent: popularity exponent ``a`` in ``weight(rank) = rank ** -a`` (>= 0).
        n_genres: number of genres used, 2..18.
        min_interactions: floor of the per-user count (>= 1).
        activity_sigma: sigma of the lognormal activity (larger: heavier tail).
        background_share: share of a mainstream user's picks drawn from global popularity.
        head_share: share of most popular items that niche users' tail picks avoid.
        niche_cluster_users: about how many niche users share one cluster of tail items.
        niche_cluster_items: items per niche cluster.
        niche_mainstream_share: share of a niche user's picks that follow the mainstream model.
        n_scenarios: scenarios to plant, 0 (none) to 8: the first of :data:`SCENARIO_NAMES`.
        hard_scenario: the scenario planted hard for a shared model (default: the last).
        cross_scenario_share: share of users active in several scenarios, in [0, 1].
        hard_noise: share of the hard scenario's picks uniform over the catalogue (the rest
            from the user's hard cluster), in [0, 1].

    Returns:
        A :class:`SyntheticData`.

    Raises:
        AnalysisError: when a parameter is out of range (message :data:`BAD_PARAM`).
    """
    params = _checked_params(
        n_users, n_items, seed, mean_interactions, niche_share, zipf_exponent, n_genres,
        min_interactions, activity_sigma, background_share, head_share, niche_cluster_users,
        niche_cluster_items, niche_mainstream_share,
    )  # fmt: skip
    n_users, n_items, n_genres = params["n_users"], params["n_items"], params["n_genres"]
    rng = np.random.default_rng(seed)
    genre_logw = genre_log_weights(n_genres)
    catalog = draw_catalog(rng, n_items, n_genres, zipf_exponent, head_share, genre_logw)
    is_niche = draw_niche_group(rng, n_users, niche_share)
    n_niche = int(is_niche.sum())
    attributes = draw_attributes(rng, is_niche)
    tastes = draw_tastes(rng, n_users, genre_logw)
    clusters = draw_niche_clusters(rng, n_users, n_niche, catalog.tail_items,
                                   niche_cluster_users, niche_cluster_items)  # fmt: skip
    want = draw_activity(rng, n_users, n_items, mean_interactions, min_interactions,
                         activity_sigma)  # fmt: skip
    user_bias = rng.normal(0.0, 0.35, n_users)
    model = TasteModel(catalog, tastes, clusters, is_niche, background_share,
                       niche_mainstream_share, niche_cluster_items)  # fmt: skip
    u_idx, i_idx = draw_pairs(rng, model, want, n_items)
    rating = draw_ratings(rng, model, u_idx, i_idx, user_bias, head_share)
    order, ts = draw_timestamps(rng, u_idx, n_users)
    planted = None
    if n_scenarios:
        params["scenarios"] = _scenario_params(n_scenarios, hard_scenario, cross_scenario_share,
                                               hard_noise)  # fmt: skip
        planted = plant_scenarios(
            seed, u_idx[order], i_idx[order], n_users, n_items, int(n_scenarios),
            SCENARIO_NAMES.index(params["scenarios"]["hard_scenario"]),
            float(cross_scenario_share), float(hard_noise), min(n_genres, n_items),
        )  # fmt: skip
        order, ts = order[planted.keep], ts[planted.keep]
    interactions = pd.DataFrame({
        "user_id": u_idx[order] + 1,
        "item_id": (i_idx[order] if planted is None else planted.item_idx) + 1,
        "rating": rating[order],
        "timestamp": ts,
    })
    if planted is not None:
        interactions["scenario"] = pd.array(
            np.asarray(planted.names)[planted.scenario], dtype="str"
        )
        u_idx, rating = u_idx[order], rating[order]
    params["realised"] = {
        "n_interactions": len(u_idx),
        "n_niche_users": n_niche,
        "n_niche_clusters": int(clusters.n_clusters),
        "share_rating_ge_4": float((rating >= 4).mean()) if len(u_idx) else 0.0,
        "niche_over_represented": {"country": NICHE_COUNTRY, "age_band": NICHE_AGE},
    }
    return SyntheticData(
        interactions=interactions,
        users=_users_frame(attributes),
        items=_items_frame(catalog),
        niche_user_ids=(np.nonzero(is_niche)[0] + 1).astype(np.int64),
        params=params,
        scenarios=planted,
    )


def _scenario_params(
    n_scenarios: int, hard_scenario: str | None, cross_share: float, hard_noise: float
) -> dict:
    """The scenario parameters, checked (JSON-able).

    Raises:
        AnalysisError: a parameter out of range (:data:`BAD_PARAM`).
    """
    n_max = len(SCENARIO_NAMES)
    _check(isinstance(n_scenarios, (int, np.integer)) and 0 <= n_scenarios <= n_max,
           "n_scenarios", f"an integer between 0 and {n_max}", n_scenarios)  # fmt: skip
    names = SCENARIO_NAMES[:n_scenarios]
    hard = names[-1] if hard_scenario is None else hard_scenario
    _check(hard in names, "hard_scenario", f"one of {', '.join(names)}", hard_scenario)
    _check(0 <= cross_share <= 1, "cross_scenario_share", "in [0, 1]", cross_share)
    _check(0 <= hard_noise <= 1, "hard_noise", "in [0, 1]", hard_noise)
    return {
        "names": list(names), "hard_scenario": hard,
        "cross_scenario_share": float(cross_share), "hard_noise": float(hard_noise),
    }  # fmt: skip


def _users_frame(attributes: Attributes) -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": np.arange(1, len(attributes.gender) + 1, dtype=np.int64),
        "age_band": pd.array(attributes.age_band, dtype="str"),
        "gender": pd.array(attributes.gender, dtype="str"),
        "country": pd.array(attributes.country, dtype="str"),
    })


def _items_frame(catalog: Catalog) -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": np.arange(1, len(catalog.titles) + 1, dtype=np.int64),
        "title": pd.array(catalog.titles, dtype="str"),
        "genres": pd.array(catalog.genres, dtype="str"),
    })


_README = (
    "Synthetic recommender log generated by weakspot (analysis/ingest/synthetic.py). interactions.parquet: "
    "user_id, item_id, rating (1-5), timestamp (Unix s). users.parquet: user_id, age_band, "
    "gender, country. items.parquet: item_id, title, genres ('|'-separated). planted.parquet: "
    "user_id, is_niche (the planted weak users; ground truth, not an input attribute)."
)


_SCENARIO_README = (
    " interactions.parquet also has a scenario column (home, search, ...); params.scenarios "
    "names the hard scenario planted for a shared model (ground truth)."
)


def write_synthetic(data: SyntheticData, out: str | Path) -> dict[str, Path]:
    """Write the frames as Parquet plus ``params.json`` into folder ``out`` (created if needed).

    Existing files of the same names are overwritten.

    Args:
        data: output of :func:`generate_synthetic`.
        out: destination folder.

    Returns:
        ``{"interactions", "users", "items", "planted", "params"}`` -> written path.

    Raises:
        AnalysisError: ``out`` is an existing file, or the folder cannot be written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AnalysisError(OUT_IS_FILE.format(name=out.name))
    planted = pd.DataFrame({
        "user_id": data.users["user_id"].to_numpy(dtype=np.int64),
        "is_niche": np.isin(data.users["user_id"].to_numpy(), data.niche_user_ids),
    })
    paths = {name: out / f"{name}.parquet" for name in ("interactions", "users", "items",
                                                        "planted")}
    paths["params"] = out / "params.json"
    try:
        out.mkdir(parents=True, exist_ok=True)
        data.interactions.to_parquet(paths["interactions"], index=False)
        data.users.to_parquet(paths["users"], index=False)
        data.items.to_parquet(paths["items"], index=False)
        planted.to_parquet(paths["planted"], index=False)
        readme = _README + (_SCENARIO_README if data.scenarios else "")
        paths["params"].write_text(
            json.dumps({"readme": readme, "params": data.params}, indent=2) + "\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise AnalysisError(
            OUT_NOT_WRITABLE.format(name=out.name, reason=exc.strerror or exc)
        ) from exc
    return paths
