"""Time the generator at scale (not collected by pytest).

Usage: /usr/bin/time -v .venv/bin/python bench/synth_scale.py [n_users] [n_items] [mean]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.ingest.synthetic import generate_synthetic

if __name__ == "__main__":
    n_users = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n_items = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    mean = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    t = time.perf_counter()
    d = generate_synthetic(n_users, n_items, seed=0, mean_interactions=mean)
    dt = time.perf_counter() - t
    print(f"{n_users} users x {n_items} items -> {len(d.interactions)} interactions in {dt:.1f}s")
