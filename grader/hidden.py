"""Locating and verifying a lab's hidden data set (layout: docs/hidden-data.md).

The checksum is the SHA-256 of the sorted "<relpath> <sha256>" lines of every file under
`inputs/` and `labels/` (relpath relative to the set's directory). It is recomputed from the
files on every grade, never taken from the manifest: a changed file must be noticed.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from grader.errors import PlatformError
from grader.specs import LOCAL_CHECKSUM, REPO_DIR, TBD_CHECKSUM, LabSpec

_CACHE: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Dataset:
    name: str
    dir: Path
    checksum: str
    verified: bool  # False: the spec has no checksum yet (or this is the public sample)
    sample: bool

    @property
    def inputs_dir(self) -> Path:
        return self.dir / "inputs"

    @property
    def labels_dir(self) -> Path:
        return self.dir / "labels"


def default_hidden_dir() -> Path:
    return Path(os.environ.get("GRADER_HIDDEN_DIR") or REPO_DIR / "var" / "hidden")


def _file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _CACHE[key] = h.hexdigest()
    return _CACHE[key]


def compute_checksum(set_dir: Path) -> str:
    lines = []
    for part in ("inputs", "labels"):
        root = set_dir / part
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            lines.append(f"{path.relative_to(set_dir).as_posix()} {_file_sha256(path)}\n")
    return "sha256:" + hashlib.sha256("".join(sorted(lines)).encode("utf-8")).hexdigest()


LOCAL_CHECKSUMS = "checksums.json"


def local_checksums(hidden_dir: Path) -> dict[str, str]:
    """{set name: checksum} of the sets this installation built from its own secret."""
    path = hidden_dir / LOCAL_CHECKSUMS
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise PlatformError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise PlatformError(f"{path} must map set names to checksums")
    return raw


def record_local_checksum(hidden_dir: Path, name: str, checksum: str) -> None:
    current = local_checksums(hidden_dir)
    current[name] = checksum
    path = hidden_dir / LOCAL_CHECKSUMS
    path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def expected_checksum(spec: LabSpec, hidden_dir: Path) -> str:
    """The checksum the lab's hidden set must have (sha256:TBD while there is none)."""
    if spec.data.checksum != LOCAL_CHECKSUM:
        return spec.data.checksum
    recorded = local_checksums(hidden_dir).get(spec.data.name)
    if recorded is None:
        raise PlatformError(
            f"lab {spec.id}: its set {spec.data.name} is built per installation, and "
            f"{hidden_dir / LOCAL_CHECKSUMS} records no checksum for it (build the demo sets "
            "with scripts/build_demo_data.py)"
        )
    return recorded


def resolve_dataset(
    spec: LabSpec, hidden_dir: Path, sample: bool = False, expected: str | None = None
) -> Dataset:
    """The lab's data set, verified against the spec; PlatformError when it is unusable.

    `expected` overrides the spec's checksum (the platform's record of an uploaded set).
    """
    if sample:
        set_dir = hidden_dir / "samples" / spec.id
        name = f"samples/{spec.id}"
    else:
        set_dir = hidden_dir / spec.data.name
        name = spec.data.name
    if not (set_dir / "labels").is_dir():
        raise PlatformError(
            f"the data set {name} for {spec.id} is missing: no {set_dir / 'labels'} "
            "(build it with scripts/build_demo_data.py or set GRADER_HIDDEN_DIR)"
        )
    checksum = compute_checksum(set_dir)
    verified = False
    if not sample:
        want = expected or expected_checksum(spec, hidden_dir)
        if want != TBD_CHECKSUM:
            if checksum != want:
                raise PlatformError(
                    f"the data set {name} does not match lab spec {spec.id}: checksum "
                    f"{checksum}, expected {want}"
                )
            verified = True
        else:
            warnings.warn(
                f"{spec.id}: the spec has no data checksum yet; {name} ({checksum}) is unverified",
                stacklevel=2,
            )
    return Dataset(name=name, dir=set_dir, checksum=checksum, verified=verified, sample=sample)


def load_seeds(dataset: Dataset) -> dict[str, list[int]]:
    try:
        raw = json.loads((dataset.labels_dir / "seeds.json").read_text(encoding="utf-8"))
        seeds = {split: [int(s) for s in raw[split]] for split in ("public", "private")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlatformError(f"{dataset.name}: labels/seeds.json is unreadable: {exc}") from exc
    if not seeds["public"] and not seeds["private"]:
        raise PlatformError(f"{dataset.name}: labels/seeds.json lists no seeds")
    return seeds
