"""Shared fixtures. Spark tests need PySpark + Java; CI sets WATTLAKE_REQUIRE_SPARK=1 so a
missing Spark fails instead of skipping. scripts/test.sh also sets WATTLAKE_NO_SKIP=1: any
skip then fails (tests/no_skip.py)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pytest

from no_skip import pytest_make_collect_report, pytest_runtest_makereport
from wattlake.config import Settings, load_settings
from wattlake.context import Context, build_context
from wattlake.engine import DuckDBEngine, Engine
from wattlake.lake.delta import Lake
from wattlake.logs import configure_logging
from wattlake.query import open_catalog

_exit_status = 0
T = TypeVar("T")
# The hooks of tests/no_skip.py, registered by being names of this conftest.
__all__ = ["pytest_make_collect_report", "pytest_runtest_makereport"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(home=tmp_path / "home")
    configure_logging(s.home / "logs")
    return s


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    """The runtime context of the `settings` home (closed after the test)."""
    with build_context(settings) as c:
        yield c


def with_ctx(settings: Settings, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(ctx, *args, **kwargs)` in a context built for `settings` and closed afterwards
    (`engine=` is the context's engine)."""
    with build_context(settings, engine=kwargs.pop("engine", None)) as c:
        return fn(c, *args, **kwargs)


def sql_of(home: Path, warehouse: str | None = None) -> duckdb.DuckDBPyConnection:
    """A `Context.sql()`-like connection over the tables of `home` (and its warehouse)."""
    return open_catalog(Lake(home), warehouse)


@pytest.fixture(scope="session")
def duck() -> Iterator[Engine]:
    eng = DuckDBEngine()
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def spark() -> Engine:
    """The Spark engine on `local[2]` (Delta-enabled, like every Spark session here)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("WATTLAKE_REQUIRE_SPARK") == "1":
            raise
        pytest.skip("pyspark not installed (pip install 'wattlake[spark]')")
    from wattlake.engine import SparkEngine

    return SparkEngine("local[2]")


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the 2-worker Spark standalone cluster (`services.spark_cluster_service`)."""
    import services

    svc = services.spark_cluster_service(tmp_path_factory.mktemp("spark-cluster-run"))
    yield svc.address
    if svc.started_here:
        svc.stop()


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Endpoint, bucket and credentials of the local S3 server (scripts/s3.sh)."""
    import services

    svc = services.s3_service(tmp_path_factory.mktemp("s3-run"))
    yield svc.env
    if svc.started_here:
        svc.stop()


@pytest.fixture(scope="session")
def delta_spark(
    spark_master: str, s3_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The Delta-enabled SparkSession on the cluster (spark_sessions.DeltaSpark)."""
    import spark_sessions

    yield spark_sessions.start_delta_spark(spark_master, s3_env, tmp_path_factory.mktemp("events"))
    spark_sessions.stop_delta_spark()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The cluster session's tests first (see tests/spark_sessions.py).
    import spark_sessions

    items.sort(key=lambda item: not spark_sessions.uses_delta_spark(item))


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # After the last test of the cluster session, free it for the local `spark` fixture.
    import spark_sessions

    if spark_sessions.uses_delta_spark(item) and not spark_sessions.uses_delta_spark(nextitem):
        spark_sessions.stop_delta_spark()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a database on a running PostgreSQL: `$WATTLAKE_TEST_PG_URL`, or a private server
    started for this session (`pg.private_server`) and stopped after it."""
    import pg

    pg.psycopg_module()
    with contextlib.ExitStack() as stack:
        url = os.environ.get("WATTLAKE_TEST_PG_URL") or stack.enter_context(pg.private_server())
        try:
            pg.query(url, "SELECT 1")
        except Exception as exc:
            pg._unavailable(f"cannot connect to {url}: {exc}")
        yield url


@pytest.fixture
def pg_db(pg_server: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    import pg

    with pg.fresh_database(pg_server) as url:
        yield url


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Kafka broker (`services.Service`; `.address` is the bootstrap)."""
    import services

    svc = services.kafka_service(tmp_path_factory.mktemp("kafka-run"))
    yield svc
    if svc.started_here:
        svc.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Redis server (`services.Service`; `.address` is the URL)."""
    import services

    svc = services.redis_service(tmp_path_factory.mktemp("redis-run"))
    yield svc
    if svc.started_here:
        svc.stop()


TESTS_DIR = Path(__file__).resolve().parent
# Recorded real data (API responses, LCL side files), kept in the repository so a fresh clone
# runs every test; each file's origin and licence are in tests/data/realdata/README.md.
REALDATA = TESTS_DIR / "data" / "realdata"


def realdata(relpath: str) -> Path:
    """Path of a recorded real file, `relpath` relative to tests/data/realdata (e.g.
    `lcl/uk_bank_holidays.csv`); raises when missing: a test never skips for missing data,
    the data is part of the repository."""
    path = REALDATA / relpath
    if not path.is_file():
        raise FileNotFoundError(f"test data {path} is missing (see tests/data/realdata/README.md)")
    return path


def realdata_api(name: str) -> bytes:
    """The bytes of a recorded API response in `tests/data/realdata/apis`."""
    return realdata(f"apis/{name}").read_bytes()


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
