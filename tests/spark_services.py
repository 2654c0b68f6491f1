"""Real services for tests, started by the project's scripts: the Spark standalone cluster
(`scripts/spark-cluster.sh`) and the S3 server (`scripts/s3.sh`).

`scripts/test.sh` starts each once per run and exports its variables (`WATTLAKE_SPARK_MASTER`,
`WATTLAKE_S3_*`); without them a fixture starts the service into a private run directory and
stops it at the end of the test session. When a service cannot start the tests are skipped,
unless `WATTLAKE_REQUIRE_SPARK=1` (cluster) or `WATTLAKE_REQUIRE_S3=1` (S3 server), which make
that a failure.

The Delta-enabled Spark session must be the first Spark of the pytest process (the driver's
classpath is fixed when the JVM starts): `conftest.py` runs the tests that use it first and
stops it after the last of them, so the local `spark` fixture (SparkEngine) gets its own
SparkContext afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _unavailable(require_var: str, what: str, reason: str) -> None:
    if os.environ.get(require_var) == "1":
        pytest.fail(f"{what} required ({require_var}=1) but unavailable: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


def parse_exports(text: str) -> dict[str, str]:
    """`export K=V` lines (as the service scripts print them) as a dict."""
    out = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line.removeprefix("export ").partition("=")
            out[key.strip()] = value.strip()
    return out


@contextmanager
def service(
    script: str, variables: tuple[str, ...], require_var: str, what: str
) -> Iterator[dict[str, str]]:
    """The variables of a running service: from the environment when all are set, else
    from `scripts/<script> start` in a private run directory (stopped afterwards)."""
    if all(os.environ.get(v) for v in variables):
        yield {v: os.environ[v] for v in variables}
        return
    run_dir = tempfile.mkdtemp(prefix=f"wl-{script.split('.')[0]}-")
    env = {**os.environ, "WATTLAKE_RUN_DIR": run_dir}
    cmd = [str(SCRIPTS / script)]
    try:
        proc = subprocess.run([*cmd, "start"], capture_output=True, text=True, timeout=300, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        subprocess.run([*cmd, "stop"], capture_output=True, env=env)
        _unavailable(require_var, what, f"{script} start: {exc}")
    pids: list[int] = []
    try:
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            _unavailable(require_var, what, f"{script} start exited {proc.returncode}: {tail}")
        found = parse_exports(proc.stdout)
        missing = [v for v in variables if v not in found]
        if missing:
            _unavailable(require_var, what, f"{script} start printed no {missing}")
        pids += [int(f.read_text()) for f in Path(run_dir).glob("*/*.pid")]
        yield found
    finally:
        subprocess.run([*cmd, "stop"], capture_output=True, env=env, timeout=120)
        _kill_left(pids)


def _kill_left(pids: list[int]) -> None:
    """End the service processes `stop` did not (their run directory went missing)."""
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return
        time.sleep(2)


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


S3_VARIABLES = (
    "WATTLAKE_S3_ENDPOINT",
    "WATTLAKE_S3_BUCKET",
    "WATTLAKE_S3_ACCESS_KEY_ID",
    "WATTLAKE_S3_SECRET_ACCESS_KEY",
)


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
    """Build the session (see the module docstring for why it must come first)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _unavailable("WATTLAKE_REQUIRE_SPARK", "Spark", "pyspark not installed")
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
