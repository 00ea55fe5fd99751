from __future__ import annotations

from pathlib import Path

import pytest

from tests.grader import synth


@pytest.fixture(scope="session")
def synth_hidden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    hidden = tmp_path_factory.mktemp("hidden")
    return hidden, synth.build_all(hidden)


@pytest.fixture(scope="session")
def synth_specs_dir(tmp_path_factory: pytest.TempPathFactory, synth_hidden) -> Path:
    # Tight limits keep the bad entries' tests short; 2 GB is ample for TensorFlow here.
    return synth.write_specs(
        tmp_path_factory.mktemp("specs"), synth_hidden[1], wall_time_s=60, memory_mb=2000
    )


@pytest.fixture
def graded(monkeypatch: pytest.MonkeyPatch, synth_hidden, synth_specs_dir):
    """Grade an entry against the synthetic sets: graded(lab_id, entry_path, **request)."""
    from grader.pipeline import GradeRequest, grade

    monkeypatch.setenv("GRADER_SPECS_DIR", str(synth_specs_dir))

    def run(lab_id: str, entry: Path, **kwargs):
        kwargs.setdefault("hidden_dir", synth_hidden[0])
        return grade(GradeRequest(lab_id=lab_id, entry_path=entry, **kwargs))

    return run
