"""Engines: the Ibis backend a run uses, and its thin Delta I/O adapters.

- `duckdb` (default): embedded, reads Delta with DuckDB's delta extension shipped as a wheel.
- `spark`: local PySpark (`pip install wattlake[spark]`, Java 17); reads the Delta table's
  current Parquet files, so no Delta jars are needed for a local run.

Results are materialised to Arrow and written with delta-rs (`Lake`), the same for both.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from wattlake.config import Settings
from wattlake.duck import duckdb_connect
from wattlake.errors import WattlakeError
from wattlake.lake.delta import Lake
from wattlake.lake.spec import TableSpec, conform


class Engine:
    """An Ibis backend plus how to read lake tables into it."""

    name: str
    con: Any

    def read(self, lake: Lake, spec: TableSpec) -> ir.Table:
        raise NotImplementedError

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        return expr.to_pyarrow()

    # Largest number of readings the silver VEE classifies at once (None: all at once).
    # The rules are per meter, so `silver.classify_chunks` splits bigger inputs by meter
    # to bound an embedded engine's working memory; a cluster engine needs no chunks.
    chunk_readings: int | None = None

    def materialize(self, expr: ir.Table) -> ir.Table:
        """Compute `expr` once into an engine-side temporary table and return it."""
        raise NotImplementedError

    def release(self, tables: list[ir.Table]) -> None:
        """Free tables made by `materialize` that are no longer needed."""

    def append(self, target: ir.Table | None, expr: ir.Table) -> ir.Table:
        """Add the rows of `expr` to `target` (a table from `materialize`/`append`, or None
        for a new one) and return it."""
        if target is None:
            return self.materialize(expr)
        return self.materialize(target.union(expr))

    def prepare(self, build: Build, source: ir.Table) -> Prepared:
        """`build(source, checkpoint)` made ready to run on many inputs like `source` (same
        schema): `Prepared.run(part)` gives `build(part, ...)`. Engines that can compile a
        plan once override this; here each run builds it again."""
        return Prepared(self, build)

    def close(self) -> None:
        pass


# build(source, checkpoint) -> result, where checkpoint computes an intermediate table once.
Build = Callable[[ir.Table, Callable[[ir.Table], ir.Table]], ir.Table]


class Prepared:
    """A `Build` bound to an engine; `run` gives its result for one input, and frees the
    previous input's intermediate tables (so use a result before the next `run`)."""

    def __init__(self, engine: Engine, build: Build) -> None:
        self.engine, self.build = engine, build
        self._made: list[ir.Table] = []

    def _checkpoint(self, expr: ir.Table) -> ir.Table:
        self._made.append(self.engine.materialize(expr))
        return self._made[-1]

    def run(self, part: ir.Table) -> ir.Table:
        self.close()
        return self.build(part, self._checkpoint)

    def close(self) -> None:
        """Free the intermediate tables of the last run."""
        self.engine.release(self._made)
        self._made = []


class _CompiledPlan(Prepared):
    """DuckDB: the plan compiled to SQL once, over a view standing for the input; each run
    points the view at the input and executes the statements (Ibis compilation costs about
    half a second per plan, as much as classifying a few hundred thousand readings)."""

    _ids = itertools.count(1)

    def __init__(self, engine: DuckDBEngine, build: Build, source: ir.Table) -> None:
        super().__init__(engine, build)
        self.con = engine.con
        self.prefix = f"wl_p{next(self._ids)}_"
        placeholder = ibis.table(source.schema(), name=self.prefix + "src")
        self.steps: list[tuple[str, str]] = []
        final = build(placeholder, self._plan_checkpoint)
        self.final_sql = str(self.con.compile(final))
        self.schema = final.schema()

    def _plan_checkpoint(self, expr: ir.Table) -> ir.Table:
        name = f"{self.prefix}{len(self.steps) + 1}"
        self.steps.append((name, str(self.con.compile(expr))))
        return ibis.table(expr.schema(), name=name)

    def run(self, part: ir.Table) -> ir.Table:
        p = self.prefix
        self.close()  # the previous input's tables first: never two inputs' tables at once
        self.con.raw_sql(f'CREATE OR REPLACE TEMP VIEW "{p}src" AS {self.con.compile(part)}')
        for name, sql in self.steps:
            self.con.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')
        self.con.raw_sql(f'CREATE OR REPLACE TEMP VIEW "{p}out" AS {self.final_sql}')
        out = self.con.table(f"{p}out")
        # Ibis types where DuckDB's differ (e.g. EXTRACT gives BIGINT for an int32 hour).
        fix = {c: t for c, t in self.schema.items() if out.schema()[c] != t}
        return out.cast(fix) if fix else out

    def close(self) -> None:
        for name, _ in self.steps:
            self.con.raw_sql(f'DROP TABLE IF EXISTS temp.main."{name}"')
        self.con.raw_sql(f'DROP VIEW IF EXISTS temp.main."{self.prefix}out"')
        self.con.raw_sql(f'DROP VIEW IF EXISTS temp.main."{self.prefix}src"')


class DuckDBEngine(Engine):
    name = "duckdb"
    # Readings per chunk of meters in the silver VEE (`bench_silver.py`, 48.8 M readings on
    # 2 cores): 2 M peaked at 1.9 GiB and ran as fast as 4 M (3.1 GiB) or faster; 1 M and
    # 6 M were slower.
    chunk_readings = 2_000_000

    def __init__(
        self,
        threads: int | None = None,
        memory_limit: str | None = None,
        chunk_readings: int | None = None,
        temp_directory: Path | None = None,
    ) -> None:
        self.con = ibis.duckdb.from_connection(
            duckdb_connect(
                memory_limit=memory_limit, temp_directory=temp_directory, threads=threads
            )
        )
        if chunk_readings:
            self.chunk_readings = chunk_readings
        self._n = 0

    def read(self, lake: Lake, spec: TableSpec) -> ir.Table:
        lake.ensure(spec)
        return self.con.read_delta(str(lake.path(spec)))

    def materialize(self, expr: ir.Table) -> ir.Table:
        self._n += 1
        return self.con.create_table(f"wl_m{self._n}", expr, temp=True, overwrite=True)

    def release(self, tables: list[ir.Table]) -> None:
        for t in tables:
            name = t.get_name().rsplit(".", 1)[-1]
            if name.startswith("wl_m"):
                self.con.raw_sql(f'DROP TABLE IF EXISTS temp.main."{name}"')

    def append(self, target: ir.Table | None, expr: ir.Table) -> ir.Table:
        if target is None:
            return self.materialize(expr)
        self.con.insert(target.get_name().rsplit(".", 1)[-1], expr)
        return target

    def prepare(self, build: Build, source: ir.Table) -> Prepared:
        return _CompiledPlan(self, build, source)

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


def make_engine(
    name: str,
    spark_master: str = "local[2]",
    *,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
) -> Engine:
    """The named engine. DuckDB only: `memory_limit` caps its working memory (e.g. "3GB";
    None: DuckDB's default, 80 % of RAM) and `temp_directory` is where it spills beyond
    that (default: `.tmp` in the working directory)."""
    if name == "duckdb":
        return DuckDBEngine(memory_limit=memory_limit, temp_directory=temp_directory)
    if name == "spark":
        return SparkEngine(spark_master)
    raise WattlakeError(f"unknown engine '{name}' (known: duckdb, spark)")


def engine_for(settings: Settings) -> Engine:
    """The engine a command uses with `settings`: DuckDB spills to `<home>/tmp/duckdb`."""
    return make_engine(
        settings.engine,
        settings.spark_master,
        memory_limit=settings.duckdb_memory_limit,
        temp_directory=settings.home / "tmp" / "duckdb",
    )
