"""Sample against full (issue 13, point 3): one full pipeline run on a synthetic population and
runs over stratified user samples of it, with their design-based intervals.

    .venv/bin/python bench/bench_sample.py --users 1000000 --fractions 0.01,0.1 --model als

Prints one JSON line per run (seconds per stage, NDCG@10 and the weak users with their
intervals, the activity groups' means and intervals) and the process's peak RSS; the full
record goes to ``--out`` (default ``bench/out/sample_<users>.json``). Figures recorded in
``docs/benchmarks.md`` ("Sample against full").
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.ingest import dataset_from_frames  # noqa: E402
from analysis.ingest.synthetic import generate_synthetic  # noqa: E402
from analysis.pipeline import EvaluateConfig, run_pipeline  # noqa: E402
from analysis.subgroups.sampling import SampleConfig  # noqa: E402

GROUP_COLUMNS = ["group", "size", "mean", "ci_low", "ci_high"]


def _rounded(timings: dict) -> dict:
    return {stage: round(seconds, 1) for stage, seconds in timings.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--fractions", default="0.01,0.1")
    parser.add_argument("--model", default="als")
    parser.add_argument("--by", default="activity,mainstream", help="strata dimensions")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    syn = generate_synthetic(args.users, args.items, seed=0, mean_interactions=12.0)
    ds = dataset_from_frames(syn.interactions, syn.users, syn.items, name="bench")
    print(f"generated {ds.n_users:,} users, {ds.n_interactions:,} interactions in "
          f"{time.perf_counter() - started:.1f} s", flush=True)

    def run(sample):
        t0 = time.perf_counter()
        result = run_pipeline(ds, EvaluateConfig(model=args.model, k=10, split="random", seed=0,
                                                 sample=sample))
        return result, time.perf_counter() - t0

    full, seconds = run(None)
    overall = full.evaluation.overall()
    record = {"n_users": ds.n_users, "n_interactions": ds.n_interactions, "model": args.model}
    record["full"] = {
        "seconds": round(seconds, 1), "timings": _rounded(full.timings),
        "ndcg@10": overall["ndcg@10"], "n_evaluated": overall["n_evaluated"],
        "n_weak": full.weak.n_weak,
        "activity": full.subgroups[0].by_group[GROUP_COLUMNS].to_dict("records"),
    }
    print(json.dumps(record["full"], default=float), flush=True)
    by = tuple(d.strip() for d in args.by.split(",") if d.strip())
    for fraction in (float(f) for f in args.fractions.split(",")):
        result, seconds = run(SampleConfig(fraction=fraction, by=by, seed=0))
        figures = result.sample.to_json()
        figures.pop("strata")
        groups = result.subgroups[0].by_group[[*GROUP_COLUMNS, "ci_half_width"]]
        record[f"sample_{fraction}"] = {"fraction": fraction, "seconds": round(seconds, 1),
                                        "timings": _rounded(result.timings), **figures,
                                        "activity": groups.to_dict("records")}
        print(json.dumps(record[f"sample_{fraction}"], default=float), flush=True)
    record["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps({"peak_rss_gb": record["peak_rss_gb"]}))
    out = args.out or Path(__file__).parent / "out" / f"sample_{args.users}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, default=float, indent=1))
    return record


if __name__ == "__main__":
    main()
