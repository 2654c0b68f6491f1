"""Shared fixtures. Spark tests need PySpark + Java; CI sets WATTLAKE_REQUIRE_SPARK=1 so a
missing Spark fails instead of skipping."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pytest

from wattlake.config import Settings, load_settings
from wattlake.context import Context, build_context
from wattlake.engine import DuckDBEngine, Engine
from wattlake.lake.delta import Lake
from wattlake.logs import configure_logging
from wattlake.query import open_catalog

_exit_status = 0
T = TypeVar("T")


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
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("WATTLAKE_REQUIRE_SPARK") == "1":
            raise
        pytest.skip("pyspark not installed (pip install 'wattlake[spark]')")
    from wattlake.engine import SparkEngine

    return SparkEngine("local[2]")


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
