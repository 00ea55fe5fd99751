import json

import pytest

from grader.report import Receipt, Report
from grader.text import sanitize


def test_report_round_trips_and_never_holds_nan():
    receipt = Receipt(
        grader_version="0.1.0",
        lab_spec_hash="sha256:x",
        dataset_name="lab2-mnist-v1",
        dataset_checksum="sha256:y",
        dataset_verified=True,
        seeds_id=None,
        backend="process",
        isolation="process (weak)",
        image_digest=None,
        hardware="x86_64",
        wall_time_s=1.5,
        peak_memory_mb=100.0,
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:02Z",
    )
    report = Report(
        status="scored",
        metrics={"accuracy": 0.9, "bad": float("nan")},
        split_metrics={"public": {"accuracy": float("inf")}, "private": {"accuracy": 0.8}},
        details={"curve": [0.1, float("nan")]},
        receipt=receipt,
    )
    d = report.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["metrics"] == {"accuracy": 0.9} and d["split_metrics"]["public"] == {}
    back = Report.from_dict(json.loads(text))
    assert back.receipt == receipt and back.metrics == {"accuracy": 0.9}
    assert back.details["curve"] == [0.1, None]


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        Report(status="great")


def test_sanitize_strips_control_characters_and_caps():
    assert sanitize(b"a\x1b[1mb\x00c\r\nd\xff") == "abc\nd\ufffd"
    long = sanitize("x" * 10000 + "END", 1000)
    assert len(long.encode()) <= 1100 and long.endswith("END")
