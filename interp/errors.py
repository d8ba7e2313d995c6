"""The one exception type for problems a user can fix.

Everything interp refuses because of its input (a missing file, an unknown hook, a width mismatch)
raises `InterpError`. The command line prints it on one line and exits with status 2; anything else
that escapes is a bug in interp and keeps its traceback.
"""

from __future__ import annotations


class InterpError(Exception):
    """A problem with the caller's input, stated with how to fix it.

    >>> raise InterpError("no model at 'x/'", fix="pass a Hugging Face directory or a .bin checkpoint")
    Traceback (most recent call last):
    interp.errors.InterpError: no model at 'x/'; pass a Hugging Face directory or a .bin checkpoint
    >>> err = InterpError("no model at 'x/'", fix="pass a directory")
    >>> err.problem, err.fix
    ("no model at 'x/'", 'pass a directory')
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".") if fix else None
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.problem}; {self.fix}" if self.fix else self.problem
