"""models/llm/registry.py: the backends by name, built lazily; the protocol knows none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import models.llm
from analysis.errors import AnalysisError
from models.llm import BACKEND_NAMES, UNKNOWN_BACKEND, make_backend, registry

REPO = Path(__file__).resolve().parents[3]


def test_the_package_reexports_the_registry():
    assert models.llm.make_backend is registry.make_backend
    assert BACKEND_NAMES == ("anthropic", "transformers", "openai")


@pytest.mark.parametrize("name", ["", "claude", "gpt-4", None])
def test_unknown_backend_is_an_analysis_error(name):
    with pytest.raises(AnalysisError) as err:
        make_backend(name)
    assert str(err.value) == UNKNOWN_BACKEND.format(name=name)


def test_names_are_case_insensitive():
    assert make_backend("FAKE", model="m").name == "fake"


def test_no_backend_package_is_imported_until_one_is_built():
    code = (
        "import sys, models.llm, models.llm.protocol\n"
        "from models.llm import make_backend\n"
        "loaded = {'anthropic', 'openai', 'transformers', 'torch'} & set(sys.modules)\n"
        "backends = [m for m in sys.modules if m.startswith('models.llm.') and m not in "
        "('models.llm.protocol', 'models.llm.registry')]\n"
        "print(sorted(loaded), backends)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "[] []"


def test_the_protocol_imports_no_backend():
    text = (REPO / "models" / "llm" / "protocol.py").read_text()
    for module in ("anthropic", "openai_compat", "transformers", "fake"):
        assert f"models.llm.{module}" not in text
