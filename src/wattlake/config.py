"""Settings: `WATTLAKE_*` environment variables, an optional TOML file, then CLI flags.

Precedence (highest first): CLI flags (passed as init kwargs), environment variables,
`<home>/wattlake.toml` (or the file named by `WATTLAKE_CONFIG`), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Engine = Literal["duckdb", "spark"]


def default_home() -> Path:
    """`$WATTLAKE_HOME` or `./wattlake-data`."""
    return Path(os.environ.get("WATTLAKE_HOME", "wattlake-data"))


class Settings(BaseSettings):
    """Runtime configuration of one wattlake home (lake, warehouse, logs)."""

    model_config = SettingsConfigDict(env_prefix="WATTLAKE_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    engine: Engine = "duckdb"
    profile: str = "greenstream"
    log_level: str = "INFO"
    log_stderr: bool = False
    # Flat tariffs used by the warehouse until spot prices are ingested (EUR per kWh).
    grid_buy_eur_per_kwh: float = 0.30
    grid_sell_eur_per_kwh: float = 0.08
    # Day-ahead bidding zone whose spot prices enrich readings and the warehouse facts.
    price_zone: str = "DE-LU"
    # Grid carbon intensity used for CO2 saved by local PV (kg CO2 per kWh).
    grid_co2_kg_per_kwh: float = 0.20
    # History every rewritten silver row sees (hours): the longest look-back of any rule
    # (7-day CV) plus a day. A run rewrites from the earliest new reading minus this, and
    # reads another lookback before that as context.
    lookback_hours: int = 192
    # Where the lake's Delta tables live: None → `<home>/lake`; or a directory or an S3
    # prefix `s3://bucket/prefix` (credentials and endpoint: `WATTLAKE_S3_*` or `AWS_*`).
    # The home stays a local directory (logs, spill files, the DuckDB warehouse file).
    lake: str | None = None
    spark_master: str = "local[2]"
    # Extra Spark settings (`WATTLAKE_SPARK_CONF` as JSON), e.g. {"spark.executor.memory": "4g"}.
    spark_conf: dict[str, str] = Field(default_factory=dict)
    # DuckDB's working-memory cap (e.g. "3GB"); beyond it DuckDB spills to <home>/tmp/duckdb.
    # None: DuckDB's default (80 % of RAM).
    duckdb_memory_limit: str | None = None
    # New alerts are POSTed as JSON here too (`WATTLAKE_ALERT_WEBHOOK_URL`); always logged.
    alert_webhook_url: str | None = None
    # P2P market (gold): clearing mechanism, network fee on traded energy (EUR per kWh),
    # community radius (km).
    market_mechanism: str = "pay_as_clear"
    market_grid_fee_eur_per_kwh: float = 0.02
    market_radius_km: float = 5.0
    # Waits before retrying a step that failed unexpectedly (s); GreenStream: 3 tries.
    retry_backoff_s: tuple[float, ...] = (1.0, 5.0)
    # What the quality gates of a run check: "run" — the rows this run promotes (the meters
    # the silver step rewrote, the dates gold recomputed), at a cost that grows with the new
    # data; "all" — every row of every table, every run. `wattlake quality report` always
    # checks everything.
    gate_scope: Literal["run", "all"] = "run"
    # Warehouse target: None → `<home>/warehouse.duckdb`; or a `postgresql://` URL.
    warehouse: str | None = None
    # Kafka bootstrap servers of the stream (`scripts/kafka.sh start` prints one) and the
    # Redis URL for the latest stream state (None: no Redis).
    kafka_bootstrap: str = "127.0.0.1:19092"
    redis_url: str | None = None
    # Prefix of every Kafka topic name (e.g. "site1."): pipelines sharing a cluster.
    kafka_topic_prefix: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("WATTLAKE_CONFIG")
        if toml_file is None:
            home = init_settings.init_kwargs.get("home") or default_home()  # type: ignore[attr-defined]
            toml_file = str(Path(home) / "wattlake.toml")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if Path(toml_file).is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, ignoring CLI overrides that were not given (None)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
