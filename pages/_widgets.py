"""Widgets more than one page draws: values kept while a widget is hidden, the weak-rule editor
(the Weak users and LLM rerank pages), a rule in words and the weak-cohort table."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from analysis.weak_users import WeakRule
from pages._shared import metric_help

#: where each cut starts when the rule at hand has none: the default rule's percentile, and
#: Kaur & Shah's AUC threshold t_p (chance)
START_VALUES = {"percentile": float(WeakRule.default().percentile),
                "threshold": float(WeakRule.paper().threshold)}


def _keep(key: str) -> None:
    st.session_state[f"{key}_kept"] = st.session_state[key]


def kept(key: str) -> dict:
    """Widget arguments that keep its value while it is not drawn (Streamlit drops the value
    of a widget missing from a script run: a threshold mode switched away, another page).

    The value lives in ``<key>_kept``: set there (a default, a preset) it is the widget's value
    on the next draw, and every change the user makes is copied back to it. Use as
    ``st.slider(..., **kept("wu_percentile"))``; no ``value=``/``index=`` on the widget.
    """
    state = st.session_state
    if f"{key}_kept" in state:
        state[key] = state[f"{key}_kept"]
    return {"key": key, "on_change": _keep, "args": (key,)}


def weak_rule_text(rule: WeakRule, threshold_value: float | None = None) -> str:
    """A rule in words, every field of it: ``validation auc ≤ 0.5 and inactive``; a percentile
    rule with its resolved ``threshold_value`` when given (``≤ its 20th percentile (0.512)``)."""
    if rule.threshold is not None:
        cut = f"≤ {rule.threshold:g}"
    else:
        cut = f"≤ its {rule.percentile:g}th percentile"
        if threshold_value is not None:
            cut += f" ({threshold_value:.3f})"
    return f"validation {rule.metric} {cut}{' and inactive' if rule.require_inactive else ''}"


def validation_metrics(per_user: pd.DataFrame, k: int) -> list[str]:
    """The metrics a weak-user rule can select on: those the run has on validation, for at
    least one user (an imported run has no AUC over all items)."""
    return [name for name in (f"ndcg@{k}", "auc", "auc@heldout")
            if f"val_{name}" in per_user.columns and per_user[f"val_{name}"].notna().any()]


@dataclass(frozen=True)
class RuleEditor:
    """One page's weak-rule editor: its widget keys and how it is laid out.

    Attributes:
        prefix: the widgets' keys are ``<prefix>metric``, ``<prefix><cut_key>``,
            ``<prefix>percentile``, ``<prefix>threshold`` and ``<prefix>inactive``; each
            keeps its value in ``<key>_kept`` (:func:`kept`).
        cut_key: the key of the cut chooser, after the prefix.
        cuts: the option shown for a percentile cut, then for an absolute threshold.
        compact: one row of small inputs (a page where the rule is one setting among many);
            else segmented controls, a full-width slider and the paper preset's button.
        follow: take every new rule the editor is started from (the rule set on another
            page), kept in ``<prefix>from``; else start from it only on a first visit.
    """

    prefix: str
    cut_key: str
    cuts: tuple[str, str]
    compact: bool
    follow: bool

    def key(self, name: str) -> str:
        return f"{self.prefix}{self.cut_key if name == 'cut' else name}"


def seed_weak_rule(editor: RuleEditor, rule: WeakRule, metrics: list[str], *,
                   replace: bool) -> None:
    """The editor's values from ``rule``, every field of it, in their kept keys.

    Args:
        editor: the editor to seed.
        rule: the rule to start from.
        metrics: the metrics offered; a rule metric not among them falls back to the last.
        replace: overwrite what the user set (the rule came from another page); False sets
            only what is unset (a first visit). The cut not in ``rule`` keeps its value, or
            starts at :data:`START_VALUES`.
    """
    state = st.session_state
    put = state.__setitem__ if replace else state.setdefault
    put(f"{editor.key('metric')}_kept", rule.metric if rule.metric in metrics else metrics[-1])
    put(f"{editor.key('cut')}_kept", editor.cuts[0 if rule.percentile is not None else 1])
    for name, start in START_VALUES.items():
        value = getattr(rule, name)
        if value is None:
            state.setdefault(f"{editor.key(name)}_kept", start)
        else:
            put(f"{editor.key(name)}_kept", float(value))
    put(f"{editor.key('inactive')}_kept", bool(rule.require_inactive))


def _apply_paper_preset(editor: RuleEditor) -> None:
    """Every field of the preset's rule (metric, threshold, inactive); the percentile cut
    keeps its own value for when it comes back."""
    rule = WeakRule.paper()
    st.session_state.update({f"{editor.key('metric')}_kept": rule.metric,
                             f"{editor.key('cut')}_kept": editor.cuts[1],
                             f"{editor.key('threshold')}_kept": float(rule.threshold),
                             f"{editor.key('inactive')}_kept": rule.require_inactive})


def weak_rule_editor(editor: RuleEditor, metrics: list[str], start: WeakRule) -> WeakRule:
    """Draw the editor, seeded from ``start`` (:func:`seed_weak_rule`: on a first visit, or
    whenever ``start`` changes if the editor follows it), and return the rule it shows.

    Args:
        editor: the page's keys and layout.
        metrics: the validation metrics offered (:func:`validation_metrics`).
        start: the rule the page starts from.
    """
    state = st.session_state
    if not editor.follow:
        seed_weak_rule(editor, start, metrics, replace=False)
    elif state.get(f"{editor.prefix}from") != start:  # a new rule there: take it exactly
        state[f"{editor.prefix}from"] = start
        seed_weak_rule(editor, start, metrics, replace=True)
    metric_now = st.session_state.get(f"{editor.key('metric')}_kept", metrics[0])
    metric_text = metric_help(f"val_{metric_now}")
    percentile_help = "Weak: validation value at or below this percentile."
    threshold_help = "Weak: validation value at or below this value."
    if editor.compact:
        cols = st.columns(4)
        metric = cols[0].selectbox("Metric (validation)", metrics, help=metric_text,
                                   **kept(editor.key("metric")))
        cut = cols[1].radio("Cut", list(editor.cuts), horizontal=True, **kept(editor.key("cut")))
        inactive = cols[3].checkbox("Only inactive users", **kept(editor.key("inactive")))
        value_input, steps = cols[2].number_input, {"percentile": {"step": 1.0},
                                                    "threshold": {"step": 0.01, "format": "%.4f"}}
    else:
        cols = st.columns([2, 1.7, 1.5, 1], vertical_alignment="bottom")  # room for "Inactive only"
        metric = cols[0].segmented_control("Validation metric", metrics, required=True,
                                           help=metric_text, **kept(editor.key("metric")))
        cut = cols[1].segmented_control(
            "Threshold as", list(editor.cuts), required=True, **kept(editor.key("cut")),
            help="Percentile: the weakest p% of users with a validation value. Absolute: a "
                 "fixed value of the metric.")
        inactive = cols[2].toggle("Inactive only", **kept(editor.key("inactive")),
                                  help="Also require fewer training interactions than the "
                                       "dataset mean (Kaur & Shah's inactive users).")
        cols[3].button("Paper preset", key=f"{editor.prefix}paper", on_click=_apply_paper_preset,
                       args=(editor,), help="Kaur & Shah (2024): validation AUC ≤ 0.5 and "
                                            "inactive.")
        value_input, steps = st.slider, {"percentile": {"step": 1.0, "format": "%.0f"},
                                         "threshold": {"step": 0.005, "format": "%.3f"}}
    # each cut keeps its value while the other shows
    if cut == editor.cuts[0]:
        label = "Percentile" if editor.compact else "Percentile of the validation metric"
        value = value_input(label, 0.0, 100.0, help=percentile_help, **steps["percentile"],
                            **kept(editor.key("percentile")))
        return WeakRule(metric=metric, percentile=value, require_inactive=inactive)
    label = "Threshold" if editor.compact else f"Threshold on validation {metric}"
    value = value_input(label, 0.0, 1.0, help=threshold_help, **steps["threshold"],
                        **kept(editor.key("threshold")))
    return WeakRule(metric=metric, threshold=value, require_inactive=inactive)


def cohort_table(leaves: pd.DataFrame, metric: str, *, key: str) -> None:
    """A run's weak cohorts (``weak_cohorts.csv``), worst first on validation, as a table:
    each cohort's validation mean (what the tree was fitted on) and test mean (its verdict)."""
    columns = [name for name in ("rule", "n_users", "share", "val_mean", "test_mean",
                                 "mean_metric") if name in leaves.columns]
    st.dataframe(
        leaves[columns],
        hide_index=True,
        column_config={
            "rule": st.column_config.TextColumn("Cohort", width="large"),
            "n_users": st.column_config.NumberColumn("Users", format="%d"),
            "share": st.column_config.NumberColumn("Share of users", format="percent"),
            "val_mean": st.column_config.NumberColumn(
                f"Validation {metric}", format="%.3f",
                help="Mean on the validation split, which the tree was fitted on and ranks by."),
            "test_mean": st.column_config.NumberColumn(
                f"Test {metric}", format="%.3f",
                help="Mean on the test split, which the tree never saw: a cohort that is weak "
                     "here too replicates."),
            "mean_metric": st.column_config.NumberColumn(f"Mean {metric}", format="%.3f"),
        },
        key=key,
    )
