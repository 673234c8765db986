"""Step 7: LLM reranking for the weak users only (step 8, its gains against its cost, is
:mod:`analysis.gains`).

One module per part of the job, in the order it runs:

* :mod:`~analysis.rerank.config`: the job's settings (:class:`RerankConfig`);
* :mod:`~analysis.rerank.candidates`: what the LLM may reorder (baseline top C, shuffled;
  or held-out items plus :mod:`~analysis.rerank.negatives`), seeded per user
  (:mod:`~analysis.rerank.seeding`);
* :mod:`~analysis.rerank.history`: which past items the prompt shows (recent, paper,
  long-short);
* :mod:`~analysis.rerank.templates` and :mod:`~analysis.rerank.prompts`: the prompt;
  :mod:`~analysis.rerank.prompt_book`: one user's candidates, history, texts and prompt, the
  same builders for the dry run, the job and the explanation;
* :mod:`~analysis.rerank.prompt_size` and :mod:`~analysis.rerank.tokens`: every prompt's
  exact length without building it, and its tokens;
* :mod:`~analysis.rerank.cache`: every call stored in the workspace (resume, no double pay);
* :mod:`~analysis.rerank.plan`: the dry run (who, which prompts, what is cached, the cost);
* :mod:`~analysis.rerank.launch` and :mod:`~analysis.rerank.settings`: what a launch still
  lacks, and the backend's settings from the user's choices;
* :mod:`~analysis.rerank.budget` and :mod:`~analysis.rerank.ledger`: every attempt reserved
  at its worst case, the job's spend across runs;
* :mod:`~analysis.rerank.execute`: the job (send within the budget, resume);
* :mod:`~analysis.rerank.batches`: batch mode (each Message Batch reserved, journalled,
  collected after a kill);
* :mod:`~analysis.rerank.parsing` (with :mod:`~analysis.rerank.title_match`) and
  :mod:`~analysis.rerank.answers`: answers read without trusting the model;
* :mod:`~analysis.rerank.explain`: one stored call, why one user gained or lost.
"""
