"""The lake on s3:// through a real S3-compatible server (moto, scripts/s3.sh): delta-rs,
DuckDB (httpfs + delta extensions from wheels) and Spark on the cluster (hadoop-aws, s3a)
write and read the same Delta tables, in each direction."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import boto3
import pyarrow as pa
import pytest

from lake_rows import (
    MERGE_ON,
    T0_S,
    arrow_readings,
    model_rows,
    read_delta_rs,
    read_duckdb,
    read_spark,
    reading,
    spark_readings,
    spark_upsert,
    upsert,
)
from spark_sessions import s3_settings
from wattlake.lake.storage import LakeLocation, parse_lake_uri

pytestmark = pytest.mark.cluster


@pytest.fixture
def lake(s3_env: dict[str, str]) -> LakeLocation:
    """A fresh prefix in the test bucket."""
    bucket = s3_env["WATTLAKE_S3_BUCKET"]
    return parse_lake_uri(f"s3://{bucket}/wl-tests/{uuid.uuid4().hex[:12]}", s3_settings(s3_env))


def s3_client(s3_env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_env["WATTLAKE_S3_ENDPOINT"],
        aws_access_key_id=s3_env["WATTLAKE_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_env["WATTLAKE_S3_SECRET_ACCESS_KEY"],
        region_name=s3_env.get("WATTLAKE_S3_REGION", "us-east-1"),
    )


def s3_keys(s3_env: dict[str, str], lake: LakeLocation, *parts: str) -> list[str]:
    """Object keys on the server below a table (proof the data is in the bucket)."""
    client = s3_client(s3_env)
    bucket, _, prefix = lake.table_uri(*parts).removeprefix("s3://").partition("/")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    return sorted(o["Key"][len(prefix) + 1 :] for page in pages for o in page.get("Contents", []))


def delta_rs_upsert(uri: str, lake: LakeLocation, data: pa.Table) -> dict[str, Any]:
    from deltalake import DeltaTable

    dt = DeltaTable(uri, storage_options=lake.delta_rs_storage_options())
    return (
        dt.merge(
            data,
            predicate=MERGE_ON,
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )


def test_delta_rs_writes_duckdb_and_spark_read(
    delta_spark: Any, s3_env: dict[str, str], lake: LakeLocation
) -> None:
    from deltalake import write_deltalake

    uri = lake.table_uri("silver", "readings")
    opts = lake.delta_rs_storage_options()
    write_deltalake(uri, arrow_readings(0, 800), storage_options=opts)
    write_deltalake(uri, arrow_readings(800, 1000), mode="append", storage_options=opts)
    metrics = delta_rs_upsert(uri, lake, arrow_readings(900, 1100, kwh_offset=500.0))
    assert (metrics["num_target_rows_updated"], metrics["num_target_rows_inserted"]) == (100, 100)
    model: dict[tuple[str, int], float] = {}
    upsert(model, [reading(i) for i in range(1000)])
    upsert(model, [reading(i, 500.0) for i in range(900, 1100)])
    expected = model_rows(model)

    keys = s3_keys(s3_env, lake, "silver", "readings")
    assert "_delta_log/00000000000000000002.json" in keys
    assert any(k.endswith(".parquet") for k in keys)
    assert read_delta_rs(uri, lake) == expected
    assert read_duckdb(uri, lake) == expected
    assert read_spark(delta_spark.spark, lake.spark_uri("silver", "readings")) == expected


def test_spark_writes_delta_rs_and_duckdb_read(
    delta_spark: Any, s3_env: dict[str, str], lake: LakeLocation
) -> None:
    spark = delta_spark.spark
    uri_spark = lake.spark_uri("gold", "readings")
    assert uri_spark.startswith("s3a://")
    spark_readings(spark, 0, 1000).write.format("delta").save(uri_spark)
    spark_upsert(spark, uri_spark, spark_readings(spark, 900, 1100, kwh_offset=7.0))
    model: dict[tuple[str, int], float] = {}
    upsert(model, [reading(i) for i in range(1000)])
    upsert(model, [reading(i, 7.0) for i in range(900, 1100)])
    expected = model_rows(model)

    keys = s3_keys(s3_env, lake, "gold", "readings")
    assert "_delta_log/00000000000000000001.json" in keys
    uri = lake.table_uri("gold", "readings")
    assert read_delta_rs(uri, lake) == expected
    assert read_duckdb(uri, lake) == expected


def test_writers_take_turns_on_one_table(delta_spark: Any, lake: LakeLocation) -> None:
    """delta-rs creates, Spark MERGEs and replaces where, delta-rs appends again: each
    writer reads and extends the other's commits (one writer at a time)."""
    from deltalake import write_deltalake

    spark, opts = delta_spark.spark, lake.delta_rs_storage_options()
    uri, uri_spark = lake.table_uri("t"), lake.spark_uri("t")
    write_deltalake(uri, arrow_readings(0, 400), storage_options=opts)
    spark_upsert(spark, uri_spark, spark_readings(spark, 300, 500, 1.0))
    cut_s = T0_S + 10 * 1800  # m0's first 10 half-hours are replaced
    spark_readings(spark, 0, 40, 3.0).where("meter_id = 'm0'").write.format("delta").mode(
        "overwrite"
    ).option("replaceWhere", f"meter_id = 'm0' AND ts < timestamp_seconds({cut_s})").save(uri_spark)
    write_deltalake(uri, arrow_readings(500, 600), mode="append", storage_options=opts)

    model: dict[tuple[str, int], float] = {}
    upsert(model, [reading(i) for i in range(400)])
    upsert(model, [reading(i, 1.0) for i in range(300, 500)])
    for key in [k for k in model if k[0] == "m0" and k[1] < cut_s]:
        del model[key]
    upsert(model, [r for r in (reading(i, 3.0) for i in range(40)) if r[0] == "m0"])
    upsert(model, [reading(i) for i in range(500, 600)])
    expected = model_rows(model)

    assert read_delta_rs(uri, lake) == expected
    assert read_duckdb(uri, lake) == expected
    assert read_spark(spark, uri_spark) == expected


def test_concurrent_delta_rs_appends_lose_nothing(
    s3_env: dict[str, str], lake: LakeLocation
) -> None:
    """Three delta-rs writers append to one S3 table at once. A writer that loses the race for
    a log version gets 412 from the server (delta-rs commits with a conditional put,
    If-None-Match: *) and retries on the next version; with a plain put it would overwrite
    the winner's commit and rows would vanish. Every commit and row must be there."""
    from deltalake import DeltaTable, write_deltalake

    uri, opts = lake.table_uri("race"), lake.delta_rs_storage_options()
    write_deltalake(uri, arrow_readings(0, 4), storage_options=opts)
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def writer(first: int) -> None:
        try:
            start.wait()
            for n in range(5):
                lo = first + 4 * n
                data = arrow_readings(lo, lo + 4)
                write_deltalake(uri, data, mode="append", storage_options=opts)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f,)) for f in (1000, 2000, 3000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    dt = DeltaTable(uri, storage_options=opts)
    assert dt.version() == 15
    ids = [*range(4), *range(1000, 1020), *range(2000, 2020), *range(3000, 3020)]
    assert read_delta_rs(uri, lake) == sorted(reading(i) for i in ids)

    # The server property this relies on: a put of an existing log entry is refused.
    client = s3_client(s3_env)
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    with pytest.raises(client.exceptions.ClientError, match="PreconditionFailed"):
        client.put_object(
            Bucket=bucket,
            Key=f"{prefix}/_delta_log/00000000000000000001.json",
            Body=b"{}",
            IfNoneMatch="*",
        )
