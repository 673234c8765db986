"""The app's import: read a dataset, import a run's files and list the run in the workspace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from analysis.external._import import ImportConfig, import_run
from analysis.ingest import load_dataset
from analysis.runs.store import RunInfo, RunStore
from analysis.workspace import Workspace

__all__ = ["import_and_save"]


def import_and_save(
    workspace: Workspace,
    dataset: str,
    test: str | Path,
    validation: str | Path | None,
    config: ImportConfig,
    *,
    heldout_test: str | Path | None = None,
    stage: Callable[[str, list[str]], bool] | None = None,
) -> tuple[RunInfo, list[str]] | None:
    """Import a run of the workspace dataset ``dataset`` (:func:`import_run`) and save it as a
    baseline run of the workspace (:meth:`RunStore.save_baseline`).

    Args:
        stage: called before each step with its name (``"read"`` the dataset, ``"judge"``
            the run files, ``"save"`` the run) and the notes so far; when it returns False
            the import stops there and nothing is saved (a background job's progress and
            cancel).

    Returns:
        (the saved run, the one-line notes to show: unknown ids, listed training items,
        the AUC and selection statements), or None when ``stage`` stopped it.

    Raises:
        AnalysisError: as :func:`import_run`.
    """
    go = stage or (lambda name, notes: True)
    if not go("read", []):
        return None
    ds = load_dataset(workspace, dataset)
    if not go("judge", []):
        return None
    result = import_run(ds, test, validation or None, config, heldout_test=heldout_test or None)
    if not go("save", list(result.notes)):
        return None
    return RunStore(workspace).save_baseline(result), result.notes
