"""A small evaluated run for the rerank tests: a synthetic dataset through the real CLI."""

from __future__ import annotations

from pathlib import Path

from analysis.cli import main


def build_run(root: Path, *, users: int, items: int, seed: int, with_users: bool) -> Path:
    """``synth`` then ``evaluate`` into ``root``; returns the run folder."""
    data, run = root / "data", root / "run"
    assert main(["--quiet", "synth", "--users", str(users), "--items", str(items), "--seed",
                 str(seed), "--out", str(data)]) == 0
    side = ["--users", str(data / "users.parquet")] if with_users else []
    assert main(["--quiet", "evaluate", "--interactions", str(data / "interactions.parquet"),
                 "--items", str(data / "items.parquet"), *side,
                 "--workspace", str(root / "ws.duckdb"), "--out", str(run)]) == 0
    return run
