"""The sandbox backend interface.

A job is a command, read-only mounts (the entry and the test inputs), one writable output
directory, limits and an allow-listed environment. Inside the sandbox each mount NAME is at
the path in environment variable `SANDBOX_<NAME>` and the output directory at `SANDBOX_OUT`;
`command[0] == "python"` means the sandbox's Python with the harness importable.

A backend runs a job to completion (`run`), or starts it as an interactive session whose
stdin/stdout carry length-prefixed frames (`start_session`). Either way the result says how
it ended: exit code, timed out, killed for memory, wall time, peak memory and a capped,
sanitised log. Backends never raise for the entry's misbehaviour, only `PlatformError` when
they cannot run at all.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import PlatformError
from grader.protocol import HEADER, MAX_FRAME, ProtocolError

# The only variables a job may pass into a sandbox (on top of the backend's own).
ALLOWED_ENV = frozenset(
    {
        "GRADER_TASK",
        "GRADER_INPUT_LAYOUT",
        "GRADER_CAMS",
        "GRADER_BATCH_SIZE",
        "GRADER_SEED",
        "CUDA_VISIBLE_DEVICES",
        "TF_CPP_MIN_LOG_LEVEL",
    }
)


@dataclass(frozen=True)
class SandboxLimits:
    wall_time_s: float
    memory_mb: int
    cpus: int = 1
    gpu: bool = False
    output_mb: int = 64  # also caps every file the sandbox writes, its log included
    max_processes: int = 1024  # threads count: TensorFlow starts many
    max_open_files: int = 512
    log_bytes: int = 64 * 1024


@dataclass(frozen=True)
class Job:
    command: tuple[str, ...]
    mounts: Mapping[str, Path]
    output_dir: Path
    limits: SandboxLimits
    env: Mapping[str, str] = field(default_factory=dict)
    # Host paths that must stay invisible inside (the hidden data, the platform's var/): both
    # backends show only what a job needs, and hide these even inside what they do show.
    deny_paths: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        bad = sorted(set(self.env) - ALLOWED_ENV)
        if bad:
            raise ValueError(f"environment variables not on the allow-list: {bad}")
        for name in self.mounts:
            if not name.isidentifier() or name.lower() != name or name == "out":
                raise ValueError(f"bad mount name {name!r}")


def check_mounts(job: Job) -> None:
    """Refuse a mount that would expose a denied path (the hidden labels) to the sandbox."""
    for name, src in job.mounts.items():
        real = Path(src).resolve()
        for deny in job.deny_paths:
            d = Path(deny).resolve()
            if real == d or real in d.parents:
                raise PlatformError(f"mount {name!r} ({real}) would expose the denied path {d}")


@dataclass
class RunResult:
    exit_code: int | None
    timed_out: bool
    oom: bool
    wall_time_s: float
    peak_memory_mb: float
    log: str
    # Why the entry's output folder was refused (too deep, too many files, too big...), if it
    # was: the entry's fault, reported as invalid_output. See grader.outputs.
    output_error: str | None = None


class SessionClosed(Exception):
    """The sandboxed program ended or closed its side of the channel."""


class SessionTimeout(Exception):
    """No complete frame arrived within the time allowed."""


class Session(ABC):
    @abstractmethod
    def send(self, payload: bytes, timeout_s: float) -> None:
        """Send one frame (already encoded with its length prefix)."""

    @abstractmethod
    def _read_exact(self, n: int, deadline: float) -> bytes:
        """Exactly n bytes from the sandbox by `deadline` (time.monotonic()); raises
        SessionTimeout or SessionClosed."""

    def recv(self, timeout_s: float) -> bytes:
        """One frame's payload; raises SessionTimeout, SessionClosed or ProtocolError."""
        deadline = time.monotonic() + timeout_s
        (length,) = HEADER.unpack(self._read_exact(HEADER.size, deadline))
        if length == 0 or length > MAX_FRAME:
            raise ProtocolError(f"frame length {length} out of bounds")
        return self._read_exact(length, deadline)

    @abstractmethod
    def close(self) -> RunResult:
        """End the sandbox (killing it if needed) and return how it went."""


class Backend(ABC):
    name: str
    isolation: str  # how strong the isolation is, in words, for the receipt
    image_digest: str | None = None

    @abstractmethod
    def run(self, job: Job, on_tick: Callable[[], None] | None = None) -> RunResult:
        """Run to completion. `on_tick` is called about once a second; if it raises, the
        sandbox is killed and the exception propagates (that is how cancelling works)."""

    @abstractmethod
    def start_session(self, job: Job) -> Session:
        """Start the job with its stdin/stdout as a framed channel to the caller."""

    def describe(self) -> dict[str, str]:
        return {"backend": self.name, "isolation": self.isolation}


def get_backend(name: str, image: str | None = None) -> Backend:
    """`image` pins the sandbox image (e.g. a re-grade's "tag@sha256:…"); process ignores it."""
    if name == "process":
        from grader.sandbox.process import ProcessBackend

        return ProcessBackend()
    if name == "docker":
        try:
            from grader.sandbox.docker import DockerBackend
        except ImportError as exc:
            raise PlatformError("the docker sandbox backend is not available here") from exc
        return DockerBackend(pinned_image=image or None)
    raise PlatformError(f"unknown sandbox backend {name!r} (known: process, docker)")
