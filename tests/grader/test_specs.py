import json
import tomllib
import warnings
from pathlib import Path

import pytest

from grader.errors import SpecError
from grader.specs import KNOWN_METRICS, REPO_DIR, load_all_specs, load_spec, parse_spec

DESIGN_METRICS = {
    "lab1-music": {"bits_per_char", "abc_validity"},
    "lab2-mnist": {"accuracy"},
    "lab2-debias": {
        "mean_group_auc",
        "worst_group_auc",
        "roc_auc",
        "debias_accuracy",
        "group_accuracy_variance",
        "worst_group_accuracy",
        "accuracy_LF",
        "accuracy_LM",
        "accuracy_DF",
        "accuracy_DM",
        "non_face_specificity",
    },
    "lab2-pneumothorax": {"roc_auc", "accuracy", "pointing_game", "cam_mass_inside"},
    "lab3-cartpole": {"mean_return", "std_return", "episodes"},
    "lab3-pong": {"mean_return", "std_return", "episodes"},
}


def _raw(lab: str) -> dict:
    return tomllib.loads((REPO_DIR / "lab_specs" / f"{lab}.toml").read_text())


def test_every_lab_loads_with_the_design_metrics(monkeypatch):
    monkeypatch.delenv("GRADER_SPECS_DIR", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        specs = {s.id: s for s in load_all_specs()}
    assert set(specs) == set(DESIGN_METRICS)
    for lab, names in DESIGN_METRICS.items():
        spec = specs[lab]
        assert set(spec.metric_names) == names
        assert spec.data.name == f"{lab}-v1"
        json.dumps(spec.to_dict())  # JSON-serialisable
        assert spec.spec_hash.startswith("sha256:")
    assert specs["lab2-mnist"].input.shape == (28, 28, 1)
    assert specs["lab2-debias"].input.shape == (64, 64, 3)
    assert specs["lab3-pong"].environment.observation_shape == (40, 40, 1)
    assert specs["lab3-pong"].environment.preprocess == "pong40"
    assert specs["lab1-music"].metric("bits_per_char").direction == "lower"


def test_tbd_checksum_loads_unverified_with_a_warning(tmp_path, monkeypatch):
    raw = (REPO_DIR / "lab_specs" / "lab2-mnist.toml").read_text()
    raw = raw.replace(_raw("lab2-mnist")["data"]["checksum"], "sha256:TBD")
    (tmp_path / "lab2-mnist.toml").write_text(raw)
    monkeypatch.setenv("GRADER_SPECS_DIR", str(tmp_path))
    with pytest.warns(UserWarning, match="UNVERIFIED"):
        spec = load_spec("lab2-mnist")
    assert not spec.data.verified


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(task="regression"), "task"),
        (lambda r: r["metrics"][0].update(name="f1"), "unknown metric 'f1'"),
        (lambda r: r["ranking"].update(primary="nope"), "'nope' is not one of"),
        (lambda r: r["data"].update(checksum="md5:abc"), "checksum"),
        (lambda r: r["limits"].update(gpu="yes"), "'gpu' must be true or false"),
        (lambda r: r["limits"].pop("memory_mb"), "missing required key 'memory_mb'"),
        (lambda r: r["rubric"].update(thresholds=[4, 3, 2, 1]), "increasing"),
        (lambda r: r.update(entry_kinds=["pickle"]), "entry_kinds"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_error(mutate, message):
    raw = _raw("lab2-mnist")
    mutate(raw)
    with pytest.raises(SpecError, match=message):
        parse_spec(raw, "x.toml")


def test_id_must_match_file_name(tmp_path, monkeypatch):
    text = (REPO_DIR / "lab_specs" / "lab2-mnist.toml").read_text()
    (tmp_path / "lab9-other.toml").write_text(text)
    monkeypatch.setenv("GRADER_SPECS_DIR", str(tmp_path))
    with pytest.raises(SpecError, match="must match the file name"):
        load_spec("lab9-other")
    with pytest.raises(SpecError, match="no lab"):
        load_spec("lab7")
    with pytest.raises(SpecError, match="not a lab id"):
        load_spec("../etc/passwd")


def test_a_whole_count_metric_says_so():
    episodes = load_spec("lab3-cartpole").metric("episodes")
    assert episodes.integer is True
    assert load_spec("lab3-cartpole").metric("mean_return").integer is False
    raw = _raw("lab3-cartpole")
    raw["metrics"][0]["integer"] = "yes"
    with pytest.raises(SpecError, match="'integer' must be true or false"):
        parse_spec(raw)


def test_spec_hash_is_stable_and_tracks_content():
    a = parse_spec(_raw("lab2-mnist"))
    b = parse_spec(_raw("lab2-mnist"))
    raw = _raw("lab2-mnist")
    raw["limits"]["wall_time_s"] = 301
    assert a.spec_hash == b.spec_hash != parse_spec(raw).spec_hash


def test_rubric_and_ranking():
    mnist = parse_spec(_raw("lab2-mnist"))
    assert [mnist.rubric.score(v) for v in (0.5, 0.8, 0.93, 0.99)] == [1, 2, 3, 5]
    music = parse_spec(_raw("lab1-music"))
    assert music.rubric.score(5.0) == 1 and music.rubric.score(1.9) == 5
    # lower bits per char ranks first; a missing metric ranks last
    keys = sorted([{"bits_per_char": 3.0}, {"bits_per_char": 2.0}, {}], key=music.sort_key)
    assert keys[0] == {"bits_per_char": 2.0} and keys[-1] == {}


def test_debias_ranks_by_group_auc_and_a_constant_cannot_win():
    debias = parse_spec(_raw("lab2-debias"))
    assert (debias.ranking.primary, debias.ranking.tie_breaks) == (
        "mean_group_auc",
        ("worst_group_auc",),
    )
    assert debias.rubric.metric == "mean_group_auc"
    # The constant 0.7 detector's report (group accuracies 100 %, every AUC 0.5) against
    # the staff baseline's on the demo set (mean group accuracy 87.5 %).
    constant = {"mean_group_auc": 0.5, "worst_group_auc": 0.5, "debias_accuracy": 100.0}
    baseline = {"mean_group_auc": 0.919, "worst_group_auc": 0.833, "debias_accuracy": 87.5}
    assert sorted([constant, baseline], key=debias.sort_key) == [baseline, constant]
    assert debias.rubric.score(0.5) == 1 and debias.rubric.score(0.911) == 4
    assert "a constant 0.5" in debias.ranking_text
    assert debias.ranking_text.startswith("Ranked by Mean group ROC AUC; ties broken by")


def test_ranking_note_is_optional_and_leaves_older_hashes_alone():
    raw = _raw("lab2-mnist")
    plain = parse_spec(raw)
    assert plain.ranking.note == "" and plain.ranking_text == "Ranked by Accuracy."
    raw["ranking"]["note"] = "  Why: one sentence.  "
    noted = parse_spec(raw)
    assert noted.ranking.note == "Why: one sentence."
    assert noted.ranking_text == "Ranked by Accuracy. Why: one sentence."
    assert noted.spec_hash != plain.spec_hash
    # The hash of a spec without a note is the one computed before the field existed.
    import hashlib

    legacy = plain.to_dict()
    # Nor the class activation maps table, which labs without one do not have either.
    del legacy["ranking"]["note"], legacy["spec_hash"], legacy["cam"]
    legacy["spec_hash"] = ""
    canonical = json.dumps(legacy, sort_keys=True, separators=(",", ":"))
    assert plain.spec_hash == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    raw["ranking"]["note"] = 3
    with pytest.raises(SpecError, match="note"):
        parse_spec(raw)


def test_known_metrics_cover_the_specs():
    for path in Path(REPO_DIR / "lab_specs").glob("*.toml"):
        raw = tomllib.loads(path.read_text())
        assert {m["name"] for m in raw["metrics"]} <= KNOWN_METRICS[raw["task"]]


def test_class_activation_maps_belong_to_binary_image_classification():
    raw = _raw("lab2-pneumothorax")
    spec = parse_spec(raw)
    assert spec.cam.samples == 3 and spec.cam.positive == "pneumothorax"
    assert spec.ranking.primary == "roc_auc"  # the localization figures do not rank
    assert "GlobalAveragePooling2D" in spec.entry_io("keras").cam
    assert "[N, 64, 64]" in spec.entry_io("code").cam
    assert spec.entry_io("torch").cam and not parse_spec(_raw("lab2-debias")).entry_io("code").cam
    without = dict(raw)
    del without["cam"]
    with pytest.raises(SpecError, match="need a \\[cam\\] table"):
        parse_spec(without)
    mnist = _raw("lab2-mnist")
    mnist["cam"] = {"samples": 3}
    with pytest.raises(SpecError, match="binary classification of images"):
        parse_spec(mnist)
    for bad, message in (({"samples": 9}, "at most 8"), ({"labels": ["one"]}, "two classes")):
        with pytest.raises(SpecError, match=message):
            parse_spec({**raw, "cam": bad})
