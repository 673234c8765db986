"""An LLM4MSR-style remedy: frozen-LLM knowledge of each scenario and each user (encoded once,
cached) conditions a small rescoring head over the baseline's top-C candidates, against the
same head with learned ids (the no-LLM control) and with random vectors (the check).
See docs/llm4msr.md for what is kept of the paper and what is left out."""

from analysis.remedies.msr._candidates import N_FEATURES, Candidates, build_candidates
from analysis.remedies.msr._knowledge import (
    NO_SCENARIOS,
    Knowledge,
    KnowledgePlan,
    KnowledgePrompts,
    build_prompts,
    encode_knowledge,
    plan_knowledge,
)
from analysis.remedies.msr._rescore import (
    HEADS,
    MsrHead,
    MsrRescore,
    rescore_scenarios,
    scenario_ndcg,
)
from analysis.remedies.msr._task import msr_task

__all__ = [
    "HEADS",
    "NO_SCENARIOS",
    "N_FEATURES",
    "Candidates",
    "Knowledge",
    "KnowledgePlan",
    "KnowledgePrompts",
    "MsrHead",
    "MsrRescore",
    "build_candidates",
    "build_prompts",
    "encode_knowledge",
    "msr_task",
    "plan_knowledge",
    "rescore_scenarios",
    "scenario_ndcg",
]
