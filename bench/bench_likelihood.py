"""Likelihood-mode scoring before and after reusing the prompt's key/value cache, on the CPU.

Builds the tiny random-weight Llama of ``tests/models/llm/tiny_llama.py`` (2 layers, width 48,
byte-level BPE trained on the fly; nothing is downloaded), renders ``--users`` reranking
prompts (a rated history of ``--history`` items and the ``--candidates`` candidate titles,
both varying a little per user) and times ``TransformersBackend.score()`` on the candidate
titles: the code path the app's likelihood mode runs.

Figures per path:
  * tokens fed: unpadded tokens the model reads (``stats()["prompt_tokens"]``): before, prompt
    + candidate once per (user, candidate) pair; after, each prompt once plus each
    candidate's tokens but its last;
  * users/s: users / wall seconds of one ``score()`` call over all users (median of
    ``--repeats``, after one untimed warm-up user);
  * max |score difference| between the two paths over all pairs.

The "before" path is the backend of another source tree (``--old-tree DIR``, e.g. HEAD before
the change exported with ``git archive <commit> models analysis | tar -x -C DIR``): this script
runs itself on that tree in a subprocess, on the same model folder and prompts. Without
``--old-tree`` only the current tree is measured.

Usage:
    python bench/bench_likelihood.py [--users 50] [--candidates 20] [--history 20]
        [--batch-size 16] [--repeats 3] [--threads 1] [--old-tree DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SYSTEM = (
    "You are a movie recommender. Rank ALL candidates from the one the user is most likely "
    "to enjoy to the least likely. Answer with the candidate numbers only."
)
_ADJ = ("Silent", "Neon", "Golden", "Broken", "Hidden", "Last", "Red", "Frozen", "Wild", "Dark")
_NOUN = ("Harbor", "Heist", "River", "Empire", "Garden", "Signal", "Road", "Crown", "Storm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--candidates", type=int, default=20)
    p.add_argument("--history", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (both paths)")
    p.add_argument("--old-tree", help="source tree of the 'before' backend")
    p.add_argument("--worker", nargs=2, metavar=("MODEL_DIR", "OUT_JSON"), help=argparse.SUPPRESS)
    p.add_argument("--tree", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def title(i: int) -> str:
    return f"The {_ADJ[i % 10]} {_NOUN[(i * 7) % 9]} ({1950 + (i * 13) % 70})"


def workload(users: int, candidates: int, history: int):
    """Deterministic (system, user text, candidate titles) per user; lengths vary by user."""
    out = []
    for u in range(users):
        hist = "; ".join(
            f"[{j}] {title(u * 31 + j)} rated {1 + (u + j) % 5}/5"
            for j in range(history + u % 5)
        )
        cands = [f"[{c}] {title(u * 17 + c * 3 + 1)}" for c in range(candidates)]
        out.append((f"History: {hist}\nCandidates: {' '.join(cands)}\nRank them.", cands))
    return out


def worker(args: argparse.Namespace) -> int:
    """Measure one tree's backend; writes figures and scores as JSON."""
    if args.tree:
        sys.path.insert(0, str(Path(args.tree).resolve()))
    import torch

    torch.set_num_threads(args.threads)
    from models.llm.protocol import LLMRequest
    from models.llm.transformers import TransformersBackend

    model_dir, out_json = args.worker
    b = TransformersBackend(model_dir, device="cpu", batch_size=args.batch_size,
                            max_input_tokens=100_000)
    work = workload(args.users, args.candidates, args.history)
    reqs = [LLMRequest(SYSTEM, text, key=f"u{u}") for u, (text, _) in enumerate(work)]
    cands = [c for _, c in work]
    b.score(reqs[:1], cands[:1])  # warm-up, untimed
    walls, scores, fed = [], None, 0
    for _ in range(args.repeats):
        b.reset_stats()
        t0 = time.perf_counter()
        scores = b.score(reqs, cands)
        walls.append(time.perf_counter() - t0)
        fed = b.stats()["prompt_tokens"]
    wall = statistics.median(walls)
    Path(out_json).write_text(json.dumps({
        "module": sys.modules["models.llm.transformers"].__file__,
        "prompt_tokens": sum(b.count_tokens(reqs)),
        "fed": fed, "wall": wall, "users_per_s": len(reqs) / wall,
        "scores": [float(x) for s in scores for x in s],
    }))  # fmt: skip
    return 0


def run_tree(args, model_dir: Path, out: Path, tree: str | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(model_dir), str(out)]
    for flag in ("users", "candidates", "history", "batch_size", "repeats", "threads"):
        cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if tree:
        cmd += ["--tree", tree]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    subprocess.run(cmd, check=True, env=env, cwd=tree or REPO)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    sys.path.insert(0, str(REPO))
    import numpy as np
    import torch

    from tests.models.llm.tiny_llama import build_tiny_llama

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_llama(Path(tmp) / "tiny")
        if args.old_tree:
            rows.append(("before (per pair)", run_tree(args, model_dir, Path(tmp) / "old.json",
                                                       args.old_tree)))
        rows.append(("after (prompt cache)", run_tree(args, model_dir, Path(tmp) / "new.json",
                                                      None)))
    n = args.users
    print(f"Likelihood scoring, tiny random Llama (2 layers, width 48), CPU, {n} users x "
          f"{args.candidates} candidates, batch size {args.batch_size}, "
          f"{args.threads} torch thread(s), median of {args.repeats}.\n")
    print("| path | prompt tokens | tokens fed | tokens fed / user | seconds | users/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['prompt_tokens']:,} | {r['fed']:,} | {r['fed'] / n:,.0f} | "
              f"{r['wall']:.3f} | {r['users_per_s']:.1f} |")
    if len(rows) == 2:
        a, b = (np.array(r["scores"]) for _, r in rows)
        print(f"\nmax |score difference|: {np.abs(a - b).max():.2e} (largest |score| "
              f"{np.abs(a).max():.1f}); tokens fed x{rows[0][1]['fed'] / rows[1][1]['fed']:.2f}"
              f" fewer, users/s x{rows[1][1]['users_per_s'] / rows[0][1]['users_per_s']:.2f}")
        print(f"before: {rows[0][1]['module']}")
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, torch {torch.__version__}")
    print("Command: python bench/bench_likelihood.py " + shlex.join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
