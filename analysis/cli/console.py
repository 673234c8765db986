"""What the command line prints besides its results: exit codes, progress bars on stderr, and
library warnings said once each."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Self

EXIT_USER_ERROR = 2

#: a rerank that left weak users without an answer (the cap, failures): outputs written
EXIT_INCOMPLETE = 3


class SaidOnce:
    """Library warnings (``logging`` records at WARNING and above, ``warnings.warn``) said
    once each on stderr as ``warning: ...``: a repeat of the same warning is counted, not
    printed, and the count is said in one line when the command ends, before its error
    line, so a failing command's error stays the last line it prints."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], int] = {}
        self.first: dict[tuple[str, str], str] = {}
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = self._emit  # type: ignore[method-assign]
        self._showwarning = warnings.showwarning

    def __enter__(self) -> Self:
        logging.getLogger().addHandler(self.handler)
        warnings.showwarning = self._show
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self.handler)
        warnings.showwarning = self._showwarning

    def _say(self, key: tuple[str, str], text: str) -> None:
        count = self.seen.get(key, 0)
        self.seen[key] = count + 1
        if count == 0:
            self.first[key] = " ".join(text.split())
            print(f"warning: {self.first[key]}", file=sys.stderr)

    def _emit(self, record: logging.LogRecord) -> None:
        self._say((record.name, str(record.msg)), record.getMessage())

    def _show(self, message, category, filename, lineno, file=None, line=None) -> None:
        self._say((category.__name__, str(message)), str(message))

    def flush(self) -> None:
        """Say how often each repeated warning came back (once per warning)."""
        for key, n in self.seen.items():
            if n > 1:
                like = self.first[key]
                like = like if len(like) <= 60 else like[:57] + "..."
                print(f"warning: {n - 1:,} more like '{like}' not shown", file=sys.stderr)
        self.seen = {k: 1 for k in self.seen}


class ProgressBars:
    """One tqdm bar per stage, on stderr, when stderr is a terminal (and not ``--quiet``)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.bar = None
        self.stage = None

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            if stage == "done":
                return
            self.stage = stage
            self.bar = tqdm(
                total=1000,
                desc=stage,
                file=sys.stderr,
                leave=True,
                bar_format="{desc:<10} {percentage:3.0f}%|{bar:30}| {elapsed} {postfix}",
            )
        self.bar.n = int(round(1000 * max(0.0, min(1.0, fraction))))
        self.bar.set_postfix_str(message, refresh=False)
        self.bar.refresh()

    def close(self, clear: bool = False) -> None:
        if self.bar is not None:
            if clear:
                self.bar.leave = False
            self.bar.close()
            self.bar = None
        self.stage = None
