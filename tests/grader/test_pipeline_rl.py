"""Interactive labs: the worker runs the environment; the sandboxed policy sees observations."""

import json
import os
import subprocess
import sys

import pytest

from tests.grader import synth

REPO = synth.REPO
LEFT = "def act(observation):\n    return 0\n"
CONTROLLER = """
def act(o):
    return int(o[2] + 0.5 * o[3] + 0.01 * o[0] + 0.1 * o[1] > 0)
"""


def cli(args, env_extra):
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("source", "low", "high"), [(LEFT, 8, 11), (CONTROLLER, 500, 500)])
def test_cartpole_cli_left_and_controller(
    tmp_path, synth_hidden, synth_specs_dir, source, low, high
):
    e = synth.write_entry(tmp_path / "e", source)
    proc = cli(
        ["grade", "--lab", "lab3-cartpole", str(e), "--hidden-dir", str(synth_hidden[0]), "--json"],
        {"GRADER_SPECS_DIR": str(synth_specs_dir)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "scored"
    assert low <= report["metrics"]["mean_return"] <= high
    assert report["metrics"]["episodes"] == 4
    assert len(report["details"]["returns"]["public"]) == 2
    assert report["receipt"]["seeds_id"]


def test_cli_usage_and_failure_exit_codes(tmp_path, synth_hidden, synth_specs_dir):
    env = {"GRADER_SPECS_DIR": str(synth_specs_dir)}
    assert cli(["grade"], env).returncode == 2
    assert cli(["grade", "--lab", "lab7", str(tmp_path)], env).returncode == 2
    crash = synth.write_entry(tmp_path / "c", "raise SystemExit(3)\n")
    proc = cli(
        ["grade", "--lab", "lab3-cartpole", str(crash), "--hidden-dir", str(synth_hidden[0])], env
    )
    assert proc.returncode == 1 and "FAILED" in proc.stdout
    labs = cli(["labs"], env)
    assert labs.returncode == 0 and "lab3-pong" in labs.stdout


def test_policy_that_snoops_gets_only_observations(graded, synth_hidden, tmp_path):
    hidden = synth_hidden[0]
    source = f"""
import os, sys
found = []
def probe(what, fn):
    try:
        value = fn()
    except Exception as exc:
        print("BLOCKED", what, type(exc).__name__, file=sys.stderr)
        return
    if value:
        found.append(what)
        print("LEAK", what, str(value)[:80], file=sys.stderr)
    else:
        print("BLOCKED", what, "empty", file=sys.stderr)

probe("seeds", lambda: open({str(hidden / "lab3-cartpole-v1/labels/seeds.json")!r}).read())
probe("hidden-listing", lambda: os.listdir({str(hidden)!r}))
probe("env", lambda: [k for k in os.environ if "HIDDEN" in k or k.startswith("GRADER_TEST")])
probe("parent-environ", lambda: open(f"/proc/{{os.getppid()}}/environ").read())
probe("stdin", lambda: sys.stdin.read())
probe("root-home", lambda: [n for n in os.listdir("/root") if n != ".pyenv"])
import gymnasium  # importable, but it is not the grader's environment
def act(observation):
    print("noise on stdout must not break the protocol", observation)
    assert observation.shape == (4,)
    return 0
"""
    os.environ["GRADER_TEST_SECRET"] = "do-not-leak"
    try:
        report = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", source))
    finally:
        del os.environ["GRADER_TEST_SECRET"]
    assert report.status == "scored", report.reason + report.logs
    assert "LEAK" not in report.logs, report.logs
    assert report.logs.count("BLOCKED") == 6
    assert 8 <= report.metrics["mean_return"] <= 11


@pytest.mark.parametrize(
    ("source", "status", "reason"),
    [
        ("import time\ndef act(o):\n    time.sleep(3)\n    return 0\n", "timeout", "within 1 s"),
        ("def act(o):\n    return 7\n", "invalid_output", "integers 0 to 1"),
        (
            "import numpy as np\ndef act(o):\n    return np.zeros((2, 2))\n",
            "invalid_output",
            "shape [2, 2]",
        ),
        ("def act(o):\n    return [0.2, 0.9]\n", "scored", ""),
        ("def act(o):\n    return 'left'\n", "failed", "not numbers"),
        ("def act(o):\n    raise ValueError('bad policy')\n", "failed", "bad policy"),
        ("import os\ndef act(o):\n    os._exit(0)\n", "failed", "exited unexpectedly"),
        ("def predict(x):\n    return x\n", "failed", "must define act"),
    ],
)
def test_bad_policies(graded, tmp_path, source, status, reason):
    report = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", source))
    assert report.status == status, report.reason
    assert reason in report.reason
    assert (report.metrics == {}) == (status != "scored")


def test_pong_observations_are_preprocessed_frame_differences(graded, tmp_path):
    source = """
import numpy as np
seen = set()
def act(o):
    assert o.shape == (40, 40, 1) and o.dtype == np.float32, (o.shape, o.dtype)
    seen.update(np.unique(o).tolist())
    assert seen <= {-1.0, 0.0, 1.0}, seen
    return 0
def reset():
    pass
"""
    report = graded("lab3-pong", synth.write_entry(tmp_path / "e", source))
    assert report.status == "scored", report.reason
    assert report.metrics["episodes"] == 2
    assert -21 <= report.metrics["mean_return"] <= -15


def test_pong80_by_hand():
    import numpy as np

    from grader.interactive import Preprocessor, pong80

    frame = np.full((210, 160, 3), 144, np.uint8)
    frame[35 + 10, 20, 0] = 236  # the ball, at a kept (even) row/column
    frame[35 + 11, 21, 0] = 236  # dropped by the downsampling
    frame[20, 20, 0] = 236  # above the crop
    out = pong80(frame)
    assert out.shape == (80, 80, 1) and out.sum() == 1 and out[5, 10, 0] == 1
    pre = Preprocessor("pong80")
    assert not pre.reset(frame).any()  # first frame: no difference
    moved = np.full((210, 160, 3), 109, np.uint8)
    moved[35 + 12, 20, 0] = 236
    diff = pre(moved)
    assert diff[5, 10, 0] == 1 and diff[6, 10, 0] == -1 and np.abs(diff).sum() == 2


def _course_preprocess_pong():
    """`preprocess_pong` and `pong_change` exactly as mitdeeplearning 0.7.5's lab3 writes them
    (read from the published sdist), run with a stand-in for the two things this machine
    lacks: OpenCV's dilate (scipy's grey dilation, zero beyond the border) and numpy's
    removed `np.float`."""
    import ast
    import sys
    import tarfile
    import types

    import numpy as np
    from scipy.ndimage import grey_dilation

    sys.path.insert(0, str(synth.REPO / "scripts"))
    from _common import sdist_path

    with tarfile.open(sdist_path()) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("mitdeeplearning/lab3_old.py"))
        source = tar.extractfile(member).read().decode()
    tree = ast.parse(source)
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    wanted = [n for n in wanted if n.name in ("preprocess_pong", "pong_change")]
    assert len(wanted) == 2
    shim_np = types.ModuleType("np")
    shim_np.__dict__.update(np.__dict__)
    shim_np.float = float
    cv2 = types.SimpleNamespace(
        dilate=lambda img, kernel, iterations=1: grey_dilation(
            img, footprint=kernel.astype(bool), mode="constant", cval=0
        )
    )
    namespace = {"np": shim_np, "cv2": cv2}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), "lab3_old.py", "exec"), namespace)
    return namespace["preprocess_pong"], namespace["pong_change"]


def test_pong40_is_the_course_preprocessing_on_real_frames():
    import numpy as np

    from grader.interactive import Preprocessor, make_env, pong40
    from grader.specs import load_spec

    preprocess_pong, pong_change = _course_preprocess_pong()
    env_spec = load_spec("lab3-pong").environment
    env = make_env(env_spec)
    frame, _ = env.reset(seed=3)
    pre = Preprocessor(env_spec.preprocess)
    first = pre.reset(frame)
    assert first.shape == (40, 40, 1) and not first.any()
    previous = frame
    rng = np.random.default_rng(0)
    differing = 0
    for _ in range(120):
        frame, *_ = env.step(int(rng.integers(6)))
        ours = pre(frame)
        # The course mutates the frames it is given: hand it copies.
        course = pong_change(previous.copy(), frame.copy())
        assert course.shape == ours.shape == (40, 40, 1)
        assert np.array_equal(course.astype(np.float32), ours)
        differing += bool(ours.any())
        previous = frame
    env.close()
    assert differing > 50  # the frames moved: the comparison was not of empty pictures
    assert np.array_equal(preprocess_pong(frame.copy()).astype(np.float32), pong40(frame))


COURSE_PONG_MODEL = """
import functools, sys
import keras
import numpy as np
Conv2D = functools.partial(keras.layers.Conv2D, padding="same", activation="relu")
# The course's create_pong_model (lab3 RL notebook), built by its first call as in training.
model = keras.models.Sequential([
    Conv2D(filters=32, kernel_size=5, strides=2),
    Conv2D(filters=48, kernel_size=5, strides=2),
    Conv2D(filters=64, kernel_size=3, strides=2),
    Conv2D(filters=64, kernel_size=3, strides=2),
    keras.layers.Flatten(),
    keras.layers.Dense(units=128, activation="relu"),
    keras.layers.Dense(units=6, activation=None),
])
model(np.zeros((1, 40, 40, 1), np.float32))
model.save(sys.argv[1])
"""


@pytest.mark.slow
def test_the_course_pong_model_plays_whole_games(graded, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "pong.keras"
    env = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", COURSE_PONG_MODEL, str(path)], check=True, env=env)
    report = graded("lab3-pong", path)
    assert report.status == "scored", report.reason + report.logs
    assert report.metrics["episodes"] == 2
    assert -21 <= report.metrics["mean_return"] <= 21
    assert all(n > 100 for lengths in report.details["lengths"].values() for n in lengths)
