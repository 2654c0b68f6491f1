"""Settings of the Delta-enabled Spark session (pure; no JVM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattlake.errors import WattlakeError
from wattlake.lake.storage import S3Settings, parse_lake_uri
from wattlake.spark_session import (
    DELTA_CATALOG,
    DELTA_EXTENSION,
    is_loopback_master,
    jars_in,
    jdbc_target,
    resolve_spark_jars,
    spark_conf,
)


@pytest.mark.parametrize(
    ("master", "loopback"),
    [
        pytest.param("local", True, id="local"),
        pytest.param("local[*]", True, id="local_star"),
        pytest.param("local[2]", True, id="local_2"),
        pytest.param("local-cluster[2,1,1024]", True, id="local_cluster"),
        pytest.param("spark://127.0.0.1:7077", True, id="standalone_loopback"),
        pytest.param("spark://localhost:7077", True, id="standalone_localhost"),
        pytest.param("spark://127.0.0.1:7077,localhost:7078", True, id="ha_masters_loopback"),
        pytest.param("spark://10.1.2.3:7077", False, id="standalone_remote"),
        pytest.param("spark://127.0.0.1:7077,10.0.0.2:7077", False, id="ha_one_remote"),
        pytest.param("yarn", False, id="yarn"),
        pytest.param("k8s://https://api:6443", False, id="kubernetes"),
    ],
)
def test_loopback_masters(master: str, loopback: bool) -> None:
    assert is_loopback_master(master) is loopback


def test_conf_for_the_local_cluster_and_s3_lake() -> None:
    lake = parse_lake_uri(
        "s3://bkt/lake", S3Settings("http://127.0.0.1:9000", "k", "s", region="us-east-1")
    )
    conf = spark_conf("spark://127.0.0.1:7077", ["/j/a.jar", "/j/b.jar"], lake)
    assert conf["spark.jars"] == "/j/a.jar,/j/b.jar"
    assert conf["spark.sql.extensions"] == DELTA_EXTENSION
    assert conf["spark.sql.catalog.spark_catalog"] == DELTA_CATALOG
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.ansi.enabled"] == "false"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert "WHEN_REQUIRED" in conf["spark.executor.extraJavaOptions"]


def test_remote_master_keeps_spark_driver_host_default() -> None:
    conf = spark_conf("spark://10.1.2.3:7077", ["/j/a.jar"])
    assert "spark.driver.host" not in conf and "spark.driver.bindAddress" not in conf
    assert not any(k.startswith("spark.hadoop.fs.s3a.") for k in conf)


def test_extra_settings_win() -> None:
    conf = spark_conf("local[2]", ["/j/a.jar"], extra={"spark.sql.shuffle.partitions": "64"})
    assert conf["spark.sql.shuffle.partitions"] == "64"


@pytest.mark.parametrize(
    ("master", "jars", "message"),
    [
        pytest.param(" ", ["/j/a.jar"], "master is empty", id="empty_master"),
        pytest.param("local[2]", [], "no Delta/S3 jars", id="no_jars"),
    ],
)
def test_bad_conf(master: str, jars: list[str], message: str) -> None:
    with pytest.raises(WattlakeError, match=message):
        spark_conf(master, jars)


def test_jars_from_a_directory_or_a_list(tmp_path: Path) -> None:
    for name in ("b.jar", "a.jar", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert jars_in(str(tmp_path)) == [str(tmp_path / "a.jar"), str(tmp_path / "b.jar")]
    listed = f"{tmp_path / 'b.jar'}, {tmp_path / 'a.jar'}"
    assert jars_in(listed) == [str(tmp_path / "b.jar"), str(tmp_path / "a.jar")]
    assert resolve_spark_jars({"WATTLAKE_SPARK_JARS": str(tmp_path)})[0].endswith("a.jar")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda d: str(d), "no .jar files", id="empty_directory"),
        pytest.param(lambda d: str(d / "missing.jar"), "neither a directory", id="missing_jar"),
        pytest.param(lambda d: str(d / "x.txt"), "neither a directory", id="not_a_jar"),
    ],
)
def test_bad_jar_locations(make: object, message: str, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(WattlakeError, match=message):
        jars_in(make(tmp_path))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("url", "jdbc", "props"),
    [
        pytest.param(
            "postgresql://postgres@127.0.0.1:55432/wattlake_test",
            "jdbc:postgresql://127.0.0.1:55432/wattlake_test",
            {"user": "postgres"},
            id="test_server",
        ),
        pytest.param(
            "postgres://u%40x:p%3Aw@db.example/dw?sslmode=require",
            "jdbc:postgresql://db.example:5432/dw?sslmode=require",
            {"user": "u@x", "password": "p:w"},
            id="escaped_credentials_default_port_params",
        ),
        pytest.param(
            "postgresql://[::1]:6543/dw", "jdbc:postgresql://[::1]:6543/dw", {}, id="ipv6_no_user"
        ),
    ],
)
def test_jdbc_target(url: str, jdbc: str, props: dict[str, str]) -> None:
    assert jdbc_target(url) == (jdbc, {"driver": "org.postgresql.Driver", **props})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("mysql://h/db", "not a postgresql", id="other_scheme"),
        pytest.param("postgresql://h:5432/", "needs a host and a database", id="no_database"),
        pytest.param("postgresql:///db", "needs a host and a database", id="no_host"),
    ],
)
def test_bad_jdbc_target(url: str, message: str) -> None:
    with pytest.raises(WattlakeError, match=message):
        jdbc_target(url)
