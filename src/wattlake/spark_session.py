"""A SparkSession that reads and writes Delta itself (delta-spark), locally or on a cluster.

`build_spark_session("spark://127.0.0.1:7077", lake=parse_lake_uri("s3://bucket/lake"))` gives
a session with:

- the Delta SQL extension and catalog (`io.delta.sql.DeltaSparkSessionExtension`,
  `org.apache.spark.sql.delta.catalog.DeltaCatalog`);
- the jars of `deploy/maven/spark-pom.xml` (delta-spark, hadoop-aws + AWS SDK modules, the
  Kafka connector, the PostgreSQL JDBC driver) as `spark.jars`, so the driver has them on its
  classpath and every executor fetches them from the driver;
- UTC session time zone and ANSI mode off (as the DuckDB rules expect);
- `spark.hadoop.fs.s3a.*` for the lake's S3 endpoint and credentials (`wattlake.lake.storage`);
- driver host and bind address 127.0.0.1 when the master is local or on loopback.

Spark fixes the driver's classpath when its JVM starts (one JVM per Python process): build
this session before anything else starts Spark in the process, or the Delta classes are
missing (`build_spark_session` checks and says so).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wattlake.errors import WattlakeError
from wattlake.lake.storage import LakeLocation

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
LOOPBACK = "127.0.0.1"
# hadoop-aws 3.4.1 was built and tested with AWS SDK 2.24.6, which sent no checksums unless an
# API required them; the SDK in the jars (2.40, see spark-pom.xml) adds CRC checksums to every
# upload by default, which some S3-compatible stores reject (moto accepts both). Keep 2.24's
# behaviour: checksums only when required.
AWS_SDK_JAVA_OPTIONS = (
    "-Daws.requestChecksumCalculation=WHEN_REQUIRED -Daws.responseChecksumValidation=WHEN_REQUIRED"
)
# JVMs in UTC too: JDBC writes TIMESTAMP values in the JVM's default zone.
JAVA_OPTIONS = f"-Duser.timezone=UTC {AWS_SDK_JAVA_OPTIONS}"


def is_loopback_master(master: str) -> bool:
    """True for `local`, `local[N]`, `local[*]`, `local-cluster[…]` and a `spark://` master
    on 127.0.0.1/localhost: the driver then needs to listen on loopback only."""
    m = master.strip()
    if m == "local" or m.startswith(("local[", "local-cluster[")):
        return True
    parts = urlsplit(m)
    if parts.scheme != "spark":
        return False
    hosts = {h.rsplit(":", 1)[0] for h in parts.netloc.split(",")}
    return bool(hosts) and hosts <= {"127.0.0.1", "localhost"}


def spark_conf(
    master: str,
    jars: list[str],
    lake: LakeLocation | None = None,
    *,
    app_name: str = "wattlake",
    executor_memory: str = "1g",
    driver_memory: str = "2g",
    shuffle_partitions: int = 4,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every setting of a wattlake Spark session (pure; `build_spark_session` applies it).

    `executor_memory` must fit a worker's memory (scripts/spark-cluster.sh gives 2g each);
    `shuffle_partitions` suits 2 cores (raise it on a bigger cluster via `extra`)."""
    if not master.strip():
        raise WattlakeError("Spark master is empty (local[*] or spark://HOST:PORT)")
    if not jars:
        raise WattlakeError("no Delta/S3 jars for Spark (scripts/jars.sh spark)")
    conf = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.jars": ",".join(jars),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Parquet timestamps as INT64 microseconds (Spark's default is the legacy INT96),
        # the type delta-rs and DuckDB write, so every reader sees the same column type.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Delta rebuilds a table's state from its log in this many partitions (default 50:
        # 50 tiny tasks per snapshot, most of a small MERGE's time on 2 cores).
        "spark.databricks.delta.snapshotPartitions": str(shuffle_partitions),
        "spark.driver.memory": driver_memory,
        "spark.executor.memory": executor_memory,
        "spark.driver.extraJavaOptions": JAVA_OPTIONS,
        "spark.executor.extraJavaOptions": JAVA_OPTIONS,
        # Delta: MERGE/replaceWhere rewrite only touched files; keep Delta's own defaults
        # otherwise. No retention check is relaxed here (VACUUM keeps 7 days).
    }
    if is_loopback_master(master):
        conf["spark.driver.host"] = LOOPBACK
        conf["spark.driver.bindAddress"] = LOOPBACK
    if lake is not None:
        conf.update(lake.spark_conf())
    if extra:
        conf.update(extra)
    return conf


def _repo_jars_script() -> Path | None:
    """`scripts/jars.sh` of the source checkout this package runs from, if any."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "jars.sh"
    return script if script.is_file() else None


def jars_in(location: str) -> list[str]:
    """The `.jar` files named by `location`: a directory (its jars, sorted) or a
    comma-separated list of jar paths. Raises when none exist."""
    items = [s.strip() for s in location.split(",") if s.strip()]
    found: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found += sorted(str(j) for j in p.glob("*.jar"))
        elif p.is_file() and p.suffix == ".jar":
            found.append(str(p))
        else:
            raise WattlakeError(f"Spark jars: '{item}' is neither a directory nor a .jar file")
    if not found:
        raise WattlakeError(f"Spark jars: no .jar files in '{location}'")
    return found


def resolve_spark_jars(env: Mapping[str, str] | None = None) -> list[str]:
    """The jars for `spark.jars`: `$WATTLAKE_SPARK_JARS` (a directory or comma-separated
    jars), else `scripts/jars.sh spark` of the source checkout (cached; offline once
    resolved)."""
    env = os.environ if env is None else env
    if env.get("WATTLAKE_SPARK_JARS"):
        return jars_in(env["WATTLAKE_SPARK_JARS"])
    script = _repo_jars_script()
    if script is None:
        raise WattlakeError(
            "Spark needs the Delta/S3 jars: run scripts/jars.sh spark from the wattlake "
            "source and set WATTLAKE_SPARK_JARS to the directory it prints"
        )
    done = subprocess.run(
        [str(script), "spark"], capture_output=True, text=True, check=False, timeout=900
    )
    if done.returncode != 0:
        raise WattlakeError(f"scripts/jars.sh spark failed: {done.stderr.strip()[-500:]}")
    return jars_in(done.stdout.strip().splitlines()[-1])


def build_spark_session(
    master: str = "local[2]",
    *,
    lake: LakeLocation | None = None,
    jars: list[str] | None = None,
    app_name: str = "wattlake",
    extra: Mapping[str, str] | None = None,
) -> Any:
    """A Delta-enabled SparkSession on `master` (see the module docstring).

    An active session of this process is stopped first (one SparkContext per JVM). Raises
    `WattlakeError` when PySpark is missing or the process's JVM was started without the
    Delta jars."""
    try:
        from pyspark import SparkConf
        from pyspark.sql import SparkSession
    except ImportError:
        raise WattlakeError(
            "Spark needs PySpark: pip install 'wattlake[spark]' (and Java 17)"
        ) from None
    conf = spark_conf(master, jars or resolve_spark_jars(), lake, app_name=app_name, extra=extra)
    if conf.get("spark.driver.host") == LOOPBACK:
        # The JVM reads it at start (block manager, RPC): loopback only.
        os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
        # Executors on this machine run Python (grouped Arrow functions) with this
        # interpreter, which has wattlake and pyarrow; a remote cluster needs its own
        # (PYSPARK_PYTHON, or a packed environment in spark.archives: docs/RUNBOOK.md).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    spark = SparkSession.builder.config(conf=SparkConf().setAll(list(conf.items()))).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a started session has its JVM gateway
    try:
        jvm.java.lang.Class.forName(
            DELTA_EXTENSION, True, jvm.Thread.currentThread().getContextClassLoader()
        )
    except Exception:
        spark.stop()
        raise WattlakeError(
            "this process's Spark JVM was started without the Delta jars; build the session "
            "with wattlake.spark_session.build_spark_session before anything else uses Spark"
        ) from None
    return spark


def jdbc_target(pg_url: str) -> tuple[str, dict[str, str]]:
    """A `postgresql://user[:password]@host[:port]/db[?param=…]` URL (the warehouse setting)
    as Spark's JDBC URL and connection properties (user, password, driver class). Query
    parameters (e.g. `sslmode`) stay on the JDBC URL; credentials go to the properties so
    they do not show in Spark's plans and logs."""
    from urllib.parse import unquote

    parts = urlsplit(pg_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise WattlakeError(f"not a postgresql:// URL: '{pg_url}'")
    db = parts.path.lstrip("/")
    if not parts.hostname or not db:
        raise WattlakeError(f"PostgreSQL URL '{pg_url}' needs a host and a database")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    jdbc = f"jdbc:postgresql://{host}:{parts.port or 5432}/{db}"
    if parts.query:
        jdbc += f"?{parts.query}"
    props = {"driver": "org.postgresql.Driver"}
    if parts.username:
        props["user"] = unquote(parts.username)
    if parts.password is not None:
        props["password"] = unquote(parts.password)
    return jdbc, props
