"""`python -m grader lab new|check`: scaffold a lab spec and check every lab end to end."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError, PlatformError, SpecError
from grader.specs import _LAB_ID, load_spec, parse_spec_file, specs_dir


def new_lab(new_id: str, from_id: str) -> Path:
    """A copy of lab `from_id`'s spec as `new_id`, with its own data name and no checksum yet."""
    if not _LAB_ID.match(new_id):
        raise SpecError(f"{new_id!r} is not a lab id (lowercase letters, digits and dashes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_spec(from_id)  # exists and is valid
    src = specs_dir() / f"{from_id}.toml"
    dst = specs_dir() / f"{new_id}.toml"
    if dst.exists():
        raise SpecError(f"{dst} exists already")
    text = src.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^id\s*=\s*"[^"]*"', f'id = "{new_id}"', text, count=1)
    text = re.sub(r'(?m)^title\s*=\s*"([^"]*)"', rf'title = "\1 ({new_id})"', text, count=1)
    data = re.search(r"(?ms)^\[data\]\s*$(.*?)(?=^\[|\Z)", text)
    if data is None:
        raise SpecError(f"{src}: no [data] table")
    body = re.sub(r'(?m)^name\s*=\s*"[^"]*"', f'name = "{new_id}-v1"', data.group(1))
    body = re.sub(r'(?m)^checksum\s*=\s*"[^"]*"', 'checksum = "sha256:TBD"', body)
    text = text[: data.start(1)] + body + text[data.end(1) :]
    header = (
        f"# Made with `python -m grader lab new {new_id} --from {from_id}`: edit the title,\n"
        f"# description and limits, then build its data with `python -m grader dataset build\n"
        f"# --lab {new_id} SOURCE --out $GRADER_HIDDEN_DIR/{new_id}-v1 --write-spec`.\n"
    )
    dst.write_text(header + text, encoding="utf-8")
    try:
        parse_spec_file(dst)
    except SpecError:
        dst.unlink()
        raise
    return dst


@dataclass
class LabCheck:
    lab: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_labs(hidden_dir: Path, entries_dir: Path | None) -> list[LabCheck]:
    """Validate every spec, then grade each lab's reference entries on its public sample.

    Reference entries are the ones `entries_dir/index.json` lists for the lab (the layout
    scripts/make_reference_entries.py writes); each must end with the status it expects.
    """
    from grader.pipeline import GradeRequest, grade

    index: dict[str, dict[str, dict[str, str]]] = {}
    if entries_dir is not None and (entries_dir / "index.json").is_file():
        index = json.loads((entries_dir / "index.json").read_text(encoding="utf-8"))
    results = []
    for path in sorted(specs_dir().glob("*.toml")):
        check = LabCheck(path.stem)
        results.append(check)
        try:
            spec = parse_spec_file(path)
        except SpecError as exc:
            check.problems.append(str(exc))
            continue
        if not spec.data.verified:
            check.notes.append("the spec has no data checksum yet (sha256:TBD)")
        if not (hidden_dir / "samples" / spec.id / "labels").is_dir():
            check.notes.append(f"no public sample set in {hidden_dir / 'samples' / spec.id}")
            continue
        entries = index.get(spec.id, {})
        if not entries:
            check.notes.append("no reference entries to grade")
        for name, entry in sorted(entries.items()):
            if name == "sleep":
                continue  # runs until the time limit, on purpose
            assert entries_dir is not None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    report = grade(
                        GradeRequest(
                            spec.id, entries_dir / entry["path"], hidden_dir=hidden_dir, sample=True
                        )
                    )
            except (PlatformError, GraderError) as exc:
                check.problems.append(f"{name}: could not grade: {exc}")
                continue
            if report.status != entry["expect"]:
                check.problems.append(
                    f"{name}: {report.status} (expected {entry['expect']}): {report.reason}"
                )
            else:
                check.notes.append(f"{name}: {report.status} as expected")
    return results
