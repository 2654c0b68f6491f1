"""Read-only SQL over every table: lake tables as views, the warehouse attached read-only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from wattlake.duck import duckdb_connect, load_extension
from wattlake.errors import InputError
from wattlake.lake.catalog import ALL_TABLES
from wattlake.lake.delta import Lake
from wattlake.warehouse.loader import warehouse_path

_READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def _attach_warehouse(con: duckdb.DuckDBPyConnection, home: Path, warehouse: str | None) -> bool:
    """Attach the warehouse read-only as `wh`; False when there is none yet."""
    if warehouse and warehouse.startswith(("postgresql://", "postgres://")):
        load_extension(con, "postgres_scanner")
        try:
            con.execute(f"ATTACH '{warehouse}' AS wh (TYPE postgres, READ_ONLY)")
        except duckdb.Error as exc:
            raise InputError(f"cannot attach the warehouse: {str(exc).splitlines()[0]}") from None
        return True
    wh = warehouse_path(home)
    if not wh.exists():
        return False
    con.execute(f"ATTACH '{wh}' AS wh (READ_ONLY)")
    return True


def _warehouse_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'wh' "
        "AND table_schema = 'dw' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def connect(home: Path, warehouse: str | None = None) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with `bronze.*`, `silver.*`, `gold.*`, `ops.*` and `dw.*` views."""
    lake = Lake(home)
    con = duckdb_connect()
    for spec in ALL_TABLES:
        if not lake.exists(spec):
            continue
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
        con.execute(
            f"CREATE VIEW {spec.qualified} AS SELECT * FROM delta_scan('{lake.path(spec)}')"
        )
    if _attach_warehouse(con, home, warehouse):
        con.execute("CREATE SCHEMA IF NOT EXISTS dw")
        for name in _warehouse_tables(con):
            con.execute(f"CREATE VIEW dw.{name} AS SELECT * FROM wh.dw.{name}")
    return con


def run_sql(
    home: Path, sql: str, warehouse: str | None = None
) -> tuple[list[str], list[tuple[object, ...]]]:
    """Column names and rows of one read-only statement; `InputError` for anything else."""
    con = connect(home, warehouse)
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
    size_bytes: int | None  # None for warehouse tables (one shared file / server)
    last_update: dt.datetime | None


def _schemas(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0] for r in con.execute("SELECT DISTINCT schema_name FROM duckdb_schemas()").fetchall()
    }


def list_tables(home: Path, warehouse: str | None = None) -> list[TableInfo]:
    """Every lake and warehouse table with its row count, size on disk and last update."""
    lake = Lake(home)
    con = connect(home, warehouse)
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
        when = dt.datetime.fromtimestamp(wh.stat().st_mtime, dt.UTC) if wh.exists() else None
        for name in _warehouse_tables(con) if "dw" in _schemas(con) else []:
            rows = con.execute(f"SELECT count(*) FROM dw.{name}").fetchone()[0]
            out.append(TableInfo(f"dw.{name}", int(rows), None, when))
    finally:
        con.close()
    return out
