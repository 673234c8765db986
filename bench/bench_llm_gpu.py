"""Throughput and cost of local LLM reranking on a GPU, through the product's backend.

Builds Llama-architecture models from a config with RANDOM weights directly on the GPU in
bfloat16 (throughput depends on shapes, not on weight values, so no download is needed), wraps
each in :class:`models.llm.transformers.TransformersBackend` (the code path the app runs), and
reranks synthetic weak users: 20 rated history items + 20 shuffled candidates with titles from
:func:`analysis.ingest.synthetic.generate_synthetic`, rendered through a Llama-3-like chat template and
tokenized by a byte-level BPE trained on the prompts (about 600-900 tokens per prompt).

Modes, at several batch sizes:
  * generate: ``complete()`` with ``max_new_tokens`` tokens forced per user (``min_new_tokens``,
    since a random model would otherwise stop at random);
  * likelihood: ``score()`` of the 20 candidate titles per user (each prompt read once, its
    candidates scored against the prompt's key/value cache).

Prints a markdown table (users/s, prompt and generated tokens/s, peak GPU memory, local $ per
1,000 users at ``--gpu-usd-per-hour``), the Anthropic price of the same prompts, the machine and
the command.

Usage:
    python bench/bench_llm_gpu.py [--sizes 1b,8b] [--users 1000] [--batch-sizes 8,32,64,128]
        [--max-new-tokens 100] [--max-batches 4] [--gpu-usd-per-hour 3.50] [--out FILE]
    python bench/bench_llm_gpu.py --tiny    # same code path, tiny model, CPU, seconds
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Llama-architecture shapes (vocab of Llama 3)
SHAPES = {
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, intermediate_size=8192, vocab_size=128256,
               tie_word_embeddings=True),
    "8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, intermediate_size=14336, vocab_size=128256,
               tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=128, vocab_size=2048,
                 tie_word_embeddings=False),
}
#: USD per million input / output tokens
ANTHROPIC_PRICES = {"claude-haiku-4-5": (1.0, 5.0), "claude-sonnet-4-5": (3.0, 15.0)}

SYSTEM = (
    "You are a movie recommender. Below are the movies a user rated (1-5) and a shuffled list "
    "of candidate movies. Rank ALL candidates from the one the user is most likely to enjoy to "
    "the least likely. Answer with the candidate numbers only, as a comma-separated list such "
    "as [3], [17], [0], ... Name nothing outside this list and add no explanation."
)
NO_CUDA = (
    "bench_llm_gpu.py needs a CUDA GPU (torch.cuda.is_available() is False here); "
    "run it on a GPU machine, or use --tiny to run the same code path on the CPU."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="GPU throughput and cost of local LLM reranking (random-weight Llama models)."
    )
    ap.add_argument("--sizes", default="1b,8b", help="comma list of: 1b, 8b (default 1b,8b)")
    ap.add_argument("--users", type=int, default=1000, help="synthetic weak users (1000)")
    ap.add_argument("--history", type=int, default=20, help="rated items per prompt (20)")
    ap.add_argument("--candidates", type=int, default=20, help="candidates per prompt (20)")
    ap.add_argument("--batch-sizes", default="8,32,64,128", help="comma list (8,32,64,128)")
    ap.add_argument("--max-new-tokens", type=int, default=100, help="tokens per answer (100)")
    ap.add_argument("--modes", default="generate,likelihood", help="generate,likelihood")
    ap.add_argument(
        "--max-batches", type=int, default=4,
        help="time at most this many batches per setting and extrapolate (0 = all users; 4)",
    )
    ap.add_argument("--gpu-usd-per-hour", type=float, default=3.50,
                    help="GPU price for the local cost (3.50, an H200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the markdown report here")
    ap.add_argument("--tiny", action="store_true",
                    help="tiny model on CPU (or GPU if present), small defaults: tests the script")
    args = ap.parse_args(argv)
    if args.tiny:
        args.sizes = "tiny"
    return args


def build_prompts(n_users: int, n_history: int, n_cand: int, seed: int):
    """Synthetic weak users' requests and candidate titles (history and candidates disjoint)."""
    import numpy as np

    from analysis.ingest.synthetic import generate_synthetic
    from models.llm.protocol import LLMRequest

    data = generate_synthetic(n_users=200, n_items=3000, seed=seed)
    items = data.items
    titles = items["title"].astype(str).to_numpy()
    genres = items["genres"].astype(str).str.replace("|", ", ").to_numpy()
    rng = np.random.default_rng(seed)
    # n_history + n_cand distinct items per user: argsort of random keys, vectorized
    picks = np.argsort(rng.random((n_users, len(titles))), axis=1)[:, : n_history + n_cand]
    ratings = rng.integers(1, 6, size=(n_users, n_history))
    hist, cand = picks[:, :n_history], picks[:, n_history:]
    requests, cand_titles = [], []
    for u in range(n_users):  # string formatting only; the timed work is batched
        lines = [f"- {titles[i]} ({genres[i]}): {r}/5" for i, r in zip(hist[u], ratings[u])]
        cands = [f"[{j}] {titles[i]} ({genres[i]})" for j, i in enumerate(cand[u])]
        user = (
            "Movies this user rated:\n" + "\n".join(lines)
            + "\n\nCandidates:\n" + "\n".join(cands)
            + "\n\nRank all candidates, best first."
        )
        requests.append(LLMRequest(SYSTEM, user, key=f"user-{u}"))
        cand_titles.append([str(titles[i]) for i in cand[u]])
    return requests, cand_titles


def build_tokenizer(requests, vocab_size: int):
    sys.path.insert(0, str(REPO / "tests" / "models" / "rerankers"))
    from tests.models.llm.tiny_llama import CHAT_TEMPLATE
    from tests.models.llm.tiny_llama import build_tokenizer as _build

    texts = [r.system for r in requests[:1]] + [r.user for r in requests[:300]]
    return _build(vocab_size=vocab_size, chat_template=CHAT_TEMPLATE, texts=texts)


def build_model(size: str, tokenizer, device: str, dtype):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    shape = dict(SHAPES[size])
    vocab = max(shape.pop("vocab_size"), len(tokenizer))
    config = LlamaConfig(
        vocab_size=vocab, max_position_embeddings=8192, rope_theta=500000.0,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **shape,
    )
    torch.manual_seed(0)
    with torch.device(device):  # weights are initialised on the device, never on the CPU
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval()


def run_setting(backend, mode, requests, cand_titles, batch_size, max_batches, max_new):
    """Time one (model, mode, batch size); returns a row dict (or one with 'error')."""
    from dataclasses import replace

    import torch

    n = len(requests)
    if max_batches > 0:  # users in max_batches batches (likelihood: batches of pairs)
        pairs_per_user = 1 if mode == "generate" else len(cand_titles[0])
        n = min(n, max(1, -(-max_batches * batch_size // pairs_per_user)))
    reqs = [replace(r, max_tokens=max_new) for r in requests[:n]]
    backend.batch_size = batch_size
    # warm-up (kernels, allocator) on one batch, not timed
    if mode == "generate":
        backend.complete(reqs[: min(batch_size, n)])
    else:
        backend.score(reqs[:1], cand_titles[:1])
    backend.reset_stats()
    t0 = time.perf_counter()
    try:
        if mode == "generate":
            got = backend.complete(reqs)
            failed = [c.error for c in got if not c.ok]
            if failed:
                return {"error": failed[0]}
        else:
            backend.score(reqs, cand_titles[:n])
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        return {"error": "out of memory"}
    wall = time.perf_counter() - t0
    s = backend.stats()
    return {
        "users": n,
        "wall_s": wall,
        "users_per_s": n / wall,
        "prompt_tok_s": s["prompt_tokens"] / wall,
        "gen_tok_s": s["generated_tokens"] / wall,
        "peak_gb": s["peak_gpu_mem_gb"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not args.tiny and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    import numpy as np
    import transformers

    from models.llm.transformers import TransformersBackend

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    for s in sizes:
        if s not in SHAPES:
            raise SystemExit(f"unknown size {s!r}: choose from {', '.join(SHAPES)}")

    t0 = time.perf_counter()
    requests, cand_titles = build_prompts(args.users, args.history, args.candidates, args.seed)
    # a 1,000-token BPE gives ~720-token prompts (~2.7 characters per token), on the
    # conservative side of a 128k-vocab Llama tokenizer, so the work is not understated
    tokenizer = build_tokenizer(requests, vocab_size=512 if args.tiny else 1000)
    probe = TransformersBackend.from_loaded(
        build_model("tiny", tokenizer, "cpu", torch.float32), tokenizer
    )
    prompt_tokens = np.array(probe.count_tokens(requests))
    title_tokens = np.array(
        [len(x) for x in tokenizer([t for c in cand_titles for t in c],
                                   add_special_tokens=False)["input_ids"]]
    )
    del probe
    setup_s = time.perf_counter() - t0

    rows = []
    for size in sizes:
        t1 = time.perf_counter()
        model = build_model(size, tokenizer, device, dtype)
        n_params = sum(p.numel() for p in model.parameters())
        init_s = time.perf_counter() - t1
        backend = TransformersBackend.from_loaded(
            model, tokenizer, name_or_path=f"random-llama-{size}",
            max_input_tokens=8192, seed=args.seed, gpu_usd_per_hour=args.gpu_usd_per_hour,
            min_new_tokens=args.max_new_tokens,
        )
        print(f"{size}: {n_params / 1e9:.2f}B parameters initialised in {init_s:.1f} s",
              file=sys.stderr)
        for mode in modes:
            for bs in batch_sizes:
                row = run_setting(backend, mode, requests, cand_titles, bs, args.max_batches,
                                  args.max_new_tokens)
                row.update(size=size, mode=mode, batch=bs)
                rows.append(row)
                print(f"  {mode} batch {bs}: {row}", file=sys.stderr)
        del backend, model
        if cuda:
            torch.cuda.empty_cache()

    # --- report -----------------------------------------------------------------------------
    usd_h = args.gpu_usd_per_hour
    lines = [
        "# Local LLM reranking throughput (random-weight Llama models)",
        "",
        "Weights are RANDOM: throughput depends on the model's shapes, not on its weight values, "
        f"so these numbers hold for a trained model of the same shape. Generation forces "
        f"{args.max_new_tokens} new tokens per user (min_new_tokens); likelihood scores "
        f"{args.candidates} candidate titles per user (batch = user x candidate pairs).",
        "",
        f"- Prompts: {args.users} synthetic weak users, {args.history} rated items + "
        f"{args.candidates} candidates; prompt tokens mean {prompt_tokens.mean():.0f} "
        f"(min {prompt_tokens.min()}, max {prompt_tokens.max()}); candidate title tokens mean "
        f"{title_tokens.mean():.1f} (byte-level BPE trained on the prompts, vocab "
        f"{len(tokenizer)}).",
        f"- Timed: at most {args.max_batches or 'all'} batches per setting (users column), "
        f"extrapolated to 1,000 users; setup {setup_s:.1f} s.",
        "",
        f"| model | mode | batch | users timed | users/s | prompt tok/s | generated tok/s "
        f"| peak GPU GB | local $ / 1k users @ ${usd_h:.2f}/h |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['size']} | {r['mode']} | {r['batch']} |"
        if "error" in r:
            lines.append(f"{head} {r['error']} | | | | | |")
            continue
        peak = "-" if r["peak_gb"] is None else f"{r['peak_gb']:.1f}"
        usd = usd_h * (1000 / r["users_per_s"]) / 3600
        lines.append(
            f"{head} {r['users']} | {r['users_per_s']:.2f} | {r['prompt_tok_s']:,.0f} | "
            f"{r['gen_tok_s']:,.0f} | {peak} | {usd:.3f} |"
        )
    in_tok = prompt_tokens.mean() * 1000
    out_tok = args.max_new_tokens * 1000
    lines += [
        "",
        f"Anthropic, same prompts (generation mode; {in_tok:,.0f} input + {out_tok:,.0f} output "
        "tokens per 1,000 users as counted by this BPE, Claude's tokenizer differs; no batch "
        "discount, no prompt caching):",
        "",
        "| model | $ / M input | $ / M output | $ / 1k users |",
        "|---|---|---|---|",
    ]
    for name, (p_in, p_out) in ANTHROPIC_PRICES.items():
        usd = (in_tok * p_in + out_tok * p_out) / 1e6
        lines.append(f"| {name} | {p_in:.2f} | {p_out:.2f} | {usd:.3f} |")
    gpu = torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.processor() or 'cpu'})"
    lines += [
        "",
        f"Machine: {gpu}; torch {torch.__version__}, transformers {transformers.__version__}, "
        f"python {platform.python_version()}, dtype {str(dtype).removeprefix('torch.')}.",
        "",
        "Command: `python " + " ".join(shlex.quote(a) for a in ["bench/bench_llm_gpu.py",
                                                             *sys.argv[1:]]) + "`",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
