"""Weather, prices and PV potential for `wattlake demo`: synthetic by default, fetched online.

Both modes land their responses through `wattlake.pipeline.external` (bronze
`api_responses` with lineage, `ops.runs`, parse, silver), so the demo exercises the same
path as `wattlake ingest weather|prices|pv`.

- Offline (default, no network): `wattlake.generate.external` turns the generator's city
  weather into one Open-Meteo `/v1/archive` body per weather grid point (the users'
  locations snapped to 0.25°) and its sunshine into Energy-Charts `/price` bodies for
  `Settings.price_zone`. The bodies are written to `<home>/demo-input/api/` and landed with
  `body=` under `synthetic://wattlake-demo/...` URLs.
- Online (`wattlake demo --online`): the same grid points from the Open-Meteo archive
  (ERA5) for the demo's days (+1 for the last hour's radiation), the zone's day-ahead
  prices from Energy-Charts, and PVGIS `seriescalc` hourly PV for a 1 kWp, 35°, south
  system at the users' centre (the demo's year, or 2023 — the last year PVGIS has).
  Responses are cached under `<home>/cache/http`; a failed fetch is reported, not fatal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from wattlake.context import Context
from wattlake.generate.api import GenerationResult
from wattlake.generate.external import grid_points, synthetic_bodies
from wattlake.pipeline.external import (
    ExternalOutcome,
    ingest_prices,
    ingest_pv,
    ingest_weather,
    make_client,
)
from wattlake.sources.http import HttpClient

SYNTHETIC_BASE_URL = "synthetic://wattlake-demo"
PVGIS_LAST_YEAR = 2023
PVGIS_FIRST_YEAR = 2005


@dataclass
class DemoExternal:
    """What the demo landed: mode (`synthetic` | `online`), grid points, one outcome per
    response."""

    mode: str
    points: list[tuple[float, float]]
    outcomes: list[ExternalOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[ExternalOutcome]:
        return [o for o in self.outcomes if o.status != "success"]


def _locations(users_file: Path) -> pd.DataFrame:
    return pd.read_csv(users_file, usecols=["latitude", "longitude"]).dropna()


def demo_points(users_file: Path) -> list[tuple[float, float]]:
    """The weather grid points of the users in `users.csv` (0.25° cells)."""
    loc = _locations(users_file)
    return grid_points(loc["latitude"].tolist(), loc["longitude"].tolist())


def _period(gen: GenerationResult) -> tuple[dt.date, int]:
    if gen.start is None or gen.days is None or gen.weather is None:
        raise ValueError("the generation result has no period or weather")
    return gen.start, gen.days


def synthetic_external(
    ctx: Context, gen: GenerationResult, seed: int, out_dir: Path
) -> DemoExternal:
    """Generate and land the offline demo's weather and prices (module doc); no network."""
    start, days = _period(gen)
    weather = gen.weather
    assert weather is not None
    points = demo_points(gen.users_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    bodies = synthetic_bodies(
        start, days, weather.temperature_c, weather.cloud, points, ctx.settings.price_zone, seed
    )
    result = DemoExternal("synthetic", points)
    for b in bodies:
        (out_dir / b.filename).write_bytes(b.body)
        if b.kind == "weather":
            assert b.latitude is not None and b.longitude is not None
            outcome = ingest_weather(
                ctx,
                b.latitude,
                b.longitude,
                b.first,
                b.last,
                kind="archive",
                base_url=SYNTHETIC_BASE_URL,
                body=b.body,
            )
        else:
            outcome = ingest_prices(
                ctx, str(b.zone), b.first, b.last, base_url=SYNTHETIC_BASE_URL, body=b.body
            )
        result.outcomes.append(outcome)
    return result


def online_external(
    ctx: Context, gen: GenerationResult, client: HttpClient | None = None
) -> DemoExternal:
    """Fetch and land real weather, prices and PV potential for the demo (module doc)."""
    start, days = _period(gen)
    points = demo_points(gen.users_file)
    loc = _locations(gen.users_file)
    http = client or make_client(ctx.settings, cache=True)
    result = DemoExternal("online", points)
    last = start + dt.timedelta(days=days)
    try:
        for lat, lon in points:
            result.outcomes.append(ingest_weather(ctx, lat, lon, start, last, http, kind="archive"))
        result.outcomes.append(
            ingest_prices(
                ctx, ctx.settings.price_zone, start, start + dt.timedelta(days=days - 1), http
            )
        )
        year = min(max(start.year, PVGIS_FIRST_YEAR), PVGIS_LAST_YEAR)
        result.outcomes.append(
            ingest_pv(
                ctx,
                round(float(loc["latitude"].mean()), 4),
                round(float(loc["longitude"].mean()), 4),
                year,
                year,
                http,
                peak_power_kwp=1.0,
                tilt_deg=35.0,
                azimuth_deg=0.0,
            )
        )
    finally:
        if client is None:
            http.close()
    return result


__all__ = ["DemoExternal", "demo_points", "online_external", "synthetic_external"]
