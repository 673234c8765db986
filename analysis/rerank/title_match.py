"""Match a title an LLM wrote to the candidate texts it was shown.

Titles are matched against the shown texts: exact, then normalized (:func:`normalize_title`:
Unicode accents removed, casefolded, parenthesised parts such as years and genres removed,
punctuation and the articles a/an/the dropped), then fuzzy (:class:`difflib.SequenceMatcher`
ratio >= the cutoff on the normalized texts, best match wins). Each variant of the answer's
text is tried with any trailing explanation after `` - ``, `` – ``, `` — ``, `` | ``, or
`` because`` cut off. Among equally good matches an unused candidate is preferred (remakes
with the same title).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence

__all__ = ["TitleMatcher", "normalize_title"]

_PARENS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_NONWORD = re.compile(r"[\W_]+")
_ARTICLES = {"a", "an", "the"}


def normalize_title(text: str) -> str:
    """Comparable form of a title: no accents, casefolded, no parenthesised parts (years,
    genres), no punctuation, no articles (a, an, the), single spaces. Falls back to the
    casefolded words when nothing else remains (a title made only of articles or brackets)."""
    t = unicodedata.normalize("NFKD", str(text))
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).casefold()
    words = _NONWORD.sub(" ", _PARENS.sub(" ", t)).split()
    kept = [w for w in words if w not in _ARTICLES]
    if kept:
        return " ".join(kept)
    return " ".join(_NONWORD.sub(" ", t).split())


_EXPLANATION = re.compile(r"\s+[-–—|]\s+|\s+because\b|\s*\*\*\s*[-–—:]", re.IGNORECASE)


class TitleMatcher:
    """Resolve titles to shown positions (exact, normalized, fuzzy)."""

    def __init__(self, shown_texts: Sequence[str], cutoff: float) -> None:
        self.cutoff = cutoff
        self.exact: dict[str, list[int]] = {}
        self.norm: dict[str, list[int]] = {}
        self.norm_list: list[str] = []
        for j, t in enumerate(shown_texts):
            s = " ".join(str(t).split())
            n = normalize_title(s)
            self.exact.setdefault(s.casefold(), []).append(j)
            self.norm.setdefault(n, []).append(j)
            self.norm_list.append(n)

    @staticmethod
    def _pick(positions: list[int], used: set[int]) -> int:
        for p in positions:
            if p not in used:
                return p
        return positions[0]

    def resolve(self, text: str, used: set[int]) -> int | None:
        text = " ".join(text.split()).strip(" \t\"'`*_.,;")
        if not text:
            return None
        variants = [text]
        m = _EXPLANATION.search(text)
        if m and m.start() > 0:
            variants.append(text[: m.start()].strip(" \t\"'`*_.,;"))
        for v in variants:
            hit = self.exact.get(v.casefold())
            if hit:
                return self._pick(hit, used)
        for v in variants:
            hit = self.norm.get(normalize_title(v))
            if hit:
                return self._pick(hit, used)
        best: tuple[float, bool, int] | None = None  # (ratio, unused, -position)
        for v in variants:
            sm = difflib.SequenceMatcher(None, "", normalize_title(v), autojunk=False)
            for j, nt in enumerate(self.norm_list):
                sm.set_seq1(nt)  # the answer (seq2) stays cached
                if sm.real_quick_ratio() < self.cutoff or sm.quick_ratio() < self.cutoff:
                    continue
                r = sm.ratio()
                if r >= self.cutoff:
                    cand = (r, j not in used, -j)
                    if best is None or cand > best:
                        best = cand
        return None if best is None else -best[2]
