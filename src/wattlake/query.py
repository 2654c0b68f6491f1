"""SQL over every table: lake tables as views, the warehouse attached read-only as `dw.*`.

One connection per process (`Context.sql()`): `open_catalog` creates it, `refresh_catalog`
adds the views of tables created since and (re-)attaches the warehouse, `detach_warehouse`
lets go of a DuckDB warehouse file while it is written. `run_sql` (the `wattlake sql`
command) accepts only read-only statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from wattlake.duck import duckdb_connect, load_extension
from wattlake.errors import InputError
from wattlake.lake.catalog import ALL_TABLES
from wattlake.lake.delta import Lake
from wattlake.lake.storage import connect_duckdb_to_lake
from wattlake.warehouse.targets import is_postgres, warehouse_path

_READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
WAREHOUSE_ALIAS = "wh"


def existing_relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """`schema.table` names visible on the connection's own (in-memory) catalog."""
    rows = con.execute(
        "SELECT schema_name || '.' || view_name FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal "
        "UNION SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE database_name = current_database()"
    ).fetchall()
    return {r[0] for r in rows}


def _attached(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT 1 FROM duckdb_databases() WHERE database_name = ?", [WAREHOUSE_ALIAS]
    ).fetchall()
    return bool(rows)


def _attach_warehouse(con: duckdb.DuckDBPyConnection, lake: Lake, warehouse: str | None) -> bool:
    """Attach the warehouse read-only as `wh`; False when there is none yet."""
    if _attached(con):
        return True
    if is_postgres(warehouse):
        load_extension(con, "postgres_scanner")
        try:
            con.execute(f"ATTACH '{warehouse}' AS {WAREHOUSE_ALIAS} (TYPE postgres, READ_ONLY)")
        except duckdb.Error as exc:
            raise InputError(f"cannot attach the warehouse: {str(exc).splitlines()[0]}") from None
        return True
    wh = warehouse_path(lake.home)
    if not wh.exists():
        return False
    con.execute(f"ATTACH '{wh}' AS {WAREHOUSE_ALIAS} (READ_ONLY)")
    return True


def _warehouse_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? "
        "AND table_schema = 'dw' ORDER BY 1",
        [WAREHOUSE_ALIAS],
    ).fetchall()
    return [r[0] for r in rows]


def refresh_catalog(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    warehouse: str | None,
    filters: Mapping[str, str] | None = None,
) -> None:
    """Add a view for every lake table created since the last refresh, attach the warehouse
    when it exists, and add views for its new `dw.*` tables. Views read the latest version
    of their table on every query. `filters`: `schema.table` → an SQL condition; that table's
    view shows only the rows that satisfy it (a scoped catalog, `steps.quality_gate`)."""
    have = existing_relations(con)
    for spec in ALL_TABLES:
        if spec.qualified in have or not lake.exists(spec):
            continue
        where = (filters or {}).get(spec.qualified)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
        con.execute(
            f"CREATE VIEW {spec.qualified} AS SELECT * FROM delta_scan('{lake.uri(spec)}')"
            + (f" WHERE {where}" if where else "")
        )
    if _attach_warehouse(con, lake, warehouse):
        con.execute("CREATE SCHEMA IF NOT EXISTS dw")
        for name in _warehouse_tables(con):
            if f"dw.{name}" not in have:
                con.execute(
                    f"CREATE OR REPLACE VIEW dw.{name} AS SELECT * FROM {WAREHOUSE_ALIAS}.dw.{name}"
                )


def detach_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the `dw.*` views and detach the warehouse (re-attached by the next refresh)."""
    if not _attached(con):
        return
    for rel in sorted(existing_relations(con)):
        if rel.startswith("dw."):
            con.execute(f"DROP VIEW IF EXISTS {rel}")
    con.execute(f"DETACH {WAREHOUSE_ALIAS}")


def open_catalog(
    lake: Lake, warehouse: str | None = None, filters: Mapping[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with `bronze.*`, `silver.*`, `gold.*`, `ops.*` and `dw.*` views
    (`filters`: see `refresh_catalog`)."""
    con = duckdb_connect()
    connect_duckdb_to_lake(con, lake.location)
    refresh_catalog(con, lake, warehouse, filters)
    return con


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[object, ...]]]:
    """Column names and rows of one read-only statement; `InputError` for anything else."""
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


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The first column of the first row of `sql` (None when there is no row)."""
    row = con.execute(sql).fetchone()
    return None if row is None else row[0]


@dataclass
class TableInfo:
    name: str
    rows: int
    size_bytes: int | None  # None for warehouse tables (one shared file / server)
    last_update: dt.datetime | None


def list_tables(con: duckdb.DuckDBPyConnection, lake: Lake) -> list[TableInfo]:
    """Every lake and warehouse table with its row count, size on disk and last update."""
    out: list[TableInfo] = []
    have = existing_relations(con)
    for spec in ALL_TABLES:
        if spec.qualified not in have:
            continue
        rows = int(scalar(con, f"SELECT count(*) FROM {spec.qualified}") or 0)
        ms = lake.last_modified(spec)
        when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC) if ms else None
        out.append(TableInfo(spec.qualified, rows, lake.size_bytes(spec), when))
    wh = warehouse_path(lake.home)
    when = dt.datetime.fromtimestamp(wh.stat().st_mtime, dt.UTC) if wh.exists() else None
    for rel in sorted(r for r in have if r.startswith("dw.")):
        rows = int(scalar(con, f"SELECT count(*) FROM {rel}") or 0)
        out.append(TableInfo(rel, rows, None, when))
    return out
