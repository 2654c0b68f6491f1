"""Lake I/O on Spark: the executors write step results with delta-spark.

A write compiles the Ibis expression to a DataFrame, conforms it to the table's layout on
the engine, and saves it with `format("delta")`: `mode("append")` for predicate `"false"`,
`mode("overwrite")` with `replaceWhere` for a predicate, a plain overwrite for None. The
row count and the tallies are Spark observed metrics of that same job (`Observation`):
aggregated on the executors while they write, so nothing is read back and no row reaches
the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir

from wattlake.engine import SparkEngine
from wattlake.lake.spec import TableSpec
from wattlake.tables import Tables, Tally, Written, conform_expr, parts_of

TALLY_PREFIX = "_wl_tally_"


def delta_writer(df: Any, predicate: str | None) -> Any:
    """`df.write` set up for `predicate` (see `Tables`)."""
    writer = df.write.format("delta")
    if predicate is not None and predicate.strip().lower() == "false":
        return writer.mode("append")
    writer = writer.mode("overwrite")
    return writer if predicate is None else writer.option("replaceWhere", predicate)


class DeltaSparkTables(Tables):
    """`Tables` whose writes run on the Spark executors (module doc)."""

    engine: SparkEngine

    def replace_where(
        self,
        spec: TableSpec,
        exprs: ir.Table | Sequence[ir.Table],
        predicate: str | None,
        *,
        tally: Tally | None = None,
    ) -> Written:
        from pyspark.sql import Observation
        from pyspark.sql import functions as sf

        self.lake.ensure(spec)
        parts = [conform_expr(e, spec) for e in parts_of(exprs)]
        t = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
        names = {k: TALLY_PREFIX + k for k in tally or {}}
        if tally:
            t = t.mutate(**{names[k]: fn(t).cast("int64") for k, fn in tally.items()})
        obs = Observation(f"wl_write_{spec.schema}_{spec.name}")
        df = self.engine.dataframe(t).observe(
            obs,
            sf.count(sf.lit(1)).alias("rows"),
            *(sf.coalesce(sf.sum(c), sf.lit(0)).alias(c) for c in names.values()),
        )
        delta_writer(df.drop(*names.values()), predicate).save(self.lake.spark_uri(spec))
        got = obs.get
        return Written(int(got["rows"]), {k: int(got[c]) for k, c in names.items()})
