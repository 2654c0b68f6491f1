"""Shared fixtures. Spark tests need PySpark + Java; CI sets WATTLAKE_REQUIRE_SPARK=1 so a
missing Spark fails instead of skipping."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wattlake.config import Settings, load_settings
from wattlake.engine import DuckDBEngine, Engine
from wattlake.logs import configure_logging

_exit_status = 0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(home=tmp_path / "home")
    configure_logging(s.home / "logs")
    return s


@pytest.fixture(scope="session")
def duck() -> Iterator[Engine]:
    eng = DuckDBEngine()
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def spark() -> Engine:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("WATTLAKE_REQUIRE_SPARK") == "1":
            raise
        pytest.skip("pyspark not installed (pip install 'wattlake[spark]')")
    from wattlake.engine import SparkEngine

    return SparkEngine("local[2]")


@pytest.fixture(scope="session")
def spark_master() -> Iterator[str]:
    """URL of the 2-worker Spark standalone cluster (scripts/spark-cluster.sh)."""
    import services

    with services.service(
        "spark-cluster.sh", ("WATTLAKE_SPARK_MASTER",), "WATTLAKE_REQUIRE_SPARK", "Spark cluster"
    ) as env:
        yield env["WATTLAKE_SPARK_MASTER"]


@pytest.fixture(scope="session")
def s3_env() -> Iterator[dict[str, str]]:
    """Endpoint, bucket and credentials of the local S3 server (scripts/s3.sh)."""
    import services

    with services.service(
        "s3.sh", services.S3_VARIABLES, "WATTLAKE_REQUIRE_S3", "S3 server"
    ) as env:
        yield env


@pytest.fixture(scope="session")
def delta_spark(
    spark_master: str, s3_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The Delta-enabled SparkSession on the cluster (services.DeltaSpark)."""
    import services

    yield services.start_delta_spark(spark_master, s3_env, tmp_path_factory.mktemp("events"))
    services.stop_delta_spark()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The Delta-enabled Spark must be this process's first Spark (see tests/services.py).
    import services

    items.sort(key=lambda item: not services.uses_delta_spark(item))


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # After the last test of the cluster session, free it for the local `spark` fixture.
    import services

    if services.uses_delta_spark(item) and not services.uses_delta_spark(nextitem):
        services.stop_delta_spark()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a database on a running PostgreSQL (env, or started by scripts/postgres.sh)."""
    import pg

    pg.psycopg_module()
    url = os.environ.get("WATTLAKE_TEST_PG_URL")
    started = False
    if not url:
        started = not pg.running()
        url = pg.start_server()
    try:
        pg.query(url, "SELECT 1")
    except Exception as exc:
        pg._unavailable(f"cannot connect to {url}: {exc}")
    yield url
    if started:
        pg.stop_server()


@pytest.fixture
def pg_db(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    import pg

    with pg.fresh_database(pg_server) as url:
        yield url


REALDATA_APIS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "apis"


def realdata_api(name: str) -> bytes:
    """A recorded API response from `shared/realdata/apis` (skip the test when absent)."""
    path = REALDATA_APIS / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


@pytest.fixture(scope="module")
def open_meteo() -> Any:
    """The recorded Open-Meteo forecast response parsed to the weather layout (pandas)."""
    from wattlake.sources.open_meteo import parse_weather

    return parse_weather(realdata_api("open_meteo_forecast_hourly.json")).to_pandas()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # delta-rs' runtime threads can abort CPython's teardown (SIGABRT) after all tests
    # have passed; leave with pytest's own status once its summary has been printed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
