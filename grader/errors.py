"""Exceptions shared by the grading engine.

`PlatformError` is the platform's fault (the worker refunds or retries); `EntryRejected` is
the student's (raised before anything runs); `GradingCancelled` means staff stopped a run.
"""


class GraderError(Exception):
    """Base class of every error the grader raises on purpose."""


class PlatformError(GraderError):
    """Grading could not happen for a reason that is not the entry's fault."""


class SpecError(PlatformError):
    """A lab spec is missing or malformed."""


class EntryRejected(GraderError):
    """The uploaded entry is refused before it runs; `reason` is shown to the student."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GradingCancelled(GraderError):
    """The caller's cancel check asked to stop; nothing is scored and nothing is retried."""
