"""Synthetic weather and price responses of the offline demo (`wattlake.generate.external`).

The bodies must go through the real parsers unchanged, in the real APIs' layout."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pvlib
import pytest

from wattlake.generate.external import (
    QUARTER_HOUR_FROM,
    cloud_cover_pct,
    energy_charts_body,
    grid_points,
    hourly_weather,
    open_meteo_body,
    price_series,
    split_by_resolution,
)
from wattlake.sources.energy_charts import parse_prices
from wattlake.sources.open_meteo import parse_weather

START = dt.date(2024, 3, 1)


def weather(days: int = 3, seed: int = 0) -> pd.DataFrame:
    temp = np.linspace(6.0, 10.0, days)
    clear = np.linspace(0.3, 1.0, days)
    return hourly_weather(51.5, -0.25, START, days, temp, clear, np.random.default_rng(seed))


def test_open_meteo_body_parses_with_the_real_parser() -> None:
    hourly = weather()
    body = open_meteo_body(51.5, -0.25, hourly)
    doc = json.loads(body)
    assert doc["timezone"] == "GMT" and doc["hourly"]["time"][0] == "2024-03-01T00:00"
    t = parse_weather(body)
    assert t.num_rows == 72
    assert t["ts"][0].as_py() == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    assert t["temperature_c"].to_pylist() == hourly["temperature_2m"].tolist()
    assert t["ghi_w_m2"].to_pylist() == hourly["shortwave_radiation"].tolist()
    assert t["wind_speed_m_s"].null_count == 0


def test_radiation_is_the_preceding_hours_clear_sky_times_the_days_clear_fraction() -> None:
    hourly = weather()
    loc = pvlib.location.Location(51.5, -0.25, tz="UTC")
    label = pd.Timestamp("2024-03-03 13:00", tz="UTC")  # day 3: clear fraction 1.0
    mids = pd.DatetimeIndex([label - pd.Timedelta(minutes=45), label - pd.Timedelta(minutes=15)])
    clear = loc.get_clearsky(mids, model="haurwitz")["ghi"].mean()
    assert hourly.loc[label, "shortwave_radiation"] == pytest.approx(clear, abs=0.06)
    night = hourly.loc[pd.Timestamp("2024-03-01 02:00", tz="UTC")]
    assert night["shortwave_radiation"] == 0.0 and night["direct_normal_irradiance"] == 0.0
    parts = hourly[["direct_radiation", "diffuse_radiation"]].sum(axis=1)
    assert np.allclose(parts, hourly["shortwave_radiation"], atol=0.11)


def test_temperature_follows_the_daily_mean_with_an_afternoon_maximum() -> None:
    hourly = weather(days=3)
    day1 = hourly.loc["2024-03-01", "temperature_2m"]
    assert day1.mean() == pytest.approx(6.0, abs=0.3)
    assert 13 <= day1.idxmax().hour <= 17 and 1 <= day1.idxmin().hour <= 5


@pytest.mark.parametrize(
    ("clear", "cover"),
    [
        pytest.param(1.0, 0.0, id="clear_sky_no_cloud"),
        pytest.param(0.25, 100.0, id="overcast_capped_at_100"),
        pytest.param(0.7, 100.0 * (0.3 / 0.75) ** (1 / 3.4), id="kasten_czeplak_inverse"),
    ],
)
def test_cloud_cover_from_clear_fraction(clear: float, cover: float) -> None:
    got = float(cloud_cover_pct(np.array([clear]))[0])
    assert got == pytest.approx(cover)
    n = got / 100.0
    if 0.0 < n < 1.0:  # Kasten–Czeplak gives the clear fraction back
        assert 1.0 - 0.75 * n**3.4 == pytest.approx(clear)


@pytest.mark.parametrize(
    ("start", "days", "resolutions"),
    [
        pytest.param(dt.date(2024, 3, 1), 2, [(60, 48)], id="hourly_before_switch"),
        pytest.param(dt.date(2025, 9, 30), 2, [(60, 22), (15, 104)], id="day_of_switch"),
        pytest.param(dt.date(2025, 11, 1), 1, [(15, 96)], id="quarter_hours_after"),
    ],
)
def test_prices_switch_to_15_minutes_on_2025_10_01(
    start: dt.date, days: int, resolutions: list[tuple[int, int]]
) -> None:
    prices = price_series(start, days, np.full(days, 0.6), np.random.default_rng(1))
    parts = split_by_resolution(prices)
    got = []
    for part in parts:
        t = parse_prices(energy_charts_body(part), "DE-LU")
        got.append((t["resolution_minutes"][0].as_py(), t.num_rows))
        assert t["price_eur_per_kwh"].to_pylist() == pytest.approx(
            [p / 1000 for p in part.tolist()]
        )
    assert got == resolutions
    if len(parts) == 2:
        assert parts[1].index[0] == pd.Timestamp(QUARTER_HOUR_FROM)


def test_sunny_days_have_a_deeper_midday_dip() -> None:
    rng = np.random.default_rng(3)
    clear = np.array([0.2, 1.0] * 14)  # alternate dull and sunny days
    p = price_series(dt.date(2024, 6, 3), 28, clear, rng)
    local_noon = p[p.index.tz_convert("Europe/Berlin").hour == 13]
    dull, sunny = local_noon.iloc[0::2].mean(), local_noon.iloc[1::2].mean()
    assert sunny < dull - 30.0


@pytest.mark.parametrize(
    ("lats", "lons", "points"),
    [
        pytest.param([51.51], [-0.12], [(51.5, 0.0)], id="central_london"),
        pytest.param([51.36, 51.64], [-0.44, 0.19], [(51.25, -0.5), (51.75, 0.25)],
                     id="corners_of_the_demo_box"),
        pytest.param([51.5, 51.51, float("nan")], [0.1, 0.11, 0.0], [(51.5, 0.0)],
                     id="same_cell_once_nan_skipped"),
    ],
)  # fmt: skip
def test_grid_points(lats: list[float], lons: list[float], points: list[tuple]) -> None:
    assert grid_points(lats, lons) == points
