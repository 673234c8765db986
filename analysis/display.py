"""What the app and the report may show of a run's recorded settings: no server path.

A run records where its data came from (``summary.json``: the dataset's source, the command
line in ``provenance``) with the absolute paths of the machine that made it. Shown to a
reader (the HTML report's "Source" block, a page), each path is cut to its last part: the
file or folder name, which is what the reader knows it by.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["without_paths"]

# an absolute POSIX path (two or more parts) or a Windows drive path, inside any text
_ABS_PATH = re.compile(
    r"(?<![\w.:/~-])(?:~|/(?=[^\s/'\"]+/))(?:/?[^\s/'\",;()\[\]]+)+/?"
    r"|\b[A-Za-z]:\\(?:[^\s\\'\",;]+\\?)+"
)


def _last_part(match: re.Match[str]) -> str:
    parts = [p for p in re.split(r"[/\\]", match.group(0).rstrip("/\\")) if p]
    return parts[-1] if parts else match.group(0)


def without_paths(value: Any) -> Any:
    """``value`` with every absolute path in its text cut to its last part.

    Strings are rewritten; dicts, lists and tuples are rewritten item by item (keys kept);
    anything else is returned as is. ``"/srv/data/ml-100k"`` becomes ``"ml-100k"``,
    ``"--out /home/ana/runs/a"`` becomes ``"--out a"``; relative paths, URLs and ratios
    (``"1/3"``) are left alone.
    """
    if isinstance(value, str):
        return _ABS_PATH.sub(_last_part, value)
    if isinstance(value, dict):
        return {k: without_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(without_paths(v) for v in value)
    return value
