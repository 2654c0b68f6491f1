"""Read-only SQL over every table: lake tables as views, the warehouse attached read-only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from wattlake.engine import delta_extension_path
from wattlake.errors import InputError
from wattlake.lake.tables import ALL_TABLES, Lake
from wattlake.warehouse.loader import warehouse_path

_READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def connect(home: Path) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with `bronze.*`, `silver.*`, `gold.*`, `ops.*` and `dw.*` views."""
    lake = Lake(home)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"INSTALL '{delta_extension_path()}'; LOAD delta;")
    for spec in ALL_TABLES:
        if not lake.exists(spec):
            continue
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
        con.execute(
            f"CREATE VIEW {spec.qualified} AS SELECT * FROM delta_scan('{lake.path(spec)}')"
        )
    wh = warehouse_path(home)
    if wh.exists():
        con.execute(f"ATTACH '{wh}' AS wh (READ_ONLY)")
        con.execute("CREATE SCHEMA IF NOT EXISTS dw")
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh' "
            "AND schema_name = 'dw' ORDER BY 1"
        ).fetchall():
            con.execute(f"CREATE VIEW dw.{name} AS SELECT * FROM wh.dw.{name}")
    return con


def run_sql(home: Path, sql: str) -> tuple[list[str], list[tuple[object, ...]]]:
    """Column names and rows of one read-only statement; `InputError` for anything else."""
    con = connect(home)
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise InputError(f"SQL error: {str(exc).splitlines()[0]}") from None
        if len(statements) != 1:
            raise InputError("give exactly one SQL statement")
        if statements[0].type not in _READ_ONLY:
            raise InputError("only read-only queries (SELECT, WITH, EXPLAIN) are allowed")
        try:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description or []]
            return cols, cur.fetchall()
        except duckdb.Error as exc:
            raise InputError(f"SQL error: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


@dataclass
class TableInfo:
    name: str
    rows: int
    size_bytes: int
    last_update: dt.datetime | None


def list_tables(home: Path) -> list[TableInfo]:
    """Every lake and warehouse table with its row count, size on disk and last update."""
    lake = Lake(home)
    con = connect(home)
    out: list[TableInfo] = []
    try:
        for spec in ALL_TABLES:
            if not lake.exists(spec):
                continue
            rows = con.execute(f"SELECT count(*) FROM {spec.qualified}").fetchone()[0]
            ms = lake.last_modified(spec)
            when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC) if ms else None
            out.append(TableInfo(spec.qualified, int(rows), lake.size_bytes(spec), when))
        wh = warehouse_path(home)
        if wh.exists():
            names = con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh' "
                "AND schema_name = 'dw' ORDER BY 1"
            ).fetchall()
            when = dt.datetime.fromtimestamp(wh.stat().st_mtime, dt.UTC)
            for (name,) in names:
                rows = con.execute(f"SELECT count(*) FROM dw.{name}").fetchone()[0]
                size = con.execute(
                    "SELECT coalesce(sum(estimated_size), 0) FROM duckdb_tables() "
                    f"WHERE database_name = 'wh' AND table_name = '{name}'"
                ).fetchone()[0]
                out.append(TableInfo(f"dw.{name}", int(rows), int(size), when))
    finally:
        con.close()
    return out
