"""AppTest of pages/4_weak_users.py on the demo run: counts equal select_weak_users, modes,
the inactive toggle, the paper preset, validation figures while tuning and a held-out test
verdict that does not follow the slider, the composition table and the cost projection."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.subgroups.distributions import subgroup_dimensions, validation_figures
from analysis.weak_users import WeakRule, select_weak_users

PAGE = "pages/4_weak_users.py"


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expect(table, rule: WeakRule):
    return select_weak_users(table, rule, subgroup_dimensions(table))


def test_starts_from_the_runs_rule(at, demo):
    info, table = demo
    rule = WeakRule(**info.headline["weak_users"]["rule"])  # auc, 20th percentile
    w = expect(table, rule)
    m = metrics(at)
    assert m["Weak users"] == f"{w.n_weak:,}"
    assert m["Share of users"] == f"{w.share:.1%}"
    v = validation_figures(table, w)
    assert m["Weak, validation"] == f"{v.mean_weak:.3f}"
    assert m["Rest, validation"] == f"{v.mean_rest:.3f}"
    # the held-out panel judges the run's own rule
    assert m["Weak, test"] == f"{w.test_mean_weak:.3f}"
    assert m["Rest, test"] == f"{w.test_mean_rest:.3f}"
    assert at.session_state["weak_rule"] == rule


def test_percentile_slider_counts_match_select_weak_users(at, demo):
    _, table = demo
    at.slider(key="wu_percentile").set_value(35.0).run()
    w = expect(table, WeakRule(metric="auc", percentile=35.0))
    assert metrics(at)["Weak users"] == f"{w.n_weak:,}"
    assert at.session_state["weak_rule"] == WeakRule(metric="auc", percentile=35.0)
    at.segmented_control(key="wu_metric").set_value("ndcg@10").run()
    w = expect(table, WeakRule(metric="ndcg@10", percentile=35.0))
    assert metrics(at)["Weak users"] == f"{w.n_weak:,}"
    v = validation_figures(table, w)
    assert metrics(at)["Weak, validation"] == f"{v.mean_weak:.3f}"


def test_tuning_shows_validation_and_the_test_verdict_stays_put(at, demo):
    """While the slider moves, only validation figures follow it; the test verdict belongs to
    the judged rule and changes only when the user asks to judge the current one."""
    info, table = demo
    stored = WeakRule(**info.headline["weak_users"]["rule"])
    before = expect(table, stored)
    for p in (5.0, 50.0, 80.0):
        at.slider(key="wu_percentile").set_value(p).run()
        assert not at.exception, at.exception
        m = metrics(at)
        v = validation_figures(table, expect(table, WeakRule(metric="auc", percentile=p)))
        assert m["Weak, validation"] == f"{v.mean_weak:.3f}"  # tuning figures follow
        assert m["Rest, validation"] == f"{v.mean_rest:.3f}"
        # the held-out panel still shows the stored rule's test figures, and says why
        assert m["Weak, test"] == f"{before.test_mean_weak:.3f}"
        assert m["Rest, test"] == f"{before.test_mean_rest:.3f}"
    captions = " ".join(c.value for c in at.caption)
    assert "Held-out test verdict" in " ".join(x.value for x in at.markdown)
    assert "Do not move the threshold to improve these figures" in captions
    assert "changed since it was judged" in captions
    # judging the current rule moves the verdict to it, once
    judge = next(b for b in at.button if b.key == "wu_judge")
    assert not judge.disabled
    judge.click().run()
    assert not at.exception, at.exception
    w = expect(table, WeakRule(metric="auc", percentile=80.0))
    assert metrics(at)["Weak, test"] == f"{w.test_mean_weak:.3f}"
    assert next(b for b in at.button if b.key == "wu_judge").disabled
    assert "changed since it was judged" not in " ".join(c.value for c in at.caption)


def test_absolute_mode_and_inactive_toggle(at, demo):
    _, table = demo
    at.segmented_control(key="wu_mode").set_value("Absolute").run()
    at.slider(key="wu_threshold").set_value(0.7).run()
    w = expect(table, WeakRule(metric="auc", threshold=0.7))
    assert metrics(at)["Weak users"] == f"{w.n_weak:,}"
    at.toggle(key="wu_inactive").set_value(True).run()
    wi = expect(table, WeakRule(metric="auc", threshold=0.7, require_inactive=True))
    assert metrics(at)["Weak users"] == f"{wi.n_weak:,}"
    assert 0 < wi.n_weak < w.n_weak
    assert at.session_state["weak_rule"].require_inactive


def test_paper_preset(at, demo):
    _, table = demo
    at.button(key="wu_paper").click().run()
    assert not at.exception
    assert at.session_state["weak_rule"] == WeakRule.paper()
    assert at.segmented_control(key="wu_mode").value == "Absolute"
    assert at.toggle(key="wu_inactive").value is True
    w = expect(table, WeakRule.paper())
    assert metrics(at)["Weak users"] == f"{w.n_weak:,}"


def test_composition_table_by_hand_for_one_dimension(at, demo):
    _, table = demo
    at.selectbox(key="wu_dim").set_value("inactive").run()
    comp = next(d.value for d in at.dataframe if "share_weak" in d.value.columns)
    val = table["val_auc"].to_numpy()
    has = ~np.isnan(val)
    weak = has & (val <= np.percentile(val[has], 20))
    inactive = table["inactive"].to_numpy(bool)
    for label, members in (("False", ~inactive), ("True", inactive)):
        row = comp[comp["group"] == label].iloc[0]
        assert row["n_users"] == (has & members).sum()
        assert row["n_weak"] == (weak & members).sum()
        assert row["share_all"] == pytest.approx((has & members).sum() / has.sum())
        assert row["share_weak"] == pytest.approx((weak & members).sum() / weak.sum())
    # which users the sizes count, since the Subgroups page counts others
    assert any(c.value.startswith("Users: the group's users with a validation")
               for c in at.caption)


def test_cost_projection_shown_and_grows_with_the_set(at):
    small = metrics(at)["Projected cost"]
    assert small.startswith("$")
    at.slider(key="wu_percentile").set_value(60.0).run()
    big = metrics(at)["Projected cost"]
    assert float(big.strip("$")) > float(small.strip("$")) > 0
    at.toggle(key="wu_batch").set_value(True).run()
    assert float(metrics(at)["Projected cost"].strip("$")) == pytest.approx(
        float(big.strip("$")) / 2, rel=0.01)
    assert not at.error
    # every weak user is counted: sent (with test items) of all the weak users selected
    sent, of_all = metrics(at)["Users sent"].split(" of ")
    assert int(sent.replace(",", "")) <= int(of_all.replace(",", ""))
    assert of_all == metrics(at)["Weak users"]


def test_each_threshold_mode_keeps_its_value(at, demo):
    """Percentile 10 -> absolute -> percentile comes back at 10, and the absolute value is
    kept the same way; the paper preset leaves the percentile mode's value alone."""
    _, table = demo
    at.slider(key="wu_percentile").set_value(10.0).run()
    at.segmented_control(key="wu_mode").set_value("Absolute").run()
    at.slider(key="wu_threshold").set_value(0.62).run()
    assert at.session_state["weak_rule"] == WeakRule(metric="auc", threshold=0.62)
    at.segmented_control(key="wu_mode").set_value("Percentile").run()
    assert at.slider(key="wu_percentile").value == 10.0
    assert at.session_state["weak_rule"] == WeakRule(metric="auc", percentile=10.0)
    w = expect(table, WeakRule(metric="auc", percentile=10.0))
    assert metrics(at)["Weak users"] == f"{w.n_weak:,}"
    at.segmented_control(key="wu_mode").set_value("Absolute").run()
    assert at.slider(key="wu_threshold").value == 0.62
    at.button(key="wu_paper").click().run()
    assert at.session_state["weak_rule"] == WeakRule.paper()
    at.segmented_control(key="wu_mode").set_value("Percentile").run()
    assert at.slider(key="wu_percentile").value == 10.0
    assert at.session_state["weak_rule"] == WeakRule(metric="auc", percentile=10.0,
                                                     require_inactive=True)
    # another page and back: the rule and both modes' values are where they were left
    at.switch_page("pages/0_overview.py").run()
    at.switch_page(PAGE).run()
    assert at.session_state["weak_rule"] == WeakRule(metric="auc", percentile=10.0,
                                                     require_inactive=True)
    assert at.slider(key="wu_percentile").value == 10.0
    at.segmented_control(key="wu_mode").set_value("Absolute").run()
    assert at.slider(key="wu_threshold").value == 0.5  # the preset's t_p


def test_the_held_out_auc_can_be_the_rule(at, demo):
    _, table = demo
    at.segmented_control(key="wu_metric").set_value("auc@heldout").run()
    assert not at.exception, at.exception
    rule = WeakRule(metric="auc@heldout", percentile=20.0)
    assert at.session_state["weak_rule"] == rule
    assert metrics(at)["Weak users"] == f"{expect(table, rule).n_weak:,}"
