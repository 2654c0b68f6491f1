"""The one DuckDB set-up: UTC sessions, extensions from their PyPI wheels, memory and spill.

DuckDB cannot download extensions offline, so each extension is installed from the file its
wheel ships (`duckdb-extension-delta`, `-postgres-scanner`, `-httpfs`, `-aws`). Every DuckDB
connection of wattlake (the engine, `wattlake sql`, quality checks, metrics, the warehouse
file, clustered writes, record ids) is made here.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from pathlib import Path

import duckdb

from wattlake.errors import InputError, WattlakeError

# extension name → (wheel module, how to install it)
_WHEELS = {
    "delta": ("duckdb_extension_delta", "pip install duckdb-extension-delta"),
    "postgres_scanner": (
        "duckdb_extension_postgres_scanner",
        "a PostgreSQL warehouse needs: pip install 'wattlake[postgres]'",
    ),
    "httpfs": ("duckdb_extension_httpfs", "a lake on s3:// needs: pip install 'wattlake[s3]'"),
    "aws": ("duckdb_extension_aws", "a lake on s3:// needs: pip install 'wattlake[s3]'"),
}


@functools.cache
def extension_path(name: str) -> str:
    """Path of DuckDB extension `name` inside its wheel (for `INSTALL '<path>'`)."""
    module, hint = _WHEELS[name]
    try:
        pkg = importlib.import_module(module)
    except ImportError:
        raise InputError(hint) from None
    root = Path(pkg.__file__ or "").parent
    found = sorted(root.rglob(f"v{duckdb.__version__}/{name}.duckdb_extension")) or sorted(
        root.rglob(f"{name}.duckdb_extension")
    )
    if not found:
        raise WattlakeError(f"DuckDB {name} extension not found under {root}")
    return str(found[0])


def delta_extension_path() -> str:
    """Path of the DuckDB delta extension inside the `duckdb-extension-delta` wheel."""
    return extension_path("delta")


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Install `name` from its wheel's file and load it."""
    con.execute(f"INSTALL '{extension_path(name)}'; LOAD {name};")


def configure(
    con: duckdb.DuckDBPyConnection,
    *,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    threads: int | None = None,
    extensions: Sequence[str] = ("delta",),
) -> duckdb.DuckDBPyConnection:
    """Set a connection up the wattlake way: UTC, `memory_limit` (e.g. "3GB"; beyond it
    DuckDB spills to `temp_directory`), `threads`, and the `extensions` loaded."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # no bars on stderr from long queries
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory is not None:
        temp_directory.mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = ?", [str(temp_directory)])
    for name in extensions:
        load_extension(con, name)
    return con


def duckdb_connect(
    database: Path | str = ":memory:",
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    threads: int | None = None,
    extensions: Sequence[str] = ("delta",),
) -> duckdb.DuckDBPyConnection:
    """A new DuckDB connection (in memory by default), set up by `configure`."""
    con = duckdb.connect(str(database), read_only=read_only)
    return configure(
        con,
        memory_limit=memory_limit,
        temp_directory=temp_directory,
        threads=threads,
        extensions=extensions,
    )
