"""The one error type of the engine.

Everything a user can fix (a missing column, a bad file, an unknown model, an empty
subgroup) raises :class:`AnalysisError` with a one-line message that says what is wrong,
where (file, row, column) and, where it helps, what to do. The CLI prints ``str(err)`` and
exits with code 2; the app shows it with ``st.error``. Anything else is a bug.
"""

from __future__ import annotations

__all__ = ["AnalysisError"]


class AnalysisError(Exception):
    """A user-fixable problem, worded for the user.

    Args:
        message: one line, no traceback jargon: what is wrong and where.
    """

    def __init__(self, message: str) -> None:
        message = " ".join(str(message).split())  # always exactly one line
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
