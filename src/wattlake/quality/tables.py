"""Lake tables of the quality suite and observability, plus a SQL connection that sees them.

`OPS_QUALITY_RESULTS` and `OPS_METRICS` live in `wattlake.lake.tables` (and `ALL_TABLES`,
so `wattlake sql` shows them); `connect` is `wattlake.query.connect`, which sees them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from wattlake.lake import catalog as cat
from wattlake.query import connect as query_connect

OPS_QUALITY_RESULTS = cat.OPS_QUALITY_RESULTS
OPS_METRICS = cat.OPS_METRICS


def existing_relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """`schema.table` names visible on the connection's own (in-memory) catalog."""
    rows = con.execute(
        "SELECT schema_name || '.' || view_name FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal "
        "UNION SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE database_name = current_database()"
    ).fetchall()
    return {r[0] for r in rows}


def connect(home: Path, warehouse: str | None = None) -> duckdb.DuckDBPyConnection:
    """`wattlake.query.connect`: every lake table (quality and metrics included) as a view."""
    return query_connect(Path(home), warehouse)
