"""Step 3's alternative, "bring your own rankings": an external recommender's run files into a
baseline run (per-user metrics, subgroups, weak users, weak cohorts) like a trained one's.

The run folder it writes is a normal baseline run (``kind`` baseline, the model named as the
user names it), so the Subgroups, Weak users, LLM rerank (realistic protocol: the candidates
are the imported top C) and Report steps take it as they are. What an imported run cannot
have is stated in its summary's ``imported`` block: no fitted model (the rerank's paper
protocol, which scores sampled items, is refused: :data:`NO_SCORER`), no catalogue-wide AUC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from analysis.dataset import Dataset
from analysis.errors import AnalysisError, surface_hints
from analysis.external._evaluate import ListCounts, evaluate_rankings
from analysis.external._read import Rankings, RunColumns, read_pairs, read_rankings, unknown_lines
from analysis.metrics.evaluate import VAL_PREFIX, Evaluation
from analysis.pipeline import EvaluateConfig, PipelineResult, analyse_evaluation
from analysis.split import TEST, VALIDATION, Split, make_split
from analysis.subgroups import MIN_GROUP_SIZE
from analysis.weak_users import WeakRule

__all__ = [
    "AUC_NOTE",
    "AUC_UNAVAILABLE",
    "NO_SCORER",
    "ONLY_TEST",
    "RANDOM_HALF_NOTE",
    "ImportConfig",
    "ImportedRanker",
    "ImportedResult",
    "import_run",
]

NO_SCORER = surface_hints(
    "The run {name!r} holds an external recommender's imported rankings and no model that "
    "scores items; {what} needs one.",
    app="Use the realistic protocol (candidates: the imported top C).",
    cli="Use --protocol realistic (candidates: the imported top C).",
)
ONLY_TEST = surface_hints(
    "Only a test run: the weak-user rule cannot be chosen on validation.",
    app="Add a validation run, or tick 'Select on a random half of the users'.",
    cli="Add --validation FILE, or --selection-half to choose the rule on a seeded random half "
    "of the users and judge the other half.",
)
AUC_UNAVAILABLE = surface_hints(
    "AUC over all items: not available for an imported run (it has no score for every item).",
    app="Select weak users on NDCG or the AUC within held-out items.",
    cli="Pass --weak-metric ndcg or --weak-metric auc-heldout.",
)
#: the line the CLI prints and the summary records about AUC
AUC_NOTE = (
    "AUC over all items: not available for an imported run; auc@heldout (held-out rated "
    "items, relevant vs not) is computed from the ranks (docs/metrics.md, Imported runs)."
)
RANDOM_HALF_NOTE = (
    "Only a test run: the weak-user threshold was chosen on the test metrics of a seeded random "
    "half of the users ({n_selection:,}, not judged); the other half ({n_judged:,}) is judged, "
    "its weak users selected and measured on the same test lists."
)
SEEN_NOTE = (
    "{n:,} listed items of the {split} run were already in the user's earlier interactions "
    "(kept in the lists: they can never be hits)."
)
UNRANKED_NOTE = "{n:,} users with {split} items have no list in the {split} run (metrics 0)."
NOT_IN_DATASET = (
    "{n:,} held-out pairs of {file} are not interactions of dataset {dataset} (ignored)."
)
NO_SELECTION_VALUES = (
    "The random selection half has no user with a test {metric}; import more users or pick "
    "another weak-user metric."
)


class ImportedRanker:
    """The imported run's stand-in for a fitted model: a name, no parameters, no scores.

    Every scoring method raises :data:`NO_SCORER`: the run's lists are all there is.
    """

    uses_sequences = False
    item_factors = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.params: dict = {}

    def _refuse(self, what: str):
        raise AnalysisError(NO_SCORER.format(name=self.name, what=what))

    def fit(self, *args, **kwargs):
        self._refuse("fitting")

    def score_users(self, user_idx):
        self._refuse("scoring every item")

    def score(self, user_idx, item_idx):
        self._refuse("the paper protocol (scoring sampled items)")

    def recommend(self, user_idx, n, exclude=None, batch_size=4096):
        self._refuse("recommending beyond the imported lists")


@dataclass(frozen=True)
class ImportedResult(PipelineResult):
    """A :class:`~analysis.pipeline.PipelineResult` of imported rankings.

    Attributes:
        imported: ``summary.json``'s ``imported`` block (files, rows, unknown ids, lines
            about listed training items, ``unavailable_metrics``, ``auc_note``,
            ``selection``) and ``notes``: the one-line statements to show the user.
    """

    imported: dict = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        return list(self.imported.get("notes", []))


@dataclass(frozen=True)
class ImportConfig:
    """How to read and analyse an imported run.

    Attributes:
        name: the model's name as the user gives it (``prod-ranker-v7``).
        fmt: ``auto``, ``trec``, ``csv`` or ``parquet``; ``columns``: CSV/Parquet columns.
        k: list length of the metrics; ``n_candidates``: C, the list length kept.
        split, split_params, seed: the workspace split whose held-out items judge the lists
            (unused for held-out files); the seed also draws the random half.
        weak_rule: None: ``ndcg@k`` at or below its 20th percentile (AUC over all items is
            not available).
        selection: ``validation`` (the rule selects on the validation run's metrics) or
            ``random_half`` (test run only: see :data:`RANDOM_HALF_NOTE`).
    """

    name: str = "imported"
    fmt: str = "auto"
    columns: RunColumns = field(default_factory=RunColumns)
    k: int = 10
    n_candidates: int = 20
    split: str = "temporal"
    split_params: dict = field(default_factory=dict)
    seed: int = 0
    weak_rule: WeakRule | None = None
    selection: str = "validation"
    intersections: tuple[tuple[str, str], ...] = (("inactive", "mainstream"),)
    cohort_max_depth: int = 3
    min_group_size: int = MIN_GROUP_SIZE

    def rule(self) -> WeakRule:
        rule = self.weak_rule or WeakRule(metric=f"ndcg@{self.k}", percentile=20.0)
        if rule.metric == "auc":
            raise AnalysisError(AUC_UNAVAILABLE)
        return rule


def _heldout_split(dataset: Dataset, test: str | Path, validation: str | Path | None,
                   cfg: ImportConfig) -> tuple[Split, list[str], dict]:
    """Folds from held-out files: a dataset interaction named in the test (validation) file
    is held out for test (validation); every other one is training."""
    keys = dataset.user_idx.astype(np.int64) * dataset.n_items + dataset.item_idx
    fold = np.zeros(len(keys), np.int8)
    notes: list[str] = []
    files = {}
    for f, code in ((validation, VALIDATION), (test, TEST)):
        if f is None:
            continue
        u, i, info = read_pairs(f, dataset,
                                columns=RunColumns(cfg.columns.user, cfg.columns.item))
        notes += unknown_lines(info, dataset.name)
        wanted = np.unique(u * dataset.n_items + i)
        hit = np.isin(keys, wanted)
        fold[hit] = code
        missing = len(wanted) - len(np.unique(keys[hit]))
        if missing:
            notes.append(NOT_IN_DATASET.format(n=missing, file=info.file, dataset=dataset.name))
        files["test" if code == TEST else "validation"] = info.file
    split = Split(dataset=dataset, fold=fold, strategy="heldout_file", seed=cfg.seed,
                  params=files)
    return split, notes, files


def _random_half(evaluation: Evaluation, rule: WeakRule, seed: int) -> tuple[Evaluation,
                                                                               WeakRule, dict]:
    """Test-only selection: the rule's threshold from a seeded random half of the evaluated
    users (their test metric; they are then not judged), applied to the other half, whose
    ``val_`` columns carry their test metrics."""
    t = evaluation.per_user.copy()
    users = np.flatnonzero(t["evaluated"].to_numpy(bool))
    perm = np.random.default_rng(seed).permutation(users)
    sel, judged = np.sort(perm[: len(users) // 2]), np.sort(perm[len(users) // 2 :])
    values = t[rule.metric].to_numpy(np.float64)[sel]
    values = values[~np.isnan(values)]
    if rule.threshold is not None:
        threshold = float(rule.threshold)
    elif len(values):
        threshold = float(np.percentile(values, float(rule.percentile)))
    else:
        raise AnalysisError(NO_SELECTION_VALUES.format(metric=rule.metric))
    for col in [c for c in t.columns if c.startswith(VAL_PREFIX)]:
        base = col[len(VAL_PREFIX):]
        values_all = np.full(len(t), np.nan)
        values_all[judged] = t[base].to_numpy(np.float64)[judged]
        t[col] = values_all
    evaluated = np.zeros(len(t), bool)
    evaluated[judged] = True
    t["evaluated"] = evaluated
    info = {
        "kind": "random_half", "seed": int(seed), "n_selection": len(sel),
        "n_judged": len(judged), "rule_given": asdict(rule), "threshold_value": threshold,
    }
    info["note"] = RANDOM_HALF_NOTE.format(**info)
    return (replace(evaluation, per_user=t),
            WeakRule(metric=rule.metric, threshold=threshold,
                     require_inactive=rule.require_inactive), info)


def _analyse(dataset: Dataset, split: Split, model: ImportedRanker, evaluation: Evaluation,
             config: EvaluateConfig, imported: dict) -> ImportedResult:
    """Steps 5-6 on the imported lists' evaluation, the same as a trained baseline's
    (:func:`analysis.pipeline.analyse_evaluation`)."""
    a = analyse_evaluation(split, evaluation, config)
    return ImportedResult(
        config=config, dataset=dataset, split=split, model=model, evaluation=evaluation,
        features=a.features, per_user=a.per_user, subgroups=a.subgroups,
        skipped_dimensions=a.skipped_dimensions, weak=a.weak, cohorts=a.cohorts, timings={},
        p_tests=a.p_tests, imported=imported,
    )


def _file_block(r: Rankings) -> dict:
    return {"file": r.file, "rows": r.n_rows, "order_by": r.order_by,
            "users_ranked": r.n_users_ranked, "unknown_user_rows": r.n_unknown_user_rows,
            "unknown_item_rows": r.n_unknown_item_rows, "duplicate_rows": r.n_duplicates,
            "rows_past_c": r.n_cut}


def _list_notes(counts: ListCounts, has_validation: bool) -> list[str]:
    out = []
    for split, seen, unranked in (("test", counts.seen_test, counts.unranked_test),
                                  ("validation", counts.seen_validation,
                                   counts.unranked_validation)):
        if split == "validation" and not has_validation:
            continue
        if seen:
            out.append(SEEN_NOTE.format(n=seen, split=split))
        if unranked:
            out.append(UNRANKED_NOTE.format(n=unranked, split=split))
    return out


def import_run(
    dataset: Dataset,
    test: str | Path,
    validation: str | Path | None = None,
    config: ImportConfig = ImportConfig(),
    *,
    heldout_test: str | Path | None = None,
    heldout_validation: str | Path | None = None,
) -> ImportedResult:
    """Analyse an external recommender's run of ``dataset`` like a trained baseline.

    Args:
        dataset: the workspace dataset the run ranked (its interactions and raw ids).
        test: the test period's run file; ``validation``: the validation period's (or None).
        config: formats, list lengths, split, weak-user rule and selection.
        heldout_test / heldout_validation: held-out files (``user_id, item_id[, rating]``)
            naming which of the dataset's interactions each period holds out; None: the
            workspace split ``config.split`` with its parameters and seed.

    Returns:
        An :class:`ImportedResult`; write it with
        :func:`analysis.runs.baseline_folder.write_run_outputs` or ``RunStore.save_baseline``.

    Raises:
        AnalysisError: unreadable files or columns, AUC over all items as the weak metric
            (:data:`AUC_UNAVAILABLE`), only a test run without ``random_half``
            (:data:`ONLY_TEST`), or any error of the split or the analysis steps.
    """
    rule = config.rule()
    if validation is None and config.selection != "random_half":
        raise AnalysisError(ONLY_TEST)
    notes: list[str] = []
    if heldout_test is not None:
        split, held_notes, held_files = _heldout_split(dataset, heldout_test,
                                                       heldout_validation, config)
        notes += held_notes
    else:
        split = make_split(dataset, config.split, seed=config.seed, **config.split_params)
        held_files = {}
    c = int(config.n_candidates)
    test_r = read_rankings(test, dataset, c, fmt=config.fmt, columns=config.columns)
    val_r = (None if validation is None or config.selection == "random_half" else
             read_rankings(validation, dataset, c, fmt=config.fmt, columns=config.columns))
    for r in (test_r, val_r):
        if r is not None:
            notes += unknown_lines(r, dataset.name)
    evaluation, counts = evaluate_rankings(
        split, test_r.items, test_r.scores, None if val_r is None else val_r.items, k=config.k)
    notes += _list_notes(counts, val_r is not None)
    selection: dict = {"kind": "validation"}
    if config.selection == "random_half":
        evaluation, rule, selection = _random_half(evaluation, rule, config.seed)
        notes.append(selection["note"])
    notes.append(AUC_NOTE)
    imported = {
        "model": config.name,
        "files": {"test": _file_block(test_r),
                  "validation": None if val_r is None else _file_block(val_r)},
        "heldout": {"source": "files", **held_files} if held_files else {
            "source": "split", "strategy": config.split},
        "seen_in_earlier_interactions": {"test": counts.seen_test,
                                         "validation": counts.seen_validation},
        "unranked_users": {"test": counts.unranked_test,
                           "validation": counts.unranked_validation},
        "unavailable_metrics": ["auc", f"{VAL_PREFIX}auc"],
        "auc_note": AUC_NOTE,
        "selection": selection,
        "notes": notes,
    }
    eval_config = EvaluateConfig(
        model=config.name, k=config.k, n_candidates=c, split=split.strategy,
        split_params=dict(split.params), seed=config.seed, weak_rule=rule,
        intersections=config.intersections, cohort_max_depth=config.cohort_max_depth,
        min_group_size=config.min_group_size,
    )
    return _analyse(dataset, split, ImportedRanker(config.name), evaluation, eval_config,
                    imported)
