"""Warehouse targets: a DuckDB file or a PostgreSQL database behind one small interface.

The loader (`loader.py`) writes its steps once, as SQL that both engines accept, and asks the
target for the few things that differ. Every dialect difference is a method here:

- lake table as a relation: DuckDB a temp view over `delta_scan(path)`; PostgreSQL a temp
  table filled by `COPY … FROM STDIN (FORMAT csv)`.
- integer division: `a // b` | `a / b`.
- time_sk (yyyymmddhh) of a timestamp: `strftime(ts, '%Y%m%d%H')` | `to_char(ts, 'YYYYMMDDHH24')`.
- English day name: `dayname(ts)` | `to_char(ts, 'FMDay')`.
- round a double to n dp: `round(x::decimal(38,10), n)` | `round(x::numeric, n)::float8`.
- temp table from a query: `CREATE OR REPLACE TEMP TABLE` | `CREATE TEMP TABLE … ON COMMIT DROP`.
- empty a fact table: `DELETE FROM` | `TRUNCATE` (transactional in PostgreSQL).
- schema: see `ddl.py` (partitions, keys and indexes on PostgreSQL only).

PostgreSQL reads the lake on the Python side (pyarrow datasets over the Delta files) and
streams record batches as CSV into `COPY … FROM STDIN`; floats are written in shortest
round-trip form, so values arrive bit-identical. On the Spark engine the executors stage
the lake tables over JDBC instead (`spark_jdbc.SparkPostgresTarget`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds

from wattlake.duck import duckdb_connect
from wattlake.errors import InputError, WattlakeError
from wattlake.lake.delta import Lake
from wattlake.lake.spec import TableSpec
from wattlake.lake.storage import connect_duckdb_to_lake
from wattlake.warehouse import ddl
from wattlake.warehouse.ddl import DialectName

COPY_BATCH_ROWS = 200_000


def date_literals(dates: Iterable[dt.date]) -> str:
    """`DATE 'yyyy-mm-dd', …` for an IN-list (dates are ours, never user text)."""
    return ", ".join(f"DATE '{d.isoformat()}'" for d in dates)


class Target:
    """One warehouse connection; subclasses implement the dialect differences."""

    dialect: DialectName

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    # -- statements ------------------------------------------------------------------
    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def scalar(self, sql: str) -> Any:
        return self.rows(sql)[0][0]

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    def close(self) -> None:
        raise NotImplementedError

    # -- schema ------------------------------------------------------------------------
    def create_schema(self) -> None:
        for stmt in ddl.schema_ddl(self.dialect):
            self.execute(stmt)

    def ensure_partitions(self, month_sks: Sequence[int]) -> None:
        """Create the monthly fact partitions for `month_sks` (yyyymm) where partitioned."""

    # -- lake → warehouse relations ------------------------------------------------------
    def stage(
        self,
        name: str,
        spec: TableSpec,
        columns: list[str],
        dates: Sequence[dt.date] | None = None,
        distinct: bool = False,
    ) -> None:
        """Expose `columns` of lake table `spec` as relation `name` for this transaction.

        `dates` keeps only rows whose `date` column is in the list (None: all rows);
        `distinct` drops duplicate rows.
        """
        raise NotImplementedError

    def distinct_dates(self, spec: TableSpec) -> list[dt.date]:
        """Every distinct value of the `date` column of lake table `spec`, sorted."""
        raise NotImplementedError

    # -- dialect -----------------------------------------------------------------------
    def idiv(self, a: str, b: int) -> str:
        raise NotImplementedError

    def time_sk(self, ts: str) -> str:
        """BIGINT yyyymmddhh of a UTC timestamp expression."""
        raise NotImplementedError

    def day_name(self, ts: str) -> str:
        raise NotImplementedError

    def round(self, expr: str, digits: int) -> str:
        """`expr` (a double) rounded half away from zero to `digits` places, as a double."""
        raise NotImplementedError

    def round4(self, expr: str) -> str:
        return self.round(expr, 4)

    def create_temp_as(self, name: str) -> str:
        """The prefix of a statement that (re)creates temp table `name` from a query."""
        raise NotImplementedError

    def delete_all(self, table: str) -> str:
        return f"DELETE FROM {table}"


class DuckDBTarget(Target):
    """`<home>/warehouse.duckdb`; lake tables read in place with `delta_scan`."""

    dialect: DialectName = "duckdb"

    def __init__(self, lake: Lake, path: Path) -> None:
        super().__init__(lake)
        self.con = duckdb_connect(path)
        connect_duckdb_to_lake(self.con, lake.location)

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        self.con.close()

    def _scan(self, spec: TableSpec) -> str:
        self.lake.ensure(spec)
        return f"delta_scan('{self.lake.uri(spec)}')"

    def stage(
        self,
        name: str,
        spec: TableSpec,
        columns: list[str],
        dates: Sequence[dt.date] | None = None,
        distinct: bool = False,
    ) -> None:
        where = "" if dates is None else f" WHERE date IN ({date_literals(dates) or 'NULL'})"
        self.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {'DISTINCT ' if distinct else ''}"
            f"{', '.join(columns)} FROM {self._scan(spec)}{where}"
        )

    def distinct_dates(self, spec: TableSpec) -> list[dt.date]:
        return [d for (d,) in self.rows(f"SELECT DISTINCT date FROM {self._scan(spec)} ORDER BY 1")]

    def idiv(self, a: str, b: int) -> str:
        return f"({a} // {b})"

    def time_sk(self, ts: str) -> str:
        return f"CAST(strftime({ts}, '%Y%m%d%H') AS BIGINT)"

    def day_name(self, ts: str) -> str:
        return f"dayname({ts})"

    def round(self, expr: str, digits: int) -> str:
        # Decimal rounding, as on PostgreSQL: rounding the double directly can fall on the
        # other side of a tie (0.00865 stored as 0.0086499…), so the targets would differ.
        return f"CAST(round(CAST({expr} AS DECIMAL(38, 10)), {digits}) AS DOUBLE)"

    def create_temp_as(self, name: str) -> str:
        return f"CREATE OR REPLACE TEMP TABLE {name} AS"


_PG_TYPES = {
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.float64(): "DOUBLE PRECISION",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}

# Serialises concurrent loads into one database (surrogate keys are max() + row_number()).
_PG_LOCK_KEY = 0x7761_7474_6C61_6B65 & 0x7FFF_FFFF_FFFF_FFFF  # "wattlake"


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if t in _PG_TYPES:
        return _PG_TYPES[t]
    raise WattlakeError(f"no PostgreSQL type for Arrow type {t}")


def pg_columns(spec: TableSpec, columns: list[str]) -> str:
    """`name TYPE, …` of `columns` of lake table `spec` for a PostgreSQL staging table."""
    schema = spec.arrow_schema
    return ", ".join(f"{c} {_pg_type(schema.field(c).type)}" for c in columns)


class PostgresTarget(Target):
    """A PostgreSQL 15 database (psycopg 3); lake tables are copied into temp tables."""

    dialect: DialectName = "postgres"

    def __init__(self, lake: Lake, url: str) -> None:
        super().__init__(lake)
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise WattlakeError(
                "a postgresql:// warehouse needs psycopg: pip install 'psycopg[binary]>=3.2'"
            ) from exc
        try:
            self.con = psycopg.connect(url, autocommit=True, application_name="wattlake")
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WattlakeError(f"cannot connect to the warehouse: {first}") from None
        self.execute("SET TimeZone = 'UTC'")

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def begin(self) -> None:
        self.execute("BEGIN")
        self.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")

    def close(self) -> None:
        self.con.close()

    def ensure_partitions(self, month_sks: Sequence[int]) -> None:
        for m in sorted(set(month_sks)):
            for stmt in ddl.partition_ddl(m):
                self.execute(stmt)

    def _dataset(self, spec: TableSpec) -> ds.Dataset:
        return self.lake.ensure(spec).to_pyarrow_dataset()

    def stage(
        self,
        name: str,
        spec: TableSpec,
        columns: list[str],
        dates: Sequence[dt.date] | None = None,
        distinct: bool = False,
    ) -> None:
        self.execute(f"DROP TABLE IF EXISTS {name}")
        self.execute(f"CREATE TEMP TABLE {name} ({pg_columns(spec, columns)}) ON COMMIT DROP")
        flt = None if dates is None else ds.field("date").isin(pa.array(dates, pa.date32()))
        data = self._dataset(spec)
        batches: Iterable[pa.RecordBatch]
        if distinct:
            table = data.to_table(columns=columns, filter=flt)
            batches = table.group_by(columns).aggregate([]).select(columns).to_batches()
        else:
            batches = data.to_batches(columns=columns, filter=flt, batch_size=COPY_BATCH_ROWS)
        opts = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        cur = self.con.cursor()
        with cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as cp:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                buf = io.BytesIO()
                pacsv.write_csv(batch, buf, opts)
                cp.write(buf.getvalue())
        self.execute(f"ANALYZE {name}")

    def distinct_dates(self, spec: TableSpec) -> list[dt.date]:
        col = self._dataset(spec).to_table(columns=["date"]).column("date")
        return sorted(d for d in pc.unique(col).to_pylist() if d is not None)

    def idiv(self, a: str, b: int) -> str:
        return f"({a} / {b})"

    def time_sk(self, ts: str) -> str:
        return f"CAST(to_char({ts}, 'YYYYMMDDHH24') AS BIGINT)"

    def day_name(self, ts: str) -> str:
        return f"to_char({ts}, 'FMDay')"

    def round(self, expr: str, digits: int) -> str:
        return f"CAST(round(CAST({expr} AS NUMERIC), {digits}) AS DOUBLE PRECISION)"

    def create_temp_as(self, name: str) -> str:
        self.execute(f"DROP TABLE IF EXISTS {name}")
        return f"CREATE TEMP TABLE {name} ON COMMIT DROP AS"

    def delete_all(self, table: str) -> str:
        return f"TRUNCATE {table}"


def warehouse_path(home: Path) -> Path:
    """The DuckDB warehouse file of a home (used when `settings.warehouse` is None)."""
    return Path(home) / "warehouse.duckdb"


def is_postgres(warehouse: str | None) -> bool:
    """True when `warehouse` is a PostgreSQL URL (else the home's DuckDB file is used)."""
    return warehouse is not None and warehouse.startswith(("postgresql://", "postgres://"))


def open_target(lake: Lake, warehouse: str | None) -> Target:
    """The target named by `settings.warehouse`: None → `<home>/warehouse.duckdb`, or a
    PostgreSQL URL."""
    if warehouse is None or warehouse.strip() == "":
        return DuckDBTarget(lake, warehouse_path(lake.home))
    if is_postgres(warehouse):
        return PostgresTarget(lake, warehouse)
    raise InputError(
        f"unsupported warehouse {warehouse!r}: leave it unset (DuckDB file) or give a "
        "postgresql://user@host:port/db URL"
    )
