"""The app's import: read a dataset, import a run's files and list the run in the workspace."""

from __future__ import annotations

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
) -> tuple[RunInfo, list[str]]:
    """Import a run of the workspace dataset ``dataset`` (:func:`import_run`) and save it as a
    baseline run of the workspace (:meth:`RunStore.save_baseline`).

    Returns:
        (the saved run, the one-line notes to show: unknown ids, listed training items,
        the AUC and selection statements).

    Raises:
        AnalysisError: as :func:`import_run`.
    """
    result = import_run(load_dataset(workspace, dataset), test, validation or None, config,
                        heldout_test=heldout_test or None)
    return RunStore(workspace).save_baseline(result), result.notes
