"""Tests of analysis/jobs/status.py: a job's stage in words, and whether the process that
owns a job row still runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from analysis.jobs.status import JobStatus, owner_alive, process_start


def test_the_stage_of_an_ended_job_says_how_it_ended():
    assert JobStatus("j", "baseline", "t", state="running", message="").stage == "starting"
    assert JobStatus("j", "baseline", "t", state="failed", message="fit",
                     error="no rating column").stage == "failed: no rating column"
    assert JobStatus("j", "baseline", "t", state="done", message="saving the run",
                     detail={"note": "run r1 kept"}).stage == "done: run r1 kept"
    assert JobStatus("j", "rerank", "t", state="cancelled", message="3/9 users").stage == (
        "cancelled")




def test_the_owner_of_a_row_is_alive_only_while_its_process_runs():
    me = os.getpid()
    host = socket.gethostname()
    assert owner_alive(me, host, process_start(me))
    assert owner_alive(me, host, None)  # rows written before start times were recorded
    assert not owner_alive(None, host, None)  # rows written before owners were recorded
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not owner_alive(proc.pid, host, None)  # ended and reaped


def test_a_reused_pid_is_not_the_job_s_process_and_other_hosts_are_trusted():
    me = os.getpid()
    start = process_start(me)
    if start is not None:  # /proc available: the start time tells a reused PID apart
        assert not owner_alive(me, socket.gethostname(), str(int(start) + 1))
    assert owner_alive(me, "another-host-" + socket.gethostname(), "0")
