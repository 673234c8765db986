"""Column roles for ingest: the explicit :class:`ColumnMapping` and its auto-detection.

A headerless file's generic columns (``column0``, ``column1``, ...) are taken by position:
user, item, rating, timestamp, as MovieLens and most logs lay them out. Otherwise detection
compares header names case-insensitively, ignoring ``_``, ``-``, spaces and dots
(``User ID`` = ``user_id`` = ``userId``), against synonym lists tried in order, so the first
listed synonym wins when a file has several candidates (a warning then names the others).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._sniff import is_generic

ValueKind = Literal["auto", "explicit", "count", "implicit"]
VALUE_KINDS = ("auto", "explicit", "count", "implicit")

USER_SYNONYMS = (
    "user_id", "userid", "user", "uid", "customer_id", "customer", "reviewerID", "reviewer_id",
    "member_id", "visitor_id", "client_id", "account_id", "person_id", "profile_id", "u",
)  # fmt: skip
ITEM_SYNONYMS = (
    "item_id", "itemid", "item", "iid", "movie_id", "movieId", "movie", "product_id", "product",
    "asin", "track_id", "track", "song_id", "song", "book_id", "isbn", "article_id",
    "business_id", "recipe_id", "anime_id", "artist_id", "video_id", "content_id", "sku", "i",
)  # fmt: skip
RATING_SYNONYMS = (
    "rating", "ratings", "score", "stars", "star_rating", "overall", "rate", "rating_value",
    "grade", "review_score", "r",
)  # fmt: skip
COUNT_SYNONYMS = (
    "count", "counts", "plays", "play_count", "playcount", "clicks", "click_count", "quantity",
    "qty", "views", "view_count", "listens", "listen_count", "purchases", "frequency", "freq",
    "n_interactions", "weight",
)  # fmt: skip
TIMESTAMP_SYNONYMS = (
    "timestamp", "ts", "time", "unixReviewTime", "unix_time", "datetime", "date", "date_time",
    "event_time", "created_at", "rated_at", "time_stamp", "t",
)  # fmt: skip
ID_SYNONYMS = ("id",)
TITLE_SYNONYMS = (
    "title", "name", "movie_title", "product_title", "product_name", "item_name", "track_name",
    "book_title", "item_title",
)  # fmt: skip
GENRE_SYNONYMS = ("genres", "genre", "categories", "category", "tags", "tag")
#: the scenario (surface, domain, category) an interaction happened in; detected only among
#: the columns no other role took, never by position; ``page``, ``context`` or ``market``
#: are too often something else (a page number, a free-text context) to be guessed: map them
SCENARIO_SYNONYMS = (
    "scenario", "scenario_name", "scenario_id", "domain", "surface", "category", "channel",
    "placement",
)  # fmt: skip

_ROLES = {
    "user": (USER_SYNONYMS, "--user-col"),
    "item": (ITEM_SYNONYMS, "--item-col"),
    "rating": (RATING_SYNONYMS, "--rating-col"),
    "timestamp": (TIMESTAMP_SYNONYMS, "--timestamp-col"),
}

# what to do is said per surface: the Data page's column pickers, or the CLI's flags
_PICKERS = "the column pickers (User id, Item id, Rating / count, Timestamp) on the Data page"
MISSING_COLUMN = surface_hints(
    "{file}: no {role} column found (columns: {found}).",
    app=f"Pick the {{role}} column in {_PICKERS}.",
    cli="Name it with --{role}-col NAME.",
)
MAPPED_COLUMN_ABSENT = surface_hints(
    "{file}: the mapped {role} column {column!r} is not in the file (columns: {found}).",
    app=f"Pick one of its columns as the {{role}} column in {_PICKERS}.",
    cli="Name one of its columns with --{role}-col NAME.",
)
SAME_COLUMN = (
    "{file}: column {column!r} is mapped to both {role_a} and {role_b}; map each role to its "
    "own column."
)
NO_VALUE_COLUMN = surface_hints(
    "{file}: {kind!r} feedback needs a rating or count column but none was found "
    "(columns: {found}).",
    app="Pick it under Rating / count on the Data page, or choose implicit Feedback.",
    cli="Name it with --rating-col NAME, or pass --value-kind implicit.",
)
BAD_VALUE_KIND = "Unknown value_kind {kind!r}; use one of auto, explicit, count, implicit."
BY_POSITION = "{file}: no header line; columns read by position as {roles} (map them to override)"
AMBIGUOUS = (
    "{file}: several {role} column candidates {cands}; using {chosen!r} (map it to override)"
)


@dataclass(frozen=True)
class ColumnMapping:
    """Which input column plays which role; ``None`` fields are auto-detected.

    Attributes:
        user: user id column.
        item: item id column.
        rating: the value column: a rating (explicit) or a count (plays, clicks).
        timestamp: Unix seconds / milliseconds, or date/datetime strings.
        value_kind: ``"explicit"`` (ratings), ``"count"``, ``"implicit"`` (ignore any value
            column), or ``"auto"`` (rating synonyms -> explicit, count synonyms -> count,
            none -> implicit).
        scenario: the scenario (surface, domain, category) each interaction happened in;
            ``None`` detects it by :data:`SCENARIO_SYNONYMS` among the columns the other roles
            left, ``""`` means no scenario column. After resolution ``None`` means none.
    """

    user: str | None = None
    item: str | None = None
    rating: str | None = None
    timestamp: str | None = None
    value_kind: ValueKind = "auto"
    scenario: str | None = None


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def find_column(columns: list[str], synonyms: tuple[str, ...]) -> list[str]:
    """Columns matching ``synonyms``, best synonym first."""
    by_norm: dict[str, list[str]] = {}
    for c in columns:
        by_norm.setdefault(_norm(c), []).append(c)
    out: list[str] = []
    for s in synonyms:
        for c in by_norm.get(_norm(s), []):
            if c not in out:
                out.append(c)
    return out


def _lookup(columns: list[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    lowered = [c for c in columns if c.lower() == wanted.lower()]
    return lowered[0] if len(lowered) == 1 else None


def _by_position(
    columns: list[str], mapping: ColumnMapping, label: str, warnings: list[str]
) -> ColumnMapping:
    """``mapping`` with its unmapped roles given the free columns in order: user, item,
    rating (unless implicit), timestamp."""
    roles = [r for r in _ROLES if not (r == "rating" and mapping.value_kind == "implicit")]
    taken = {getattr(mapping, r) for r in _ROLES} - {None}
    free = iter(c for c in columns if c not in taken)
    filled = {r: next(free, None) for r in roles if getattr(mapping, r) is None}
    filled = {r: c for r, c in filled.items() if c is not None}
    if filled:
        roles_text = ", ".join(f"{c} = {r}" for r, c in filled.items())
        warnings.append(BY_POSITION.format(file=label, roles=roles_text))
    return replace(mapping, **filled)


def resolve_mapping(
    columns: list[str], mapping: ColumnMapping, label: str
) -> tuple[ColumnMapping, tuple[str, ...]]:
    """Fill the ``None`` fields of ``mapping`` from the column names.

    Args:
        columns: the input's column names.
        mapping: the explicit part (names matched exactly, else case-insensitively).
        label: file name for messages.

    Returns:
        The resolved mapping (``value_kind`` never ``"auto"``; ``rating`` is ``None`` for
        implicit feedback) and warnings.

    Raises:
        AnalysisError: a mapped column is absent, user or item cannot be found, one column
            has two roles, or ``value_kind`` needs a value column that is not there.
    """
    if mapping.value_kind not in VALUE_KINDS:
        raise AnalysisError(BAD_VALUE_KIND.format(kind=mapping.value_kind))
    found = ", ".join(repr(c) for c in columns) or "none"
    warnings: list[str] = []
    if is_generic(columns):
        mapping = _by_position(columns, mapping, label, warnings)
    chosen: dict[str, str | None] = {}
    for role, (syns, flag) in _ROLES.items():
        wanted = getattr(mapping, role)
        if wanted is not None:
            col = _lookup(columns, wanted)
            if col is None:
                raise AnalysisError(
                    MAPPED_COLUMN_ABSENT.format(
                        file=label, role=role, column=wanted, found=found, flag=flag
                    )
                )
            chosen[role] = col
            continue
        taken = {c for c in chosen.values() if c is not None}
        cands = [c for c in find_column(columns, syns) if c not in taken]
        if role == "rating" and not cands and mapping.value_kind != "implicit":
            cands = [c for c in find_column(columns, COUNT_SYNONYMS) if c not in taken]
            if cands and mapping.value_kind == "auto":
                chosen["_count"] = cands[0]
        if len(cands) > 1:
            warnings.append(AMBIGUOUS.format(file=label, role=role, cands=cands, chosen=cands[0]))
        chosen[role] = cands[0] if cands else None
        if chosen[role] is None and role in ("user", "item"):
            raise AnalysisError(
                MISSING_COLUMN.format(file=label, role=role, found=found, flag=flag)
            )
    chosen["scenario"] = _scenario_column(columns, mapping, chosen, label, found, warnings)
    roles = [r for r in (*_ROLES, "scenario") if chosen.get(r) is not None]
    for a_pos, a in enumerate(roles):
        for b in roles[a_pos + 1 :]:
            if chosen[a] == chosen[b]:
                raise AnalysisError(
                    SAME_COLUMN.format(file=label, column=chosen[a], role_a=a, role_b=b)
                )
    kind = mapping.value_kind
    if kind == "auto":
        if chosen["rating"] is None:
            kind = "implicit"
        elif mapping.rating is None and chosen.get("_count") == chosen["rating"] or mapping.rating is not None and find_column([chosen["rating"]], COUNT_SYNONYMS):
            kind = "count"
        else:
            kind = "explicit"
    if kind in ("explicit", "count") and chosen["rating"] is None:
        raise AnalysisError(NO_VALUE_COLUMN.format(file=label, kind=kind, found=found))
    resolved = replace(
        mapping,
        user=chosen["user"],
        item=chosen["item"],
        rating=None if kind == "implicit" else chosen["rating"],
        timestamp=chosen["timestamp"],
        value_kind=kind,
        scenario=chosen["scenario"],
    )
    return resolved, tuple(warnings)


def _scenario_column(
    columns: list[str],
    mapping: ColumnMapping,
    chosen: dict[str, str | None],
    label: str,
    found: str,
    warnings: list[str],
) -> str | None:
    """The scenario column: the mapped one, none for ``""``, else the first free column
    matching :data:`SCENARIO_SYNONYMS` (never one another role took, even by position).

    Raises:
        AnalysisError: the mapped column is absent (:data:`MAPPED_COLUMN_ABSENT`).
    """
    if mapping.scenario == "":
        return None
    if mapping.scenario is not None:
        col = _lookup(columns, mapping.scenario)
        if col is None:
            raise AnalysisError(
                MAPPED_COLUMN_ABSENT.format(
                    file=label, role="scenario", column=mapping.scenario, found=found,
                    flag="--scenario-col",
                )
            )  # fmt: skip
        return col
    taken = {c for c in chosen.values() if c is not None}
    cands = [c for c in find_column(columns, SCENARIO_SYNONYMS) if c not in taken]
    if len(cands) > 1:
        warnings.append(AMBIGUOUS.format(file=label, role="scenario", cands=cands, chosen=cands[0]))
    return cands[0] if cands else None
