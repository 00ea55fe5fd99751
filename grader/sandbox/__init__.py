"""Sandbox backends: where an entry runs, isolated from the worker and the hidden data.

`get_backend(name)` returns a backend; see `grader.sandbox.base` for the interface.
"""

from grader.sandbox.base import Backend, Job, RunResult, SandboxLimits, Session, get_backend

__all__ = ["Backend", "Job", "RunResult", "SandboxLimits", "Session", "get_backend"]
