"""The CLI says each warning once and keeps a failing command's error as its last line; a
dry run against a gateway without the token-count endpoint says so in one line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from analysis import cli
from analysis.errors import AnalysisError

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "models" / "rerankers"))
from tests.analysis._fixtures_rerank import build_run

KEY = "sk-ant-said-once-test"
MODEL = "claude-haiku-4-5"
COUNT_PATH = "/v1/messages/count_tokens"


def _noisy_command(args) -> int:
    log = logging.getLogger("models.llm.anthropic")
    for user in range(200):
        log.warning("token count failed for user %d: HTTP 404", user)
    warnings.simplefilter("always")  # Python itself would show it once per place
    for _ in range(3):
        warnings.warn("the run predates stored models; refitted", stacklevel=1)
    raise AnalysisError("A budget of $0.0000 cannot cover even one user.")


def test_warnings_are_said_once_and_the_error_is_last(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    monkeypatch.setitem(cli.COMMANDS, "datasets", _noisy_command)
    code = cli.main(["datasets", "list", "--workspace", str(tmp_path / "ws.duckdb")])
    err = capsys.readouterr().err.splitlines()
    assert code == cli.EXIT_USER_ERROR
    assert err[-1] == "error: A budget of $0.0000 cannot cover even one user."
    assert err[:2] == [
        "warning: token count failed for user 0: HTTP 404",
        "warning: the run predates stored models; refitted",
    ]
    assert len(err) == 5  # was 200 warnings (and the Python warning three times)
    assert err[2] == "warning: 199 more like 'token count failed for user 0: HTTP 404' not shown"
    assert err[3] == "warning: 2 more like 'the run predates stored models; refitted' not shown"
    # nothing stays installed after the command
    assert not any(isinstance(h, logging.Handler) and h.level == logging.WARNING
                   and getattr(h, "emit", None).__qualname__.startswith("_Warnings")
                   for h in logging.getLogger().handlers)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("said"), users=300, items=200, seed=5,
                     with_users=False)


def test_dry_run_without_count_endpoint_says_approximate_once(run_dir, tmp_path):
    pytest.importorskip("anthropic")
    from tests.models.llm.fake_servers import FakeAnthropicServer

    class NoCount(FakeAnthropicServer):
        def _route(self, handler, call):
            if call.path == COUNT_PATH:
                self._send_error(handler, 404, "not_found_error", "Not Found")
                return
            super()._route(handler, call)

    env = dict(os.environ, ANTHROPIC_API_KEY=KEY, PYTHONPATH=str(REPO))
    env.pop("ANTHROPIC_BASE_URL", None)
    with NoCount(api_key=KEY) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "analysis", "--quiet", "rerank", "--run", str(run_dir),
             "--backend", "anthropic", "--model", MODEL, "--base-url", server.url,
             "--dry-run", "--workspace", str(tmp_path / "ws.duckdb")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
        )
        asked = len(server.calls(COUNT_PATH))
    assert proc.returncode == 0, proc.stderr
    assert asked == 1  # was one call per weak user
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("input tokens:")]
    assert len(lines) == 1
    assert "(approximate: the count endpoint was unavailable (HTTP 404))" in lines[0]
    assert proc.stderr.strip() == ""
