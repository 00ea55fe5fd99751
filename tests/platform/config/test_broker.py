"""The embedded default broker (`filesystem://`): a consumer never sees a partly written
message, two consumers never take the same one, and concurrent bindings are all kept.

kombu's own filesystem transport fails the first of these (kombu issue #1551): with
messages of a megabyte, most of those read while producers write arrive cut short.
"""

import json
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty

from kombu import Connection

ROOT = Path(__file__).resolve().parents[3]
PRODUCERS = 4
PER_PRODUCER = 30
BODY = 1_000_000  # bytes: a write this long is far from instant

# A producer process, as a site process would be: config.celery names the transport.
PRODUCE = """
import json, sys
import config.celery  # noqa: F401  (the embedded default's transport for filesystem://)
from kombu import Connection
options, who, count, size = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with Connection("filesystem://", transport_options=options) as conn:
    channel = conn.default_channel
    for i in range(count):
        channel._put("cpu", {"who": who, "i": i, "body": "x" * size})
"""

BIND = """
import json, sys
import config.celery  # noqa: F401
from kombu import Connection
options, queue = json.loads(sys.argv[1]), sys.argv[2]
with Connection("filesystem://", transport_options=options) as conn:
    channel = conn.default_channel
    channel.exchange_declare("shared", "direct")
    channel.queue_bind(queue, "shared", routing_key=queue)
"""


def _options(tmp_path: Path) -> dict:
    folders = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    return {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "store_processed": False,
    }


def _start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )


def _drain(channel, want: int, producers: list[subprocess.Popen]) -> tuple[list, list[str]]:
    got, errors = [], []
    deadline = time.monotonic() + 120
    while len(got) + len(errors) < want and time.monotonic() < deadline:
        try:
            got.append(channel._get("cpu"))
        except Empty:
            if all(p.poll() is not None for p in producers) and not channel._size("cpu"):
                break
            time.sleep(0.001)
        except Exception as exc:  # noqa: BLE001 - a torn message is what this test looks for
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
    return got, errors


def test_a_consumer_never_reads_a_message_still_being_written(tmp_path):
    options = _options(tmp_path)
    producers = [
        _start(PRODUCE, json.dumps(options), f"p{n}", str(PER_PRODUCER), str(BODY))
        for n in range(PRODUCERS)
    ]
    try:
        with Connection("filesystem://", transport_options=options) as conn:
            got, errors = _drain(conn.default_channel, PRODUCERS * PER_PRODUCER, producers)
    finally:
        for p in producers:
            p.wait(timeout=60)
    assert errors == []
    assert all(p.returncode == 0 for p in producers)
    assert sorted((m["who"], m["i"]) for m in got) == sorted(
        (f"p{n}", i) for n in range(PRODUCERS) for i in range(PER_PRODUCER)
    )
    assert all(len(m["body"]) == BODY for m in got)
    # Nothing half-written or claimed is left behind.
    assert list(Path(options["data_folder_in"]).iterdir()) == []
    assert list(Path(options["processed_folder"]).iterdir()) == []


CONSUME = """
import json, sys, time
from queue import Empty
import config.celery  # noqa: F401
from kombu import Connection
options = json.loads(sys.argv[1])
seen, idle = [], 0
with Connection("filesystem://", transport_options=options) as conn:
    channel = conn.default_channel
    while idle < 200:
        try:
            seen.append(channel._get("cpu")["i"]); idle = 0
        except Empty:
            idle += 1; time.sleep(0.005)
print(json.dumps(seen))
"""


def test_two_consumers_never_take_the_same_message(tmp_path):
    options = _options(tmp_path)
    with Connection("filesystem://", transport_options=options) as conn:
        for i in range(400):
            conn.default_channel._put("cpu", {"i": i})
    consumers = [
        subprocess.Popen(
            [sys.executable, "-c", CONSUME, json.dumps(options)],
            cwd=ROOT,
            env={"PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}", "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    seen = [i for c in consumers for i in json.loads(c.communicate(timeout=120)[0])]
    assert sorted(seen) == list(range(400))


def test_bindings_made_at_once_are_all_kept(tmp_path):
    options = _options(tmp_path)
    binders = [_start(BIND, json.dumps(options), f"q{n}") for n in range(12)]
    for b in binders:
        assert b.wait(timeout=60) == 0
    with Connection("filesystem://", transport_options=options) as conn:
        table = conn.default_channel.get_table("shared")
    assert sorted(q.queue for q in table) == sorted(f"q{n}" for n in range(12))


def test_an_unreadable_file_is_set_aside_and_the_queue_goes_on(tmp_path):
    options = _options(tmp_path)
    with Connection("filesystem://", transport_options=options) as conn:
        channel = conn.default_channel
        # What kombu's own transport could leave: a message file that is not whole.
        # Older than any message put since: it is read first.
        (Path(options["data_folder_in"]) / f"{0:015d}_torn.cpu.msg").write_text('{"body": "x')
        channel._put("cpu", {"i": 1})
        assert channel._get("cpu") == {"i": 1}
    kept = list(Path(options["processed_folder"]).iterdir())
    assert len(kept) == 1 and kept[0].read_text() == '{"body": "x'


def test_messages_come_out_in_the_order_they_were_put(tmp_path, monkeypatch):
    import config.broker as broker

    clock = iter([999.0, 1000.0])  # milliseconds 999000 and 1000000: one digit more
    monkeypatch.setattr(broker, "monotonic", lambda: next(clock))
    with Connection("filesystem://", transport_options=_options(tmp_path)) as conn:
        channel = conn.default_channel
        channel._put("cpu", {"i": 1})
        channel._put("cpu", {"i": 2})
        assert [channel._get("cpu"), channel._get("cpu")] == [{"i": 1}, {"i": 2}]
