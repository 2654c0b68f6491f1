"""The Delta-enabled Spark session of the test run, on the standalone cluster (started by
`services.spark_cluster_service`), with its event log (what each task ran on and wrote).

Every Spark session of the test process is Delta-enabled (`spark_session.build_spark_session`),
so the order of sessions does not matter for the driver's classpath; the cluster session's
tests still run first and it is stopped after the last of them (`conftest.py`), so that the
cluster's cores are free and the local `spark` fixture gets its own SparkContext afterwards.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest


def _event_file_order(path: Path) -> tuple[str, int]:
    m = re.match(r"events_(\d+)_", path.name)
    return (str(path.parent), int(m.group(1)) if m else 0)


def event_log_tasks(event_dir: Path) -> list[dict[str, Any]]:
    """Every finished task in the Spark event logs under `event_dir`: job group, stage,
    executor id and records/bytes written (from `SparkListenerTaskEnd` events)."""
    stage_group: dict[int, str | None] = {}
    tasks = []
    # Spark 4 writes a directory per application (eventlog_v2_<app>/events_<n>_<app>, rolling
    # over to events_<n+1> past 128 MiB; the session turns compression off).
    files = [p for p in event_dir.rglob("events_*") if p.is_file()]
    for path in sorted(files, key=_event_file_order):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            ev = json.loads(line)
            kind = ev.get("Event")
            if kind == "SparkListenerJobStart":
                group = (ev.get("Properties") or {}).get("spark.jobGroup.id")
                for sid in ev.get("Stage IDs", []):
                    stage_group[int(sid)] = group
            elif kind == "SparkListenerTaskEnd":
                info, metrics = ev["Task Info"], ev.get("Task Metrics") or {}
                out = metrics.get("Output Metrics") or {}
                tasks.append(
                    {
                        "stage": int(ev["Stage ID"]),
                        "group": stage_group.get(int(ev["Stage ID"])),
                        "executor": str(info["Executor ID"]),
                        "host": info.get("Host"),
                        "records_written": int(out.get("Records Written", 0)),
                        "bytes_written": int(out.get("Bytes Written", 0)),
                    }
                )
    return tasks


# Settings of the cluster session that must not outlive it (see DeltaSpark.stop).
_SESSION_ONLY = (
    "spark.master",
    "spark.eventLog.",
    "spark.sql.extensions",
    "spark.sql.catalog.",
    "spark.hadoop.fs.s3a.",
    "spark.executor.",
)


class DeltaSpark:
    """The Delta-enabled SparkSession of the test run, on the standalone cluster, with its
    event log (what each task ran on and wrote) in `event_dir`."""

    def __init__(self, spark: Any, master: str, event_dir: Path) -> None:
        self.spark, self.master, self.event_dir = spark, master, event_dir

    def tasks(self, group: str) -> list[dict[str, Any]]:
        """Finished tasks of the jobs run under job group `group`."""
        return [t for t in event_log_tasks(self.event_dir) if t["group"] == group]

    def stop(self) -> None:
        """Stop the session and forget its settings: the launcher set them as JVM system
        properties, which every later SparkContext of the process would inherit (event
        log, Delta extension, cluster master)."""
        if self.spark is None:
            return
        sc = self.spark.sparkContext
        keys = [k for k, _ in sc.getConf().getAll() if k.startswith(_SESSION_ONLY)]
        jvm = sc._jvm
        self.spark.stop()
        for key in keys:
            jvm.System.clearProperty(key)
        self.spark = None


_delta_spark: list[DeltaSpark] = []


def start_delta_spark(master: str, s3_env: dict[str, str], event_dir: Path) -> DeltaSpark:
    """Build the session (see the module docstring)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("WATTLAKE_REQUIRE_SPARK") == "1":
            raise
        pytest.skip("pyspark not installed (pip install 'wattlake[spark]')")
    from wattlake.lake.storage import S3Settings, parse_lake_uri
    from wattlake.spark_session import JAVA_OPTIONS, build_spark_session

    s3 = s3_settings(s3_env)
    lake = parse_lake_uri(f"s3://{s3_env['WATTLAKE_S3_BUCKET']}/wl-tests", s3)
    assert isinstance(lake.s3, S3Settings)
    spark = build_spark_session(
        master,
        lake=lake,
        app_name="wattlake-tests",
        extra={
            # Tests run seconds-long jobs: the C1 JIT alone halves the CPU the executors spend
            # (14-18 s instead of 36-40 s each for the cluster module's writes and MERGEs on
            # 2 cores). Not for the driver: its JVM later runs the local-mode parity tests.
            "spark.executor.extraJavaOptions": f"-XX:TieredStopAtLevel=1 {JAVA_OPTIONS}",
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": event_dir.as_uri(),
            "spark.eventLog.compress": "false",
        },
    )
    _delta_spark.append(DeltaSpark(spark, master, event_dir))
    return _delta_spark[-1]


def stop_delta_spark() -> None:
    for ds in _delta_spark:
        ds.stop()


def s3_settings(env: dict[str, str]) -> Any:
    from wattlake.lake.storage import S3Settings

    return S3Settings(
        endpoint=env["WATTLAKE_S3_ENDPOINT"],
        access_key_id=env["WATTLAKE_S3_ACCESS_KEY_ID"],
        secret_access_key=env["WATTLAKE_S3_SECRET_ACCESS_KEY"],
        region=env.get("WATTLAKE_S3_REGION", "us-east-1"),
    )


def uses_delta_spark(item: Any) -> bool:
    return item is not None and "delta_spark" in getattr(item, "fixturenames", ())
