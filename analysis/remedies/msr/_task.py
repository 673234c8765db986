"""The re-scorer as a background job (the Remedies page's): knowledge encoded (cached), the
three heads fitted and judged, the knowledge head and its id control saved under the run."""

from __future__ import annotations

from collections.abc import Callable

from analysis.runs.store import RUN_NOT_LISTED_YET, RunStore
from analysis.workspace import Workspace

__all__ = ["msr_task"]


def msr_task(workspace: Workspace, run_id: str, encoder: str, encoder_config: dict, *,
             target: str = "weak", seed: int = 0) -> Callable:
    """A job function (``fn(ctx) -> run_id | None``): cancel is honoured between stages
    (knowledge, heads, saving); nothing is saved when cancelled. The id control is saved
    first, so the knowledge head is the newest run."""
    from analysis.embeddings import EmbeddingStore
    from analysis.remedies.msr._knowledge import build_prompts, encode_knowledge
    from analysis.remedies.msr._rescore import rescore_scenarios
    from models.encoders import make_encoder
    from models.rescorer import HeadConfig

    def fn(ctx) -> str | None:
        store = RunStore(workspace)
        run = store.load_baseline(run_id)
        ctx.progress(0.0, f"scenario and user knowledge ({encoder})")
        knowledge = encode_knowledge(build_prompts(run.split), make_encoder(encoder,
                                     **encoder_config), EmbeddingStore(workspace),
                                     run.dataset.name)
        if ctx.cancelled:
            return None
        ctx.progress(0.5, "fitting the heads on validation")
        result = rescore_scenarios(run, knowledge, config=HeadConfig(seed=seed))
        if ctx.cancelled:
            return None
        ctx.progress(0.95, "saving the remedies")
        head, control = result.remedy_runs(run, target)
        last = None
        for remedy in (control, head):
            info = store.save_remedy(remedy, run_id, run.dataset)
            if not info.listed:
                note = RUN_NOT_LISTED_YET.format(run_id=info.run_id)
                ctx.progress(1.0, note, note=note)
            last = info.run_id
        return last

    return fn
