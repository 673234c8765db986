"""Steps 7-8: LLM reranking for the weak users only, and its gains against its cost.

One module per part of the job, in the order it runs:

* :mod:`~analysis.rerank.candidates`: what the LLM may reorder (baseline top C, shuffled);
* :mod:`~analysis.rerank.history`: which past items the prompt shows (recent, paper,
  long-short);
* prompts and parsing live with the backends (:mod:`models.llm`);
* :mod:`~analysis.rerank.cache`: every call stored in the workspace (resume, no double pay);
* :mod:`~analysis.gains.cost`: prices, estimates, the budget cap;
* :mod:`~analysis.rerank.prompt_size`: every prompt's exact length, without building it;
* :mod:`~analysis.rerank.plan`: the dry run (who, which prompts, what is cached, the cost);
* :mod:`~analysis.rerank.execute`: the job (send within the budget, resume, merge);
* :mod:`~analysis.gains.gain_report`: hybrid merge, before/after, paired test, cost curve;
* :mod:`~analysis.runs.rerank`: the job's files.
"""
