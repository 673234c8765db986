"""Item embeddings on the command line: ``embed`` a workspace dataset's catalogue with one
encoder (or only its dry run), cached in the workspace, its one-off cost recorded."""

from __future__ import annotations

from analysis.errors import AnalysisError

NEEDS_MODEL = "The {encoder} encoder needs --model ({what})."
NEEDS_BASE_URL = "The openai encoder needs --base-url (e.g. http://localhost:8000/v1)."


def encoder_config(args) -> dict:
    """``make_encoder`` settings from the flags."""
    if args.encoder == "tfidf":
        return {"dim": 64 if args.dim is None else args.dim, "seed": args.seed}
    if not args.model:
        what = "a local model folder" if args.encoder == "transformers" else "the served model"
        raise AnalysisError(NEEDS_MODEL.format(encoder=args.encoder, what=what))
    if args.encoder == "transformers":
        return {"model": args.model, "batch_size": args.batch_size,
                "max_length": args.max_length, "gpu_usd_per_hour": args.gpu_usd_per_hour,
                "device": args.device}  # fmt: skip
    if not args.base_url:
        raise AnalysisError(NEEDS_BASE_URL)
    return {"model": args.model, "base_url": args.base_url, "dim": args.dim,
            "batch_size": args.batch_size, "usd_per_mtok": args.usd_per_mtok,
            "seed": args.seed}  # fmt: skip


def _plan_lines(plan) -> list[str]:
    return [
        f"encoder {plan.encoder_id}",
        (
            f"{plan.n_items} items, {plan.n_texts} distinct texts: {plan.n_cached} cached, "
            f"{plan.n_to_encode} to encode"
        ),
        (
            f"~{plan.tokens} tokens, ~{plan.seconds:.1f} s at {plan.tokens_per_s:g} tokens/s, "
            f"~${plan.cost_usd:.4f} one-off for the catalogue ({plan.pricing})"
        ),
    ]


def run_embed(args) -> int:
    from analysis.cli.data import open_workspace
    from analysis.embeddings import EmbeddingStore, embed_items, plan_embedding
    from analysis.ingest import load_dataset
    from models.encoders import make_encoder

    config = encoder_config(args)
    workspace = open_workspace(args)
    bars = args.bars
    bars("load", 0.0, args.dataset)
    dataset = load_dataset(workspace, args.dataset)
    encoder = make_encoder(args.encoder, **config)
    store = EmbeddingStore(workspace)
    kw = {"max_chars": args.item_chars, "tokens_per_s": args.tokens_per_s}
    if args.dry_run:
        plan = plan_embedding(dataset, encoder, store, **kw)
        bars.close(clear=True)
        print(f"dry run of {dataset.name}: nothing encoded")
        for line in _plan_lines(plan):
            print(line)
        return 0
    bars("embed", 0.0, args.encoder)
    done = embed_items(dataset, encoder, store, **kw)
    bars.close(clear=True)
    for line in _plan_lines(done.plan):
        print(f"planned: {line}")
    u = done.usage
    print(
        f"embedded {dataset.name}: {done.vectors.shape[0]} items x {done.dim} dims; encoded "
        f"{u.texts} texts ({u.tokens} tokens, {u.seconds:.2f} s, {u.calls} calls), "
        f"reused {done.plan.n_cached} cached"
    )
    print(
        f"cost ${done.cost_usd:.4f} this run; one-off catalogue cost with this encoder "
        f"${done.catalogue_cost_usd:.4f} (per catalogue, not per user)"
    )
    return 0
