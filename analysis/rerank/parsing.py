"""Turn an LLM's answer into a complete ranking of the shown candidates. Never trust it.

The answer is read by three parsers, each producing a sequence of mentions (a shown position,
or a hallucination):

* ``"identifiers"``: bracketed identifiers anywhere (``[3] > [1] > [7]``); if there are none,
  chains of bare numbers joined by ``>``, ``,`` or arrows (``3 > 1 > 7``, ``3, 1, 7``).
* ``"json"``: the first JSON array in the text (or the first array inside a JSON object):
  numbers are identifiers; strings are identifiers (``"3"``, ``"[3]"``) or titles; objects
  give their ``id``/``identifier``/``number`` (an identifier) or ``title``/``name``/``item``.
* lines (``"numbered"``, ``"titles"`` or ``"identifiers"``): one mention per line, after
  removing markdown emphasis and bullets. A line ``N. rest`` / ``N) rest`` is a numbered
  list item: when ``rest`` is an identifier (``[4]``, ``4``, ``item 4``) or a title, that
  decides and ``N`` is the RANK; only a line with nothing after the number (``4.``) uses
  ``N`` as the identifier (and only when no list item has content: otherwise a bare
  ``N.`` is a rank cut off by truncation and is ignored). ``:`` is not a list marker, so
  ``2001: A Space Odyssey`` is a title. A line that is only a number (``4``, ``#4``,
  ``item 4``) is an identifier; any other line is a title. Unresolved lines count as
  hallucinations when they carry a list marker or sit between two resolved lines; preamble
  and trailing explanation are ignored.

Titles are matched against the shown texts by
:class:`~analysis.rerank.title_match.TitleMatcher`: exact, then normalized, then fuzzy
(ratio >= ``fuzzy_cutoff``), an unused candidate preferred among equally good matches.

The parser with the most distinct valid mentions wins (ties: fewer hallucinations, then the
order above). Identifiers outside ``1..C`` and unmatched titles are hallucinations; a valid
candidate mentioned again is a duplicate; candidates never mentioned are missing and are
appended in baseline order. With no valid mention at all the baseline order is returned
(``used=False``, ``method="none"``). Parsing only knows the shown list, never held-out items.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from analysis.errors import AnalysisError
from analysis.rerank.title_match import TitleMatcher, normalize_title

__all__ = ["ParseResult", "normalize_title", "parse_ranking"]

BASELINE_MISMATCH = (
    "baseline_rank has {n_rank} entries for {n_shown} shown candidates; pass the baseline "
    "position of every shown candidate (CandidateSet.baseline_rank row)."
)
BAD_CUTOFF = "fuzzy_cutoff must be in (0, 1], got {value!r}; pass e.g. 0.85."

Method = Literal["identifiers", "numbered", "json", "titles", "none"]


@dataclass(frozen=True)
class ParseResult:
    """The ranking read from one answer.

    Attributes:
        order: int64 (C_valid,) a complete permutation of shown positions ``0..C_valid-1``:
            the LLM's ranking (first mention of each valid candidate), then the candidates
            it missed in baseline order.
        n_valid: distinct valid candidates the answer ranked.
        n_hallucinated: mentions of identifiers outside ``1..C`` or titles matching nothing.
        n_duplicate: repeated mentions of a candidate already ranked.
        n_missing: candidates never mentioned (``C_valid - n_valid``).
        used: False when nothing valid was parsed; ``order`` is then the baseline order.
        method: ``"identifiers"``, ``"numbered"``, ``"json"``, ``"titles"`` or ``"none"``.
    """

    order: np.ndarray
    n_valid: int
    n_hallucinated: int
    n_duplicate: int
    n_missing: int
    used: bool
    method: str


# --- mentions -> result ----------------------------------------------------------------------
_HALLUCINATED = -1


class _Collector:
    """Accumulate mentions in answer order."""

    def __init__(self, n_shown: int) -> None:
        self.n_shown = n_shown
        self.order: list[int] = []
        self.used: set[int] = set()
        self.n_hallucinated = 0
        self.n_duplicate = 0

    def add(self, pos: int | None) -> None:
        if pos is None or pos < 0 or pos >= self.n_shown:
            self.n_hallucinated += 1
        elif pos in self.used:
            self.n_duplicate += 1
        else:
            self.used.add(pos)
            self.order.append(pos)

    def add_identifier(self, ident: int) -> None:
        self.add(ident - 1 if 1 <= ident <= self.n_shown else None)

    @property
    def n_valid(self) -> int:
        return len(self.order)


# --- parsers ---------------------------------------------------------------------------------
_BRACKET_ID = re.compile(r"\[\s*(\d{1,6})\s*\]")
_CHAIN = re.compile(r"(?<![\w.])\d{1,6}(?:\s*(?:>>?|,|→|->|=>)\s*\d{1,6}(?![\w.]))+")
_NUMBER = re.compile(r"\d{1,6}")


def _parse_identifiers(text: str, n_shown: int) -> _Collector:
    col = _Collector(n_shown)
    ids = _BRACKET_ID.findall(text)
    if not ids:
        ids = [n for chain in _CHAIN.finditer(text) for n in _NUMBER.findall(chain.group(0))]
    for s in ids:
        col.add_identifier(int(s))
    return col


_IDENT_ONLY = re.compile(
    r"^(?:\[\s*(\d{1,6})\s*\]|(?:item|id|candidate|no\.?)?\s*#?\s*(\d{1,6}))[.)]?$",
    re.IGNORECASE,
)


def _identifier_of(text: str) -> int | None:
    m = _IDENT_ONLY.match(text.strip())
    if m:
        return int(m.group(1) or m.group(2))
    return None


def _resolve_value(value: object, matcher: TitleMatcher, col: _Collector) -> None:
    if isinstance(value, bool) or value is None:
        col.add(None)
    elif isinstance(value, int):
        col.add_identifier(value)
    elif isinstance(value, float):
        col.add_identifier(int(value)) if value.is_integer() else col.add(None)
    elif isinstance(value, str):
        ident = _identifier_of(value)
        if ident is not None:
            col.add_identifier(ident)
        else:
            col.add(matcher.resolve(value, col.used))
    elif isinstance(value, dict):
        low = {str(k).lower(): v for k, v in value.items()}
        for key in ("id", "identifier", "number", "candidate", "item_number"):
            if key in low and not isinstance(low[key], (dict, list)):
                return _resolve_value(low[key], matcher, col)
        for key in ("title", "name", "item", "movie"):
            if key in low and isinstance(low[key], str):
                return _resolve_value(low[key], matcher, col)
        col.add(None)
    else:
        col.add(None)


def _first_json_list(text: str) -> list | None:
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            for v in value.values():
                if isinstance(v, list):
                    return v
    return None


def _parse_json(text: str, matcher: TitleMatcher, n_shown: int) -> _Collector:
    col = _Collector(n_shown)
    values = _first_json_list(text)
    for v in values or []:
        _resolve_value(v, matcher, col)
    return col


_FENCE = re.compile(r"^\s*```")
_EMPHASIS = re.compile(r"\*\*|__|`|~~")
_BULLET = re.compile(r"^(?:[-*•+>]\s+|#{1,6}\s+)")
_NUMBERED = re.compile(r"^(?:#\s*)?(\d{1,6})\s*[.)]\s*(.*)$")


def _read_mention(
    text: str, matcher: TitleMatcher, used: set[int], *, bracket_anywhere: bool
) -> tuple[int | None, int | None]:
    """``(identifier, shown position)`` of one line's mention, at most one of them set: an
    identifier alone (``4``, ``#4``, ``item 4``), a leading ``[4]``, else a title; a title
    that matches nothing falls back to a ``[4]`` anywhere in it when ``bracket_anywhere``."""
    ident = _identifier_of(text)
    if ident is not None:
        return ident, None
    bracket = _BRACKET_ID.match(text)
    if bracket:
        return int(bracket.group(1)), None
    pos = matcher.resolve(text, used)
    if pos is None and bracket_anywhere:
        inside = _BRACKET_ID.search(text)
        return (int(inside.group(1)) if inside else None), None
    return None, pos


def _parse_lines(text: str, matcher: TitleMatcher, n_shown: int) -> tuple[_Collector, str]:
    col = _Collector(n_shown)
    resolved_at: list[int] = []  # line numbers of resolved lines
    unresolved: list[tuple[int, bool]] = []  # (line number, has list marker)
    numbered = titled = False
    lines = text.splitlines()
    # in a list whose items have content, a bare "N." is a rank cut off mid-answer, not an id
    content_list = any(
        (m := _NUMBERED.match(_EMPHASIS.sub("", ln).strip())) and m.group(2).strip()
        for ln in lines
    )
    for lineno, raw in enumerate(lines):
        if _FENCE.match(raw):
            continue
        line = _EMPHASIS.sub("", raw).strip()
        marker = False
        b = _BULLET.match(line)
        if b:
            line, marker = line[b.end():].strip(), True
        if not line:
            continue
        m = _NUMBERED.match(line)
        ident: int | None = None
        pos: int | None = None
        if m:
            rest = m.group(2).strip()
            marker = True
            if rest == "":
                if content_list:
                    continue  # truncated rank marker: ignored
                ident = int(m.group(1))
            else:
                ident, pos = _read_mention(rest, matcher, col.used, bracket_anywhere=True)
            numbered = numbered or ident is not None or pos is not None
        else:
            ident, pos = _read_mention(line, matcher, col.used, bracket_anywhere=False)
        if ident is not None:
            col.add_identifier(ident)
            resolved_at.append(lineno)
        elif pos is not None:
            col.add(pos)
            resolved_at.append(lineno)
            titled = True  # a position comes only from a title
        else:
            unresolved.append((lineno, marker))
    first, last = (resolved_at[0], resolved_at[-1]) if resolved_at else (0, 0)
    col.n_hallucinated += sum(
        1 for lineno, marker in unresolved if marker or first < lineno < last
    )
    method = "numbered" if numbered else ("titles" if titled else "identifiers")
    return col, method


def parse_ranking(
    text: str, shown_texts: Sequence[str], baseline_rank: Sequence[int], *,
    id_style: Literal["number", "bracket"] = "number", fuzzy_cutoff: float = 0.85,
) -> ParseResult:
    """Read a complete ranking of the shown candidates from an LLM answer.

    Args:
        text: the answer (any format of the module docstring; may be empty or truncated).
        shown_texts: the candidates' texts in SHOWN order (identifier ``j + 1`` is
            ``shown_texts[j]``).
        baseline_rank: ``baseline_rank[j]`` = baseline position of the candidate shown at
            ``j`` (a row of ``CandidateSet.shown`` restricted to its valid entries); used to
            append missing candidates and for the fallback.
        id_style: the identifier style of the prompt. Both styles are always accepted (models
            mix them); it is recorded for symmetry with the template.
        fuzzy_cutoff: minimum :class:`difflib.SequenceMatcher` ratio of a fuzzy title match.

    Returns:
        A :class:`ParseResult`; ``order`` always holds every shown position exactly once.

    Raises:
        AnalysisError: ``baseline_rank`` of another length (:data:`BASELINE_MISMATCH`) or a
            cutoff outside (0, 1] (:data:`BAD_CUTOFF`).
    """
    n = len(shown_texts)
    base = np.asarray(baseline_rank, dtype=np.float64).ravel()
    if len(base) != n:
        raise AnalysisError(BASELINE_MISMATCH.format(n_rank=len(base), n_shown=n))
    if not (isinstance(fuzzy_cutoff, (int, float)) and 0 < fuzzy_cutoff <= 1):
        raise AnalysisError(BAD_CUTOFF.format(value=fuzzy_cutoff))
    baseline_order = np.argsort(base, kind="stable").astype(np.int64)
    text = text if isinstance(text, str) else ""
    best: tuple[_Collector, str] | None = None
    if n and text.strip():
        matcher = TitleMatcher(shown_texts, float(fuzzy_cutoff))
        tries = [
            (_parse_json(text, matcher, n), "json"),
            (_parse_identifiers(text, n), "identifiers"),
            _parse_lines(text, matcher, n),
        ]
        # most valid, then fewest hallucinated, then this order; with nothing valid, the
        # reading that saw the most mentions (so the counts show what went wrong)
        if max(col.n_valid for col, _ in tries) > 0:
            best = max(tries, key=lambda t: (t[0].n_valid, -t[0].n_hallucinated))
        else:
            best = max(tries, key=lambda t: t[0].n_hallucinated + t[0].n_duplicate)
    if best is None or best[0].n_valid == 0:
        col = best[0] if best is not None else _Collector(n)
        return ParseResult(
            order=baseline_order, n_valid=0, n_hallucinated=col.n_hallucinated,
            n_duplicate=col.n_duplicate, n_missing=n, used=False, method="none",
        )
    col, method = best
    ranked = np.asarray(col.order, dtype=np.int64)
    missing = baseline_order[~np.isin(baseline_order, ranked)]
    return ParseResult(
        order=np.concatenate([ranked, missing]),
        n_valid=col.n_valid,
        n_hallucinated=col.n_hallucinated,
        n_duplicate=col.n_duplicate,
        n_missing=len(missing),
        used=True,
        method=method,
    )
