"""Prompt templates for in-context ranking: the builtins, template files, validation.

A :class:`PromptTemplate` has a ``system`` part, identical for every user of a job (no user
data, no per-user counts: providers cache it), and a ``user`` part with named placeholders
(:data:`PLACEHOLDERS`) that :func:`analysis.rerank.prompts.render_prompt` fills. Only
``{history_order}`` (:data:`SYSTEM_PLACEHOLDERS`), the same for every user of a job, may
stand in the system part too.

No builtin template states a history order of its own: each quotes ``{history_order}``, so
its wording matches the history it receives whatever the strategy. Builtins
(:data:`BUILTIN_TEMPLATES`): ``"paper"`` (Kaur & Shah 2024: "do not generate any item
outside this list"), ``"llmrank"`` (Hou et al. 2024: history in the first person, numbered
candidates) and ``"rankgpt"`` (Sun et al. 2023: bracketed identifiers, answer
``[2] > [1] > ...``). Their wording is domain-neutral ("items"); write a custom template
for domain wording (:func:`load_template`: ``.txt``, ``.json`` or ``.toml``). Literal braces
are written ``{{`` and ``}}`` in both parts.
"""

from __future__ import annotations

import json
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from analysis.display import without_paths
from analysis.errors import AnalysisError

__all__ = [
    "BUILTIN_TEMPLATES",
    "PLACEHOLDERS",
    "SYSTEM_PLACEHOLDERS",
    "IdStyle",
    "PromptTemplate",
    "check_template",
    "load_template",
]

PLACEHOLDERS = ("history", "candidates", "n_candidates", "n_history", "history_order")
SYSTEM_PLACEHOLDERS = ("history_order",)  # the same for every user of a job
IdStyle = Literal["number", "bracket"]

# --- user-facing messages -------------------------------------------------------------------
UNKNOWN_TEMPLATE = (
    "No builtin prompt template or file named {name!r}; use one of paper, llmrank, rankgpt, "
    "or the path of a .txt, .json or .toml template file."
)
# a template file is named by its file name only (no server path)
BAD_TEMPLATE_TYPE = (
    "Prompt template file {file!r} has an unsupported type; use .txt (user part, optional "
    "system part above a '---' line), .json or .toml (keys system, user, id_style)."
)
UNREADABLE_TEMPLATE = (
    "Prompt template file {file!r} could not be read ({reason}); fix the file."
)
UNKNOWN_PLACEHOLDER = (
    "Prompt template {source}: unknown placeholder {{{field}}} in the {part} part; allowed: "
    "{{history}}, {{candidates}}, {{n_candidates}}, {{n_history}}, {{history_order}} (write "
    "{{{{ and }}}} for literal braces)."
)
SYSTEM_PLACEHOLDER = (
    "Prompt template {source}: placeholder {{{field}}} in the system part; the system part "
    "must be the same for every user, so move {{{field}}} to the user part (only "
    "{{history_order}} may stay)."
)
MISSING_CANDIDATES = (
    "Prompt template {source}: the user part has no {{candidates}} placeholder, so the model "
    "would never see the items to rank; add {{candidates}}."
)
UNBALANCED_BRACES = (
    "Prompt template {source}: unbalanced braces in the {part} part ({reason}); write {{{{ "
    "and }}}} for literal braces."
)
BAD_FORMAT_SPEC = (
    "Prompt template {source}: placeholder {{{field}}} in the {part} part has a format spec "
    "or conversion; write it plainly as {{{field}}}."
)
BAD_ID_STYLE = (
    "Prompt template {source}: id_style must be 'number' or 'bracket', got {value!r}."
)
BAD_TEMPLATE_KEYS = (
    "Prompt template file {file!r}: {detail}; expected string keys 'user' (required), "
    "'system', 'name' and 'id_style'."
)


@dataclass(frozen=True)
class PromptTemplate:
    """An in-context ranking prompt.

    Attributes:
        name: builtin name or file name.
        system: shared instruction part (no placeholders; same for every user).
        user: per-user part with named placeholders from :data:`PLACEHOLDERS`.
        id_style: ``"number"`` (``3. Title``) or ``"bracket"`` (``[3] Title``, RankGPT).
    """

    name: str
    system: str
    user: str
    id_style: IdStyle = "number"


_PAPER = PromptTemplate(
    name="paper",
    system=(
        "You are a recommender system. You are given items from a user's history and a "
        "numbered list of candidate items. Rank ALL the candidates by how likely the user is "
        "to like them, most likely first. Do not generate any item outside the candidate "
        "list. Answer only with the candidate numbers, one per line, most likely first, with "
        "no explanation."
    ),
    user=(
        "The user's history, {n_history} items ({history_order}):\n{history}\n\n"
        "Rank the following {n_candidates} items by how likely the user is to like them, most "
        "likely first:\n{candidates}\n\n"
        "Answer with the {n_candidates} numbers, one per line. Do not generate any item "
        "outside this list."
    ),
    id_style="number",
)

_LLMRANK = PromptTemplate(
    name="llmrank",
    system=(
        "You rank candidate items for a user from the user's history. Reply with the ranked "
        "candidates as a numbered list, one per line, in the form '<rank>. <candidate number>'"
        ", most likely first. Use only candidate numbers from the list and include every "
        "candidate exactly once."
    ),
    user=(
        "I've interacted with the following items ({history_order}):\n{history}\n\n"
        "Now there are {n_candidates} candidate items that I could interact with next:\n"
        "{candidates}\n\n"
        "Please rank these {n_candidates} items by how likely I am to like them next, "
        "according to my history."
    ),
    id_style="number",
)

_RANKGPT = PromptTemplate(
    name="rankgpt",
    system=(
        "You are RankGPT, an intelligent assistant that ranks items by how much a user will "
        "like them, given the user's history. Each candidate is marked with an identifier in "
        "brackets, like [1]. Answer only with all the identifiers in descending order of "
        "preference, like [2] > [1] > [3]; no explanation, no other items."
    ),
    user=(
        "The user's history ({n_history} items, {history_order}):\n{history}\n\n"
        "I will give you {n_candidates} candidate items, each marked with an identifier.\n"
        "{candidates}\n\n"
        "Rank the {n_candidates} candidates above by how much the user will like them. "
        "Answer only with the identifiers, most preferred first, in the format [] > [] > []."
    ),
    id_style="bracket",
)

BUILTIN_TEMPLATES: dict[str, PromptTemplate] = {
    t.name: t for t in (_PAPER, _LLMRANK, _RANKGPT)
}


def _fields(text: str, source: str, part: str) -> list[tuple[str, str, str | None]]:
    """(field, spec, conversion) of every placeholder of ``text``."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise AnalysisError(
            UNBALANCED_BRACES.format(source=source, part=part, reason=str(exc))
        ) from exc
    return [(f, spec or "", conv) for _, f, spec, conv in parsed if f is not None]


def check_template(template: PromptTemplate, source: str | None = None) -> PromptTemplate:
    """Validate a template; return it unchanged.

    Args:
        template: the template.
        source: how to name it in messages (a file path); defaults to ``template.name``.

    Raises:
        AnalysisError: a placeholder other than ``{history_order}`` in the system part
            (:data:`SYSTEM_PLACEHOLDER`), an unknown placeholder (:data:`UNKNOWN_PLACEHOLDER`),
            a format spec (:data:`BAD_FORMAT_SPEC`), unbalanced braces
            (:data:`UNBALANCED_BRACES`), no ``{candidates}`` (:data:`MISSING_CANDIDATES`) or a
            bad ``id_style``.
    """
    src = source or template.name
    if template.id_style not in ("number", "bracket"):
        raise AnalysisError(BAD_ID_STYLE.format(source=src, value=template.id_style))
    for field, spec, conv in _fields(template.system, src, "system"):
        if field not in SYSTEM_PLACEHOLDERS:
            raise AnalysisError(SYSTEM_PLACEHOLDER.format(source=src, field=field))
        if spec or conv:
            raise AnalysisError(BAD_FORMAT_SPEC.format(source=src, field=field, part="system"))
    names = set()
    for field, spec, conv in _fields(template.user, src, "user"):
        if field not in PLACEHOLDERS:
            raise AnalysisError(UNKNOWN_PLACEHOLDER.format(source=src, field=field, part="user"))
        if spec or conv:
            raise AnalysisError(BAD_FORMAT_SPEC.format(source=src, field=field, part="user"))
        names.add(field)
    if "candidates" not in names:
        raise AnalysisError(MISSING_CANDIDATES.format(source=src))
    return template


def _from_mapping(data: object, path: Path) -> PromptTemplate:
    if not isinstance(data, dict):
        raise AnalysisError(BAD_TEMPLATE_KEYS.format(file=path.name, detail="not a table of keys"))
    unknown = sorted(set(data) - {"name", "system", "user", "id_style"})
    if unknown:
        raise AnalysisError(BAD_TEMPLATE_KEYS.format(
            file=path.name, detail="unknown key(s) " + ", ".join(map(str, unknown))))
    if not isinstance(data.get("user"), str):
        raise AnalysisError(BAD_TEMPLATE_KEYS.format(file=path.name, detail="no string 'user' key"))
    for key in ("name", "system", "id_style"):
        if key in data and not isinstance(data[key], str):
            raise AnalysisError(
                BAD_TEMPLATE_KEYS.format(file=path.name, detail=f"{key!r} is not text")
            )
    return PromptTemplate(
        name=data.get("name", path.stem),
        system=data.get("system", ""),
        user=data["user"],
        id_style=data.get("id_style", "number"),  # type: ignore[arg-type]
    )


def load_template(name_or_path: str | Path) -> PromptTemplate:
    """A builtin template by name, or a validated template from a file.

    File formats:

    * ``.txt``: the user part; an optional system part goes above a line that is exactly
      ``---``. ``id_style`` is ``"number"``.
    * ``.json`` / ``.toml``: keys ``user`` (required), ``system``, ``name``, ``id_style``.

    Args:
        name_or_path: ``"paper"``, ``"llmrank"``, ``"rankgpt"`` or a file path.

    Returns:
        The :class:`PromptTemplate`.

    Raises:
        AnalysisError: no such builtin or file (:data:`UNKNOWN_TEMPLATE`), unsupported or
            unreadable file, or any validation error of :func:`check_template` (naming the
            file and the placeholder).
    """
    key = str(name_or_path)
    if key in BUILTIN_TEMPLATES:
        return BUILTIN_TEMPLATES[key]
    path = Path(key)
    if not path.is_file():
        raise AnalysisError(UNKNOWN_TEMPLATE.format(name=key))
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".json", ".toml"):
        raise AnalysisError(BAD_TEMPLATE_TYPE.format(file=path.name))
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".json":
            template = _from_mapping(json.loads(text), path)
        elif suffix == ".toml":
            template = _from_mapping(tomllib.loads(text), path)
        else:
            lines = text.splitlines()
            sep = [i for i, line in enumerate(lines) if line.strip() == "---"]
            if sep:
                system = "\n".join(lines[: sep[0]]).strip()
                user = "\n".join(lines[sep[0] + 1:]).strip()
            else:
                system, user = "", text.strip()
            template = PromptTemplate(name=path.stem, system=system, user=user)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSON/TOML errors are ValueErrors
        reason = without_paths(" ".join(str(exc).split())[:200])
        raise AnalysisError(UNREADABLE_TEMPLATE.format(file=path.name, reason=reason)) from exc
    return check_template(template, source=repr(path.name))
