"""The run files a report reads, and the checks that the runs asked for belong together."""

from __future__ import annotations

from pathlib import Path

from analysis.errors import AnalysisError
from analysis.runs.store import RunInfo

NOT_A_BASELINE = "Run {run_id!r} is a {kind} run; build the report from its baseline run."
WRONG_PARENT = (
    "Rerank run {rerank!r} was made from baseline {parent!r}, not {baseline!r}; pick one of "
    "this baseline's reranks."
)
MISSING_FILE = "Run {run_id!r} has no {name} in its folder; re-run it or pick another run."


def run_file(info: RunInfo, name: str) -> Path:
    """The path of the file ``name`` in the folder of run ``info``.

    Raises:
        AnalysisError: the run's folder has no such file (:data:`MISSING_FILE`).
    """
    path = Path(info.path) / name
    if not path.is_file():
        raise AnalysisError(MISSING_FILE.format(run_id=info.run_id, name=name, path=info.path))
    return path


def check_runs(baseline: RunInfo, rerank: RunInfo | None) -> None:
    """Refuse a ``baseline`` that is not a baseline run, or a ``rerank`` made from another.

    Raises:
        AnalysisError: :data:`NOT_A_BASELINE` or :data:`WRONG_PARENT`.
    """
    if baseline.kind != "baseline":
        raise AnalysisError(NOT_A_BASELINE.format(run_id=baseline.run_id, kind=baseline.kind))
    if rerank is not None and rerank.parent_run_id != baseline.run_id:
        raise AnalysisError(WRONG_PARENT.format(rerank=rerank.run_id, parent=rerank.parent_run_id,
                                                baseline=baseline.run_id))
