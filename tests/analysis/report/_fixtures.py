"""Helpers of the report tests: the fixed timestamp and the report's visible text."""

from __future__ import annotations

import re
from datetime import datetime

WHEN = datetime(2026, 1, 2, 3, 4, 5)


def visible_text(html: str) -> str:
    """The report's visible text: no scripts (plotly's data), no styles, no tags."""
    html = re.sub(r"<script.*?</script>|<style.*?</style>", "", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
