"""The imported-run tests' module fixture (built by ``_fixtures.build_external``)."""

from __future__ import annotations

import pytest

from tests.analysis.external._fixtures import External, build_external


@pytest.fixture(scope="module")
def ext(tmp_path_factory) -> External:
    return build_external(tmp_path_factory.mktemp("ext"))
