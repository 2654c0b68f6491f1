"""Engines: the Ibis backend a run uses, and its thin Delta I/O adapters.

- `duckdb` (default): embedded, reads Delta with DuckDB's delta extension shipped as a wheel.
- `spark`: local PySpark (`pip install wattlake[spark]`, Java 17); reads the Delta table's
  current Parquet files, so no Delta jars are needed for a local run.

Results are materialised to Arrow and written with delta-rs (`Lake`), the same for both.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from wattlake.errors import WattlakeError
from wattlake.lake.tables import Lake, TableSpec, conform


@functools.cache
def delta_extension_path() -> str:
    """Path of the DuckDB delta extension inside the `duckdb-extension-delta` wheel."""
    import duckdb
    import duckdb_extension_delta

    root = Path(duckdb_extension_delta.__file__).parent
    found = sorted(root.rglob(f"v{duckdb.__version__}/delta.duckdb_extension")) or sorted(
        root.rglob("delta.duckdb_extension")
    )
    if not found:
        raise WattlakeError(f"DuckDB delta extension not found under {root}")
    return str(found[0])


class Engine:
    """An Ibis backend plus how to read lake tables into it."""

    name: str
    con: Any

    def read(self, lake: Lake, spec: TableSpec) -> ir.Table:
        raise NotImplementedError

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        return expr.to_pyarrow()

    def materialize(self, expr: ir.Table) -> ir.Table:
        """Compute `expr` once into an engine-side temporary table and return it."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, threads: int | None = None) -> None:
        self.con = ibis.duckdb.connect()
        self.con.raw_sql("SET TimeZone = 'UTC'")
        if threads:
            self.con.raw_sql(f"SET threads = {int(threads)}")
        self.con.raw_sql(f"INSTALL '{delta_extension_path()}'; LOAD delta;")

    def read(self, lake: Lake, spec: TableSpec) -> ir.Table:
        lake.ensure(spec)
        return self.con.read_delta(str(lake.path(spec)))

    def materialize(self, expr: ir.Table) -> ir.Table:
        self._n = getattr(self, "_n", 0) + 1
        return self.con.create_table(f"wl_m{self._n}", expr, temp=True, overwrite=True)

    def close(self) -> None:
        self.con.disconnect()


class SparkEngine(Engine):
    name = "spark"

    def __init__(self, master: str = "local[2]") -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise WattlakeError(
                "--engine spark needs PySpark: pip install 'wattlake[spark]' (and Java 17)"
            ) from None
        self.spark = (
            SparkSession.builder.master(master)
            .appName("wattlake")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.memory", "2g")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")
        self.con = ibis.pyspark.connect(self.spark)
        self._n = 0

    def read(self, lake: Lake, spec: TableSpec) -> ir.Table:
        dt = lake.ensure(spec)
        files = dt.file_uris()
        self._n += 1
        name = f"wl_{spec.schema}_{spec.name}_{self._n}"
        data_cols = [c for c in spec.column_names if c not in spec.partition_by]
        if files:
            df = self.spark.read.parquet(*files).select(*data_cols)
        else:
            empty = conform(spec.arrow_schema.empty_table(), spec).select(data_cols)
            df = self.spark.createDataFrame(empty.to_pandas(), schema=_spark_schema(empty))
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def materialize(self, expr: ir.Table) -> ir.Table:
        self._n += 1
        name = f"wl_m{self._n}"
        self.con.create_view(f"{name}_v", expr, overwrite=True)
        df = self.spark.table(f"{name}_v").localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def close(self) -> None:
        # Keep the JVM for the process (starting Spark costs seconds); sessions are cheap.
        pass


def _spark_schema(table: pa.Table) -> Any:
    from pyspark.sql import types as st

    mapping = {
        pa.string(): st.StringType(),
        pa.int64(): st.LongType(),
        pa.int32(): st.IntegerType(),
        pa.float64(): st.DoubleType(),
        pa.bool_(): st.BooleanType(),
        pa.date32(): st.DateType(),
    }
    fields = []
    for f in table.schema:
        typ = st.TimestampType() if pa.types.is_timestamp(f.type) else mapping[f.type]
        fields.append(st.StructField(f.name, typ, True))
    return st.StructType(fields)


def make_engine(name: str, spark_master: str = "local[2]") -> Engine:
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        return SparkEngine(spark_master)
    raise WattlakeError(f"unknown engine '{name}' (known: duckdb, spark)")
