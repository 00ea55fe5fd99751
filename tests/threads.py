"""A call run in another thread and database connection, to race a transaction still open
in the test's own connection (PostgreSQL row locks, real transactions)."""

import threading
from collections.abc import Callable

from django.db import connection


class Elsewhere:
    """Start `call` now in its own thread; `outcome()` is "ok" or the refusal's message."""

    def __init__(self, call: Callable[[], object], refused: type[Exception]) -> None:
        self._call, self._refused = call, refused
        self._outcome: str | None = None
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._call()
            self._outcome = "ok"
        except self._refused as refusal:
            self._outcome = str(refusal)
        except Exception as error:  # surfaced in the test's assertion
            self._outcome = f"unexpected {type(error).__name__}: {error}"
        finally:
            connection.close()

    def give_time(self, seconds: float = 2.0) -> None:
        """Let the call run as far as it can while the test's transaction stays open."""
        self._thread.join(timeout=seconds)

    def outcome(self) -> str | None:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the call is still waiting"
        return self._outcome
