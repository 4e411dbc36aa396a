"""One root for every error trailhound raises on purpose.

The CLI turns any `TrailhoundError` into a one-line message on stderr and exit code 2;
anything else is a bug and keeps its traceback (with `--debug`). Each stage has its own
subclass so callers can tell a bad log object from a bad rule from a broken store, and each
error can carry a location (a file path, `path:line`, or an S3 key) for the message.
"""

from __future__ import annotations


class TrailhoundError(Exception):
    """Base of all expected errors: bad usage, bad input, unreadable store."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class UsageError(TrailhoundError):
    """The command line asks for something impossible (missing path, bad option value)."""


class SourceError(TrailhoundError):
    """A log source cannot be listed or read at all (not: one bad file, which is quarantined)."""


class StoreError(TrailhoundError):
    """The store is missing, locked, from an incompatible version, or cannot be written."""


class RuleError(TrailhoundError):
    """A rule file cannot be parsed, validated or compiled."""


class CorrelateError(TrailhoundError):
    """Alerts cannot be correlated (for example the store lacks a needed column)."""


class ReportError(TrailhoundError):
    """A report cannot be rendered or written."""


class RespondError(TrailhoundError):
    """A containment step failed or cannot be planned."""
