"""A real PostgreSQL server for tests: `$WATTLAKE_TEST_PG_URL`, or `scripts/postgres.sh`.

`server_url()` returns the URL of a database we may create other databases from; it starts
the throwaway cluster when no URL is given. Without PostgreSQL (and no way to install it) the
tests are skipped, unless `WATTLAKE_REQUIRE_PG=1`, which turns that into a failure.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"


def _unavailable(reason: str) -> None:
    if os.environ.get("WATTLAKE_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL required (WATTLAKE_REQUIRE_PG=1) but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def psycopg_module() -> Any:
    """psycopg 3, or skip/fail when it is not installed."""
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg not installed (pip install 'psycopg[binary]>=3.2')")
    return psycopg


def running() -> bool:
    """True when the cluster of `scripts/postgres.sh` accepts connections."""
    return subprocess.run([str(SCRIPT), "status"], capture_output=True).returncode == 0


def start_server() -> str:
    """Run `scripts/postgres.sh start` (installs PostgreSQL when missing); the URL."""
    try:
        proc = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"{SCRIPT.name} start: {exc}")
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        _unavailable(f"{SCRIPT.name} start exited {proc.returncode}: {tail}")
    return proc.stdout.strip().splitlines()[-1]


def stop_server() -> None:
    subprocess.run([str(SCRIPT), "stop"], capture_output=True)


def with_database(url: str, dbname: str) -> str:
    """`url` pointing at database `dbname` (same user, host and port)."""
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server of `admin_url`, dropped afterwards; its URL."""
    psycopg = psycopg_module()
    name = "wl_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def query(url: str, sql: str, setup: str | None = None) -> list[tuple[Any, ...]]:
    """All rows of one statement on `url` (UTC session; `setup` runs first)."""
    psycopg = psycopg_module()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        if setup:
            con.execute(setup)
        return con.execute(sql).fetchall()
