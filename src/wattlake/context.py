"""The runtime context: what every step needs, built once per process and passed down.

    with build_context(settings) as ctx:
        ingest_files(ctx, paths)
        run_pipeline(ctx)

A `Context` holds the settings, the lake, the engine (created on first use) with its lake
I/O (`ctx.tables`: steps read and write engine tables through it), one SQL
connection over every table (`ctx.sql()`, opened once and refreshed, never re-created per
call), the warehouse target, the alert notifiers and the clock. The CLI builds it from its
flags and the environment; tests build it around a temporary home (and may inject an engine,
a clock or notifiers); a stream consumer, an API server or a DAG task build their own the same
way, in the manner of Dagster's resources: the steps never build these things themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

import duckdb

from wattlake.config import Settings
from wattlake.engine import Engine, SparkEngine, engine_for
from wattlake.lake.delta import Lake
from wattlake.lake.storage import parse_lake_uri
from wattlake.observability.alerts import LogNotifier, Notifier, WebhookNotifier
from wattlake.query import detach_warehouse, open_catalog, refresh_catalog
from wattlake.tables import Tables, tables_for
from wattlake.transforms.vee.profile import VeeProfile, get_profile
from wattlake.warehouse.spark_jdbc import SparkPostgresTarget
from wattlake.warehouse.targets import Target, is_postgres, open_target

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time, UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


def lake_for(settings: Settings) -> Lake:
    """The lake of `settings`: `settings.lake` (a directory or `s3://bucket/prefix`), else
    `<home>/lake`."""
    location = parse_lake_uri(settings.lake) if settings.lake else None
    return Lake(settings.home, location)


def default_notifiers(settings: Settings) -> list[Notifier]:
    """The structlog notifier, plus a webhook when `alert_webhook_url` is set."""
    notifiers: list[Notifier] = [LogNotifier()]
    if settings.alert_webhook_url:
        notifiers.append(WebhookNotifier(settings.alert_webhook_url))
    return notifiers


class Context:
    """Settings, lake, engine, SQL connection, warehouse target, notifiers and clock of one
    process. Use it as a context manager (or call `close`) to release the engine and the
    SQL connection it opened."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        notifiers: Sequence[Notifier] | None = None,
    ) -> None:
        self.settings = settings
        self.lake = lake_for(settings)
        self.clock: Clock = clock or utc_now
        self.notifiers = list(notifiers) if notifiers is not None else default_notifiers(settings)
        self._engine = engine
        self._own_engine = engine is None
        self._sql: duckdb.DuckDBPyConnection | None = None
        self._tables: Tables | None = None

    @property
    def engine(self) -> Engine:
        """The Ibis engine of `settings.engine` (created on first use, then kept)."""
        if self._engine is None:
            self._engine = engine_for(self.settings, self.lake.location)
        return self._engine

    @property
    def tables(self) -> Tables:
        """The lake I/O of the engine (`wattlake.tables`): what steps read and write."""
        if self._tables is None or self._tables.engine is not self.engine:
            self._tables = tables_for(self.engine, self.lake)
        return self._tables

    @property
    def profile(self) -> VeeProfile:
        """The VEE profile named by `settings.profile`."""
        return get_profile(self.settings.profile)

    def with_settings(self, **overrides: object) -> Context:
        """A context for the same home with some settings changed (engine kept when the
        engine setting is unchanged)."""
        settings = self.settings.model_copy(update=overrides)
        same_engine = settings.engine == self.settings.engine
        return Context(
            settings,
            engine=self._engine if same_engine else None,
            clock=self.clock,
            notifiers=self.notifiers,
        )

    def sql(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection that sees every lake table (`bronze.*` … `ops.*`) as a view
        and the warehouse as `dw.*`: opened on first use, afterwards only refreshed with the
        tables created since."""
        if self._sql is None:
            self._sql = open_catalog(self.lake, self.settings.warehouse)
        else:
            refresh_catalog(self._sql, self.lake, self.settings.warehouse)
        return self._sql

    @contextmanager
    def warehouse(self) -> Iterator[Target]:
        """The warehouse target for writing (DuckDB file or PostgreSQL); the SQL connection
        lets go of a DuckDB warehouse file meanwhile (one process may not hold it twice)."""
        if self._sql is not None:
            detach_warehouse(self._sql)
        target = self._open_target()
        try:
            yield target
        finally:
            target.close()

    def _open_target(self) -> Target:
        """`open_target`; on the Spark engine a PostgreSQL warehouse is staged by the
        executors (the DuckDB warehouse file is written by the driver: it is one file)."""
        warehouse = self.settings.warehouse
        on_spark = (self._engine.name if self._engine else self.settings.engine) == "spark"
        if on_spark and is_postgres(warehouse):
            assert warehouse is not None and isinstance(self.engine, SparkEngine)
            return SparkPostgresTarget(self.lake, warehouse, self.engine.spark)
        return open_target(self.lake, warehouse)

    def close(self) -> None:
        """Close the SQL connection and the engine this context created."""
        if self._sql is not None:
            self._sql.close()
            self._sql = None
        if self._own_engine and self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def build_context(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    notifiers: Sequence[Notifier] | None = None,
) -> Context:
    """The context of one process for `settings` (see the module docstring)."""
    return Context(settings, engine=engine, clock=clock, notifiers=notifiers)
