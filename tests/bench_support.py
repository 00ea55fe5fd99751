"""What the bench tests share: the repository, and the services a bench run needs."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def services_or_skip() -> None:
    problems = []
    if shutil.which("redis-server") is None:
        problems.append("redis-server is not installed")
    try:
        import psycopg

        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"no PostgreSQL on 127.0.0.1:5432 ({type(exc).__name__})")
    if problems:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("; ".join(problems) + " and REQUIRE_SERVICES=1")
        pytest.skip("; ".join(problems))
