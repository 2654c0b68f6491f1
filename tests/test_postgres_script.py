"""`scripts/postgres.sh` keeps each run's server apart: two starts in two run directories at
the same time are two servers on two ports, and stopping one leaves the other answering. The
tests' own fallback server (`pg.private_server`) lives in a private run directory and is gone
afterwards. Real PostgreSQL 15 servers, started by the project's script."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import pg


@pytest.fixture
def run_dirs() -> Iterator[tuple[Path, Path]]:
    pg.psycopg_module()
    dirs = (pg.new_run_dir(), pg.new_run_dir())
    yield dirs
    for d in dirs:
        pg.stop_server(d)
        shutil.rmtree(d, ignore_errors=True)


def _start_both(dirs: tuple[Path, Path]) -> list[str]:
    """`postgres.sh start` in both run directories at once (two processes); their URLs."""
    procs = [
        subprocess.Popen(
            [str(pg.SCRIPT), "start"],
            env={**os.environ, "WATTLAKE_RUN_DIR": str(d)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in dirs
    ]
    urls = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            pg._unavailable(f"postgres.sh start exited {proc.returncode}: {err.strip()}")
        urls.append(out.strip().splitlines()[-1])
    return urls


def test_two_run_dirs_are_two_servers_and_stop_only_their_own(
    run_dirs: tuple[Path, Path],
) -> None:
    a_dir, b_dir = run_dirs
    a_url, b_url = _start_both(run_dirs)
    assert a_url != b_url
    # Each server is the cluster of its own run directory, on its own port.
    where = "SELECT current_setting('data_directory'), inet_server_port()"
    (a_data, a_port), (b_data, b_port) = pg.query(a_url, where)[0], pg.query(b_url, where)[0]
    assert Path(a_data) == a_dir / "postgres" / "data"
    assert Path(b_data) == b_dir / "postgres" / "data"
    assert (urlsplit(a_url).port, urlsplit(b_url).port) == (a_port, b_port)
    assert a_port != b_port
    # What one writes, the other does not see.
    exists = "SELECT to_regclass('only_in_a') IS NOT NULL"
    assert pg.query(a_url, exists, setup="CREATE TABLE only_in_a (x int)") == [(True,)]
    assert pg.query(b_url, exists) == [(False,)]

    pg.stop_server(a_dir)
    assert not pg.running(a_dir)
    assert pg.running(b_dir)
    assert pg.query(b_url, "SELECT current_setting('data_directory')") == [(b_data,)]
    with pytest.raises(pg.psycopg_module().OperationalError, match=r"(?i)refused"):
        pg.query(a_url, "SELECT 1")


def test_private_server_is_its_own_and_gone_afterwards() -> None:
    pg.psycopg_module()
    with pg.private_server() as url:
        (data,) = pg.query(url, "SELECT current_setting('data_directory')")[0]
        run_dir = Path(data).parents[1]
        assert run_dir.name.startswith("wattlake-pg-") and run_dir.parent == Path("/tmp")
        assert pg.query(url, "SELECT 1") == [(1,)]
    assert not run_dir.exists()
    with pytest.raises(pg.psycopg_module().OperationalError, match=r"(?i)refused"):
        pg.query(url, "SELECT 1")
