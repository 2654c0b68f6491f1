"""A real PostgreSQL server for tests: `$WATTLAKE_TEST_PG_URL` (scripts/test.sh starts one per
run), or one `private_server()` starts with `scripts/postgres.sh` in a fresh run directory of
its own and stops afterwards (never a server another run may be using). Without PostgreSQL
(and no way to install it) the tests are skipped, unless `WATTLAKE_REQUIRE_PG=1` or
`WATTLAKE_NO_SKIP=1`, which turn that into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
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


def _script(command: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    """`scripts/postgres.sh COMMAND` with its state in `run_dir`/postgres."""
    env = {**os.environ, "WATTLAKE_RUN_DIR": str(run_dir)}
    return subprocess.run(
        [str(SCRIPT), command], capture_output=True, text=True, timeout=900, env=env
    )


def new_run_dir() -> Path:
    """A fresh private run directory under /tmp, searchable by the postgres OS user (the
    server runs as that user when we are root; pytest's own tmp dirs are not searchable)."""
    run_dir = Path(tempfile.mkdtemp(prefix="wattlake-pg-", dir="/tmp"))
    run_dir.chmod(0o711)
    return run_dir


def start_server(run_dir: Path) -> str:
    """Run `scripts/postgres.sh start` in `run_dir` (installs PostgreSQL when missing); the
    URL."""
    try:
        proc = _script("start", run_dir)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"{SCRIPT.name} start: {exc}")
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        _unavailable(f"{SCRIPT.name} start exited {proc.returncode}: {tail}")
    return proc.stdout.strip().splitlines()[-1]


def stop_server(run_dir: Path) -> None:
    """Stop the server of `run_dir` (only that one)."""
    _script("stop", run_dir)


def running(run_dir: Path) -> bool:
    """True when the server of `run_dir` accepts connections."""
    return _script("status", run_dir).returncode == 0


@contextmanager
def private_server() -> Iterator[str]:
    """A server of our own in a fresh run directory: its URL; stopped and removed after."""
    run_dir = new_run_dir()
    try:
        yield start_server(run_dir)
    finally:
        stop_server(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


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
