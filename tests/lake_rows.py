"""Shared helpers of the cluster and object-storage tests: readings made on the executors,
the same readings modelled in Python, and every engine's read-back as comparable rows."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.duck import duckdb_connect
from wattlake.lake.storage import LakeLocation, connect_duckdb_to_lake

T0_S = 1_704_067_200  # 2024-01-01 00:00 UTC, epoch seconds
METERS = 4
STEP_S = 1800  # half-hourly

Row = tuple[str, int, float]  # meter_id, ts (epoch seconds, UTC), kwh


def reading(i: int, kwh_offset: float = 0.0) -> Row:
    """Reading number `i`: meter `m{i % 4}`, interval `i // 4` after T0, kwh = i/8 + offset
    (exact in binary floating point)."""
    return (f"m{i % METERS}", T0_S + (i // METERS) * STEP_S, i / 8 + kwh_offset)


def spark_readings(spark: Any, start: int, stop: int, kwh_offset: float = 0.0) -> Any:
    """`reading(i)` for i in [start, stop) as a Spark DataFrame computed by the executors
    (spark.range: nothing is built on the driver)."""
    return spark.range(start, stop, numPartitions=4).selectExpr(
        f"concat('m', cast(id % {METERS} as string)) AS meter_id",
        f"timestamp_seconds({T0_S} + (id div {METERS}) * {STEP_S}) AS ts",
        f"cast(id AS double) / 8 + {kwh_offset} AS kwh",
    )


MERGE_ON = "t.meter_id = s.meter_id AND t.ts = s.ts"


def spark_upsert(spark: Any, uri: str, source: Any) -> None:
    """delta-spark MERGE of `source` into the table at `uri` on (meter_id, ts): update
    matched rows, insert the rest (the work runs on the executors)."""
    from delta.tables import DeltaTable

    (
        DeltaTable.forPath(spark, uri)
        .alias("t")
        .merge(source.alias("s"), MERGE_ON)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def arrow_readings(start: int, stop: int, kwh_offset: float = 0.0) -> pa.Table:
    rows = [reading(i, kwh_offset) for i in range(start, stop)]
    return pa.table(
        {
            "meter_id": pa.array([r[0] for r in rows], pa.string()),
            "ts": pa.array([r[1] * 1_000_000 for r in rows], pa.timestamp("us", "UTC")),
            "kwh": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def as_rows(table: pa.Table) -> list[Row]:
    """(meter_id, epoch seconds, kwh) sorted, from any engine's Arrow result."""
    ts = pc.cast(table["ts"], pa.timestamp("us", "UTC")).cast(pa.int64())
    secs = pc.divide(ts, 1_000_000).to_pylist()
    out = zip(table["meter_id"].to_pylist(), secs, table["kwh"].to_pylist(), strict=True)
    return sorted(out)


def upsert(model: dict[tuple[str, int], float], rows: list[Row]) -> None:
    """MERGE in the model: update matched (meter_id, ts), insert the rest."""
    for meter, ts, kwh in rows:
        model[(meter, ts)] = kwh


def model_rows(model: dict[tuple[str, int], float]) -> list[Row]:
    return sorted((m, t, k) for (m, t), k in model.items())


def read_delta_rs(uri: str, lake: LakeLocation) -> list[Row]:
    from deltalake import DeltaTable

    dt = DeltaTable(uri, storage_options=lake.delta_rs_storage_options())
    return as_rows(dt.to_pyarrow_table(columns=["meter_id", "ts", "kwh"]))


def read_duckdb(uri: str, lake: LakeLocation) -> list[Row]:
    con = duckdb_connect()
    try:
        connect_duckdb_to_lake(con, lake)
        table = con.execute(
            "SELECT meter_id, ts, kwh FROM delta_scan(?)", [uri]
        ).fetch_arrow_table()
    finally:
        con.close()
    return as_rows(table)


def read_spark(spark: Any, uri: str) -> list[Row]:
    df = spark.read.format("delta").load(uri).select("meter_id", "ts", "kwh")
    return as_rows(df.toArrow())
