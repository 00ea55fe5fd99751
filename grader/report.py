"""The grading report: what the platform records and shows, JSON-serialisable both ways."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("scored", "failed", "timeout", "oom", "invalid_output", "rejected")


def clean_json(value: Any) -> Any:
    """A copy with NaN and infinities replaced by None, numpy scalars made plain."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalar
        return clean_json(value.item())
    return str(value)


@dataclass
class Receipt:
    grader_version: str
    lab_spec_hash: str
    dataset_name: str
    dataset_checksum: str
    dataset_verified: bool
    seeds_id: str | None
    backend: str
    isolation: str
    image_digest: str | None
    hardware: str
    wall_time_s: float
    peak_memory_mb: float
    started_at: str
    finished_at: str


@dataclass
class PrivateSession:
    """How the private split's own sandbox session went (interactive labs).

    Whatever the entry did there (its log, how it ended, its time and memory) is withheld
    from the student until the private split is revealed to them; `Report.status`, `logs`
    and the receipt describe only what they may see before then. `status` is "scored" or the
    failure status the private episodes would have earned (then the run has no private
    metrics)."""

    status: str
    reason: str = ""
    logs: str = ""
    wall_time_s: float = 0.0
    peak_memory_mb: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


@dataclass
class Report:
    status: str
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    split_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    logs: str = ""
    receipt: Receipt | None = None
    # Interactive labs: the private split's session, withheld from students until the reveal.
    private_session: PrivateSession | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def scored(self) -> bool:
        return self.status == "scored"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = {k: v for k, v in d["metrics"].items() if math.isfinite(v)}
        d["split_metrics"] = {
            s: {k: v for k, v in m.items() if math.isfinite(v)}
            for s, m in d["split_metrics"].items()
        }
        cleaned: dict[str, Any] = clean_json(d)
        return cleaned

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        receipt = d.get("receipt")
        private = d.get("private_session")
        return cls(
            status=d["status"],
            reason=d.get("reason", ""),
            metrics={k: float(v) for k, v in (d.get("metrics") or {}).items()},
            split_metrics={
                s: {k: float(v) for k, v in m.items()}
                for s, m in (d.get("split_metrics") or {}).items()
            },
            details=dict(d.get("details") or {}),
            logs=d.get("logs", ""),
            receipt=Receipt(**receipt) if receipt else None,
            private_session=PrivateSession(**private) if private else None,
        )
