"""The one error type of the engine.

Everything a user can fix (a missing column, a bad file, an unknown model, an empty
subgroup) raises :class:`AnalysisError` with a one-line message that says what is wrong,
where (file, row, column) and, where it helps, what to do. The CLI prints
``err.render("cli")`` and exits with code 2; the app shows ``str(err)`` with ``st.error``.
Anything else is a bug.

Messages are written in neutral words: no API argument (``replace=True``), no CLI flag and
no server path (a file by its name, the workspace as "this workspace"). What to do where it
depends on the surface (tick a box in the app, pass a flag on the command line) is a small
table of per-surface hints registered beside the message's template with
:func:`surface_hints`: ``str(err)`` ends with the app's hint, ``err.render("cli")`` with
the CLI's. A hint may quote the message's fields (``"pass --{role}-col NAME"``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

__all__ = ["SURFACES", "AnalysisError", "surface_hints"]

#: where a message is shown: the Streamlit app (``str(err)``) and the command line
SURFACES = ("app", "cli")
_HINTS: list[tuple[re.Pattern[str], dict[str, str]]] = []


def _template_regex(template: str) -> re.Pattern[str]:
    """A regex matching every message built from ``template``; each field a named group."""
    parts, seen = [], set()
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(" ".join(literal.split(" "))))
        if field is None:
            continue
        name = field.split(".")[0].split("[")[0]
        if name.isidentifier() and name not in seen:
            seen.add(name)
            parts.append(f"(?P<{name}>.+?)")
        else:
            parts.append(".+?")
    return re.compile("".join(parts), re.DOTALL)


def surface_hints(template: str, **hints: str) -> str:
    """Register what to do on each surface for the messages built from ``template``.

    Args:
        template: a message template (a module constant), in neutral words.
        **hints: one sentence per surface in :data:`SURFACES` (``app=``, ``cli=``); may
            quote the message's fields by name (``{role}``), unformatted (``!r`` dropped).

    Returns:
        ``template`` itself, so a constant reads ``NAME = surface_hints("...", app=..., cli=...)``.
    """
    unknown = set(hints) - set(SURFACES)
    if unknown:
        raise ValueError(f"unknown surfaces {sorted(unknown)}; use {SURFACES}")
    _HINTS.append((_template_regex(" ".join(template.split())), dict(hints)))
    return template


def _hints_for(message: str) -> dict[str, str]:
    for regex, hints in reversed(_HINTS):
        found = regex.fullmatch(message)
        if found is not None:
            fields = {k: v.strip("'\"") for k, v in found.groupdict().items()}
            out = {}
            for surface, hint in hints.items():
                try:
                    out[surface] = hint.format(**fields)
                except (KeyError, IndexError, ValueError):
                    out[surface] = hint
            return out
    return {}


class AnalysisError(Exception):
    """A user-fixable problem, worded for the user.

    Args:
        message: one line, no traceback jargon: what is wrong and where, in neutral words.
        hints: what to do, per surface (``{"app": "Tick Replace.", "cli": "Pass
            --replace."}``); by default those registered for the message's template with
            :func:`surface_hints`.
    """

    def __init__(self, message: str, *, hints: Mapping[str, str] | None = None) -> None:
        message = " ".join(str(message).split())  # always exactly one line
        super().__init__(message)
        self.message = message
        #: what to do on each surface (may be empty)
        self.hints: dict[str, str] = dict(hints) if hints is not None else _hints_for(message)

    def render(self, surface: str) -> str:
        """The message as ``surface`` ("app" or "cli") shows it: with its hint, if any."""
        hint = " ".join(self.hints.get(surface, "").split())
        return f"{self.message} {hint}" if hint else self.message

    def __str__(self) -> str:
        return self.render("app")
