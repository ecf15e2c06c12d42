"""A small error hierarchy whose messages say what failed, where, and how to fix it.

The CLI turns any `HarnessError` into a one-line message and exit code 2; everything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A user-facing error: bad input, bad config, unreachable model. Exit code 2, no traceback."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(f"{message} ({fix})" if fix else message)


class ConfigError(HarnessError):
    """An experiment file or a `key=value` override is wrong."""


class InputError(HarnessError):
    """A data file is missing, malformed or lacks a field."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None, fix: str | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        self.path = path
        self.line = line
        super().__init__(where + message, fix=fix)


class BackendError(HarnessError):
    """A model backend cannot be created or a model cannot be reached."""


class StageError(HarnessError):
    """A stage failed; its finished work stays on disk for the next run."""
