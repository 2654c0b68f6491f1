"""Engines: the Ibis backend a run uses, and how it reads lake tables.

- `duckdb` (default): embedded, reads Delta with DuckDB's delta extension shipped as a wheel
  (and `s3://` through its httpfs extension).
- `spark`: PySpark with delta-spark (`pip install wattlake[spark]`, Java 17, the jars of
  `scripts/jars.sh spark`), on `local[N]` or a cluster (`spark://…`); reads Delta itself.

Writing step results is the lake I/O's job (`wattlake.tables`): delta-rs from DuckDB's
record batches, delta-spark on the executors.
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
from wattlake.lake.spec import TableSpec
from wattlake.lake.storage import LakeLocation, connect_duckdb_to_lake

# fn(rows of one group) -> rows out, for `Engine.apply_by`.
GroupFn = Callable[[pa.Table], pa.Table]


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

    def apply_by(self, expr: ir.Table, key: str, fn: GroupFn, schema: pa.Schema) -> ir.Table:
        """`fn` (plain Python over Arrow) on the rows of `expr`, group by group of `key`
        values, its outputs (`schema`) as one engine table, computed once. `fn` must give
        the same rows for a group whether it sees that group alone or with others: an
        embedded engine calls it once with every row, a cluster once per group on the
        executors."""
        out = fn(self.to_arrow(expr))
        return self.materialize(ibis.memtable(out.cast(schema)))

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
        self._raw = duckdb_connect(
            memory_limit=memory_limit, temp_directory=temp_directory, threads=threads
        )
        self.con = ibis.duckdb.from_connection(self._raw)
        if chunk_readings:
            self.chunk_readings = chunk_readings
        self._n = 0
        self._reached: set[LakeLocation] = set()

    def read(self, lake: Lake, spec: TableSpec) -> ir.Table:
        if lake.location not in self._reached:  # S3: httpfs and the lake's secret, once
            connect_duckdb_to_lake(self._raw, lake.location)
            self._reached.add(lake.location)
        lake.ensure(spec)
        return self.con.read_delta(lake.uri(spec))

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
    """PySpark with delta-spark: tables are read by Spark (`format("delta")`), on the
    driver's master (`local[N]` or a cluster); `session`: an existing Delta-enabled
    SparkSession to use instead of building one (`spark_session.build_spark_session`; for
    an S3 lake it needs the lake's `spark.hadoop.fs.s3a.*` settings, `LakeLocation.spark_conf`)."""

    name = "spark"

    def __init__(
        self,
        master: str = "local[2]",
        *,
        lake: LakeLocation | None = None,
        session: Any = None,
        conf: dict[str, str] | None = None,
    ) -> None:
        if session is None:
            from wattlake.spark_session import build_spark_session

            session = build_spark_session(master, lake=lake, extra=conf)
        self.spark = session
        self.con = ibis.pyspark.connect(session)
        self._n = 0

    def _name(self, kind: str) -> str:
        self._n += 1
        return f"wl_{kind}{self._n}"

    def read(self, lake: Lake, spec: TableSpec) -> ir.Table:
        lake.ensure(spec)
        name = self._name(f"{spec.schema}_{spec.name}_")
        self.spark.read.format("delta").load(lake.spark_uri(spec)).createOrReplaceTempView(name)
        return self.con.table(name)

    def dataframe(self, expr: ir.Table) -> Any:
        """`expr` as a (lazy) Spark DataFrame."""
        name = self._name("v")
        self.con.create_view(name, expr, overwrite=True)
        return self.spark.table(name)

    def materialize(self, expr: ir.Table) -> ir.Table:
        # On the executors (their block managers), not the driver.
        name = self._name("m")
        self.dataframe(expr).localCheckpoint(eager=True).createOrReplaceTempView(name)
        return self.con.table(name)

    def apply_by(self, expr: ir.Table, key: str, fn: GroupFn, schema: pa.Schema) -> ir.Table:
        from pyspark.sql.pandas.types import from_arrow_schema

        def one_group(rows: pa.Table) -> pa.Table:
            return fn(rows).cast(schema)

        out = self.dataframe(expr).groupBy(key).applyInArrow(one_group, from_arrow_schema(schema))
        name = self._name("g")
        out.localCheckpoint(eager=True).createOrReplaceTempView(name)
        return self.con.table(name)

    def close(self) -> None:
        # Keep the JVM for the process (starting Spark costs seconds); sessions are cheap.
        pass


def make_engine(
    name: str,
    spark_master: str = "local[2]",
    *,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    lake: LakeLocation | None = None,
    spark_conf: dict[str, str] | None = None,
) -> Engine:
    """The named engine (Spark: with the settings to reach `lake`). DuckDB only:
    `memory_limit` caps its working memory (e.g. "3GB"; None: DuckDB's default, 80 % of
    RAM) and `temp_directory` is where it spills beyond that (default: `.tmp` in the
    working directory). Spark only: `spark_conf`, extra session settings."""
    if name == "duckdb":
        return DuckDBEngine(memory_limit=memory_limit, temp_directory=temp_directory)
    if name == "spark":
        return SparkEngine(spark_master, lake=lake, conf=spark_conf)
    raise WattlakeError(f"unknown engine '{name}' (known: duckdb, spark)")


def engine_for(settings: Settings, lake: LakeLocation | None = None) -> Engine:
    """The engine a command uses with `settings` and its `lake`: DuckDB spills to
    `<home>/tmp/duckdb`."""
    return make_engine(
        settings.engine,
        settings.spark_master,
        memory_limit=settings.duckdb_memory_limit,
        temp_directory=settings.home / "tmp" / "duckdb",
        lake=lake,
        spark_conf=settings.spark_conf or None,
    )
