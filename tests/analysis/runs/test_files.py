"""Tests of analysis/runs/files.py: a writer killed mid-write leaves no partial run folder
behind, and one killed between the renames gets its previous output back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from analysis.runs import files as run_files
from tests.analysis._fixtures_ingest import write

REPO = Path(__file__).resolve().parents[3]


KILLED_WRITER = """
import os, signal, sys
from analysis.runs.files import atomic_folder
with atomic_folder(sys.argv[1]) as tmp:
    (tmp / "per_user.parquet").write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_partial_folders_of_a_killed_writer_are_removed_on_the_next_start(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(out)], env=env)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".run.partial-{proc.pid}-")
    live = tmp_path / f".run.partial-{os.getpid()}-abcdefgh"  # a concurrent write: kept
    live.mkdir()
    with run_files.atomic_folder(out) as tmp:
        (tmp / "summary.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "run"]
    assert [p.name for p in out.iterdir()] == ["summary.json"]


def test_a_writer_killed_between_the_renames_gets_its_previous_output_back(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid now gone
    dead.wait()
    old = tmp_path / f".run.old-{dead.pid}-abcdefgh"
    write(old / "run" / "summary.json", "{}")
    partial = tmp_path / f".run.partial-{dead.pid}-ijklmnop"
    write(partial / "summary.json", '{"half": true}')
    removed = run_files.clean_stale_partials(tmp_path / "run")
    assert sorted(p.name for p in removed) == sorted([old.name, partial.name])
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert (tmp_path / "run" / "summary.json").read_text() == "{}"
