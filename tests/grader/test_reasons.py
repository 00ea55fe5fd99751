"""Failure reasons keep the head of the error and the error raised (its last line)."""

from grader.text import head_and_last_line
from tests.grader import synth

TORCHSCRIPT_ERROR = (
    "The following operation failed in the TorchScript interpreter.\n"
    "Traceback of TorchScript, serialized code (most recent call last):\n"
    + "".join(
        f'  File "code/__torch__/model.py", line {i}, in forward\n    x = f(x)\n' for i in range(60)
    )
    + "RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x1600 and 576x128)\n"
)


def test_head_and_last_line():
    text = head_and_last_line(TORCHSCRIPT_ERROR, 1000)
    assert len(text) <= 1000
    assert text.startswith("The following operation failed in the TorchScript interpreter.")
    assert text.endswith(
        "RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x1600 and 576x128)"
    )
    assert head_and_last_line("short\nerror", 1000) == "short error"
    long_last = "x" * 5000
    assert len(head_and_last_line("head\n" + long_last, 1000)) <= 1000


def test_a_long_error_keeps_its_last_line_in_the_report(graded, tmp_path):
    source = f"""
def predict(images):
    raise RuntimeError({TORCHSCRIPT_ERROR!r})
"""
    report = graded("lab2-mnist", synth.write_entry(tmp_path / "e", source))
    assert report.status == "failed"
    assert "TorchScript interpreter" in report.reason
    assert report.reason.endswith("cannot be multiplied (1x1600 and 576x128)"), report.reason


def test_a_long_policy_error_keeps_its_last_line(graded, tmp_path):
    source = f"""
def act(observation):
    raise RuntimeError({TORCHSCRIPT_ERROR!r})
"""
    report = graded("lab3-cartpole", synth.write_entry(tmp_path / "e", source))
    assert report.status == "failed"
    assert report.reason.endswith("cannot be multiplied (1x1600 and 576x128)"), report.reason
