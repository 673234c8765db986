"""Step 8: what reranking the weak users gained, net of the no-LLM controls, and what it cost.

* :mod:`~analysis.gains.gain_report`: hybrid merge, before/after, paired test, cost curve;
* :mod:`~analysis.gains.controls`: the no-LLM orderings of the same candidates, and the net gain;
* :mod:`~analysis.gains.cost`: prices, call costs, the worst case a call may cost, estimates;
* :mod:`~analysis.gains.per_user_cost`: the cost of any subset of users from one dry run.
"""
