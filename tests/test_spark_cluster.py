"""Delta on a real Spark standalone cluster (2 workers, scripts/spark-cluster.sh): delta-spark
writes, appends, MERGEs on a composite key and replaces where a predicate holds; the executors
do the writing (task metrics in the event log); delta-rs and DuckDB read back the same rows."""

from __future__ import annotations

from typing import Any

import pytest

from lake_rows import (
    T0_S,
    model_rows,
    read_delta_rs,
    read_duckdb,
    read_spark,
    reading,
    spark_readings,
    spark_upsert,
    upsert,
)
from wattlake.lake.storage import parse_lake_uri
from wattlake.spark_session import jdbc_target

pytestmark = [pytest.mark.spark, pytest.mark.cluster]

N0 = 4_000  # initial readings: 1000 half-hours x 4 meters
N_APPEND = 1_000
MERGE_FROM, MERGE_TO = 4_500, 5_500  # 500 matched (updated) + 500 new (inserted)
REPLACE_TO_S = T0_S + 100 * 1800  # replace meter m1 before this instant


def history(spark: Any, uri: str) -> list[dict[str, Any]]:
    """Delta history, oldest first: version, operation, operationMetrics."""
    from delta.tables import DeltaTable

    rows = DeltaTable.forPath(spark, uri).history().orderBy("version").collect()
    return [
        {"version": r.version, "operation": r.operation, "metrics": dict(r.operationMetrics)}
        for r in rows
    ]


@pytest.fixture(scope="module")
def cluster_table(delta_spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Write, append, MERGE and replace-where one table on the cluster; what each step
    expects, for the tests to check."""
    spark = delta_spark.spark
    sc = spark.sparkContext
    lake = parse_lake_uri(tmp_path_factory.mktemp("cluster-lake"))
    uri_spark, uri = lake.spark_uri("silver", "readings"), lake.table_uri("silver", "readings")
    model: dict[tuple[str, int], float] = {}

    sc.setJobGroup("write", "initial write")
    spark_readings(spark, 0, N0).write.format("delta").mode("overwrite").save(uri_spark)
    upsert(model, [reading(i) for i in range(N0)])

    sc.setJobGroup("append", "append")
    spark_readings(spark, N0, N0 + N_APPEND).write.format("delta").mode("append").save(uri_spark)
    upsert(model, [reading(i) for i in range(N0, N0 + N_APPEND)])

    sc.setJobGroup("merge", "MERGE on (meter_id, ts)")
    source = spark_readings(spark, MERGE_FROM, MERGE_TO, kwh_offset=1000.0)
    spark_upsert(spark, uri_spark, source)
    upsert(model, [reading(i, 1000.0) for i in range(MERGE_FROM, MERGE_TO)])

    # Replace meter m1 before REPLACE_TO_S with every other of its readings, new values.
    sc.setJobGroup("replace", "replaceWhere")
    predicate = f"meter_id = 'm1' AND ts < timestamp_seconds({REPLACE_TO_S})"
    replacement = spark_readings(spark, 0, 400, kwh_offset=2000.0).where(
        "meter_id = 'm1' AND pmod(unix_seconds(ts) div 1800, 2) = 0"
    )
    replacement.write.format("delta").mode("overwrite").option("replaceWhere", predicate).save(
        uri_spark
    )
    for key in [k for k in model if k[0] == "m1" and k[1] < REPLACE_TO_S]:
        del model[key]
    upsert(
        model,
        [
            r
            for r in (reading(i, 2000.0) for i in range(400))
            if r[0] == "m1" and (r[1] // 1800) % 2 == 0
        ],
    )
    sc.setJobGroup("check", "read-back")
    return {"lake": lake, "uri": uri, "uri_spark": uri_spark, "expected": model_rows(model)}


def test_operations_committed_with_expected_metrics(
    delta_spark: Any, cluster_table: dict[str, Any]
) -> None:
    hist = history(delta_spark.spark, cluster_table["uri_spark"])
    assert [h["operation"] for h in hist] == ["WRITE", "WRITE", "MERGE", "WRITE"]
    merge = hist[2]["metrics"]
    # ids MERGE_FROM..N0+N_APPEND-1 exist (updated); the rest of the source is new.
    assert int(merge["numTargetRowsUpdated"]) == N0 + N_APPEND - MERGE_FROM == 500
    assert int(merge["numTargetRowsInserted"]) == MERGE_TO - (N0 + N_APPEND) == 500
    replaced = hist[3]["metrics"]
    # m1's 100 half-hours before the cut deleted, 50 written; the files that held them
    # are rewritten with their other rows (copied).
    assert int(replaced["numDeletedRows"]) == 100, replaced
    assert int(replaced["numOutputRows"]) - int(replaced["numCopiedRows"]) == 50, replaced


def test_delta_rs_duckdb_and_spark_read_identical_rows(
    delta_spark: Any, cluster_table: dict[str, Any]
) -> None:
    expected = cluster_table["expected"]
    assert len(expected) == N0 + N_APPEND + 500 - 50
    lake, uri = cluster_table["lake"], cluster_table["uri"]
    assert read_delta_rs(uri, lake) == expected
    assert read_duckdb(uri, lake) == expected
    assert read_spark(delta_spark.spark, cluster_table["uri_spark"]) == expected


@pytest.mark.parametrize("group", ["write", "append", "merge", "replace"])
def test_executors_write_the_data_files(
    delta_spark: Any, cluster_table: dict[str, Any], group: str
) -> None:
    """Every task of the step ran on an executor of the cluster (none on the driver), and the
    records the executors wrote are the rows the Delta commit reports."""
    ops = {"write": 0, "append": 1, "merge": 2, "replace": 3}
    metrics = history(delta_spark.spark, cluster_table["uri_spark"])[ops[group]]["metrics"]
    tasks = delta_spark.tasks(group)
    assert tasks, f"no tasks recorded for {group}"
    assert {t["executor"] for t in tasks} - {"driver"} == {t["executor"] for t in tasks}
    writers = [t for t in tasks if t["records_written"] > 0]
    assert sum(t["records_written"] for t in writers) == int(metrics["numOutputRows"])
    assert all(t["host"] == "127.0.0.1" for t in tasks)


def test_both_workers_ran_tasks(delta_spark: Any, cluster_table: dict[str, Any]) -> None:
    groups = ("write", "append", "merge", "replace")
    executors = {t["executor"] for g in groups for t in delta_spark.tasks(g)}
    assert len(executors) == 2, executors


def test_cluster_session_settings(delta_spark: Any) -> None:
    conf = delta_spark.spark.conf
    assert delta_spark.spark.sparkContext.master == delta_spark.master
    assert delta_spark.master.startswith("spark://127.0.0.1:")
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf.get("spark.driver.host") == "127.0.0.1"


def test_jdbc_load_runs_on_the_executors(
    delta_spark: Any, cluster_table: dict[str, Any], pg_db: str
) -> None:
    """The table goes to PostgreSQL over JDBC from the executors, two partitions in parallel
    (the warehouse load's shape), nothing through the driver; PostgreSQL has every row."""
    import pg

    spark = delta_spark.spark
    spark.sparkContext.setJobGroup("jdbc", "JDBC load")
    jdbc, props = jdbc_target(pg_db)
    df = spark.read.format("delta").load(cluster_table["uri_spark"])
    df.repartition(2, "meter_id").write.jdbc(
        jdbc, "fact_readings", mode="overwrite", properties={**props, "batchsize": "5000"}
    )
    spark.sparkContext.setJobGroup("check", "read-back")
    rows = pg.query(
        pg_db,
        "SELECT meter_id, extract(epoch FROM ts)::bigint, kwh FROM fact_readings",
    )
    assert sorted(rows) == cluster_table["expected"]
    tasks = delta_spark.tasks("jdbc")
    assert tasks
    assert all(t["executor"] != "driver" for t in tasks)
