"""PostgreSQL warehouse loaded from the Spark executors (the `spark` engine).

The loader (`loader.py`) is the same SQL as for every target; only `stage` differs from
`PostgresTarget`: Spark reads the lake table (Delta, on the executors), keeps the load's
columns and dates, and writes it over JDBC in `partitions` parallel connections into a
staging table (`wattlake_staging.<name>_<id>`, committed by the executors). Inside the
load's transaction that staging table is copied into the temp table the loader reads
(server-side, typed as `PostgresTarget` types them) and dropped with the commit. No row
passes through the driver.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from wattlake.lake.delta import Lake
from wattlake.lake.spec import TableSpec
from wattlake.spark_session import jdbc_target
from wattlake.warehouse.targets import PostgresTarget, pg_columns

STAGING_SCHEMA = "wattlake_staging"
# Rows per JDBC batch insert.
JDBC_BATCH_ROWS = 10_000


class SparkPostgresTarget(PostgresTarget):
    """A PostgreSQL target whose lake relations are staged by Spark (module doc)."""

    def __init__(self, lake: Lake, url: str, spark: Any, partitions: int | None = None) -> None:
        super().__init__(lake, url)
        self.spark = spark
        self.jdbc_url, self.jdbc_props = jdbc_target(url)
        self.partitions = partitions or max(2, int(spark.sparkContext.defaultParallelism))
        self._staged: list[str] = []
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {STAGING_SCHEMA}")  # autocommit: visible

    def _frame(self, spec: TableSpec, columns: list[str], dates: Sequence[dt.date] | None) -> Any:
        from pyspark.sql import functions as sf

        self.lake.ensure(spec)
        df = self.spark.read.format("delta").load(self.lake.spark_uri(spec)).select(*columns)
        if dates is not None:
            df = df.where(sf.col("date").isin(list(dates)))
        return df

    def stage(
        self,
        name: str,
        spec: TableSpec,
        columns: list[str],
        dates: Sequence[dt.date] | None = None,
        distinct: bool = False,
    ) -> None:
        df = self._frame(spec, columns, dates)
        if distinct:
            df = df.distinct()
        staging = f"{STAGING_SCHEMA}.{name}_{uuid.uuid4().hex[:12]}"
        self._staged.append(staging)
        df.repartition(self.partitions).write.jdbc(
            self.jdbc_url,
            staging,
            mode="errorifexists",
            properties={**self.jdbc_props, "batchsize": str(JDBC_BATCH_ROWS)},
        )
        cols = ", ".join(columns)
        self.execute(f"DROP TABLE IF EXISTS {name}")
        self.execute(f"CREATE TEMP TABLE {name} ({pg_columns(spec, columns)}) ON COMMIT DROP")
        self.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {staging}")
        self.execute(f"DROP TABLE {staging}")
        self.execute(f"ANALYZE {name}")

    def distinct_dates(self, spec: TableSpec) -> list[dt.date]:
        rows = self._frame(spec, ["date"], None).distinct().collect()
        return sorted(r["date"] for r in rows if r["date"] is not None)

    def close(self) -> None:
        # Staging tables of a load that did not commit (a committed load dropped its own).
        try:
            for staging in self._staged:
                self.execute(f"DROP TABLE IF EXISTS {staging}")
        finally:
            super().close()
