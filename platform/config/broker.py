"""The embedded default broker: kombu's filesystem transport, with messages that appear whole.

kombu's own filesystem transport creates a message file under its final name and then writes
it, and a consumer that lists the folder in between reads a partial message: a
JSONDecodeError that stops the Celery worker (kombu issue #1551, open). A burst of uploads
made that happen in the demo. Its exchange tables (the routing of every publish) have the
same window when they are created, and two processes creating one at once can drop a binding.

Here every file is written under a name no reader looks at and renamed into place (rename is
atomic within a file system, so a reader sees the whole file or none), and a consumer claims a
message by renaming it into its own folder first, so two consumers never take the same one.
kombu's SQLAlchemy transport was the other embedded candidate: on SQLite it drops a message
when the database is busy (it rolls back and returns) and it cannot route fanout messages.

`config.celery` registers this class for `filesystem://` URLs.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# Files being written start with this: kombu matches messages by the text after the first
# dot (`<stamp>_<uuid>.<queue>.msg`), which a name starting with a dot never has.
WRITING = ".writing-"


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees all of it or no file at all."""
    part = path.with_name(f"{WRITING}{uuid.uuid4().hex}")
    try:
        with open(part, "xb") as f:
            f.write(data)
        # No fsync: this is about readers on this machine, not surviving a power cut
        # (the reaper re-sends the queued runs a lost message leaves behind).
        os.replace(part, path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ChannelError(f"Cannot write {path}") from exc


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):  # type: ignore[override]  # as kombu's
        # Zero-padded, so that the names' sorted order is their order in time (an unpadded
        # 999_ sorts after 1000_).
        name = f"{int(round(monotonic() * 1000)):015d}_{uuid.uuid4()}.{queue}.msg"
        write_atomically(Path(self.data_folder_out) / name, str_to_bytes(dumps(payload)))

    def _get(self, queue):  # type: ignore[override]  # as kombu's
        wanted = f"{queue}.msg"
        inbox = Path(self.data_folder_in)
        claimed = Path(self.processed_folder)
        for name in sorted(os.listdir(inbox)):
            if name.partition(".")[2] != wanted:
                continue
            mine = claimed / f"{uuid.uuid4().hex}-{name}"
            try:
                # Atomic on one file system: of several consumers, one wins, the others
                # find the file gone and try the next.
                os.rename(inbox / name, mine)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ChannelError(f"Cannot claim {name} from the queue") from exc
            try:
                payload = mine.read_bytes()
            except OSError as exc:
                raise ChannelError(f"Cannot read {mine}") from exc
            try:
                message = loads(bytes_to_str(payload))
            except ValueError:
                # Not something this transport wrote (a file dropped in by hand, or left by
                # kombu's own transport): set aside, never a reason to stop the worker.
                logger.error("broker: set aside unreadable message file %s", mine)
                continue
            if not self.store_processed:
                mine.unlink(missing_ok=True)
            return message
        raise Empty()

    @contextmanager
    def _tables_locked(self):
        self.control_folder.mkdir(exist_ok=True)
        with open(self.control_folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _table_change(self, exchange, change) -> None:
        file = self._exchange_file(exchange)  # type: ignore[attr-defined]  # kombu 5.7's
        with self._tables_locked():
            queues = self.get_table(exchange)
            changed = change(queues)
            if changed is not None:
                write_atomically(file, str_to_bytes(dumps(changed)))

    def get_table(self, exchange):
        file = self._exchange_file(exchange)  # type: ignore[attr-defined]  # kombu 5.7's
        try:
            table = loads(bytes_to_str(file.read_bytes()))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        return [filesystem.exchange_queue_t(*q) for q in table]

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._table_change(
            exchange, lambda queues: None if binding in queues else [binding, *queues]
        )

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # The base class (virtual.Channel) forgets the queue; the table is ours to update.
        super(filesystem.Channel, self)._delete(
            queue, exchange, routing_key, pattern, *args, **kwargs
        )
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._table_change(
            exchange,
            lambda queues: [q for q in queues if q != binding] if binding in queues else None,
        )


class Transport(filesystem.Transport):
    Channel = Channel
