"""The real LCL Dark Sky weather file (a three-week excerpt) → bronze.api_responses and
silver.weather, through the CLI (detected by its header); idempotent; a broken file is one
error line."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from conftest import realdata, write
from test_cli import wl
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.sources.lcl import LONDON_LAT, LONDON_LON

WEATHER = realdata("lcl/weather_hourly_darksky.csv")


def test_real_darksky_file_lands_in_silver_weather(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = wl("ingest", str(WEATHER), home=home)
    assert r.returncode == 0, r.stderr
    assert "lcl-weather" in r.stdout
    with WEATHER.open(newline="") as f:
        real = list(csv.DictReader(f))
    lake = Lake(home)
    silver = lake.read(cat.SILVER_WEATHER).sort_by("ts").to_pylist()
    # One row per hour of the file (Dark Sky times are UTC), at central London.
    by_ts = {dt.datetime.fromisoformat(r["time"]).replace(tzinfo=dt.UTC): r for r in real}
    assert len(silver) == len(by_ts) == 504  # three whole weeks, 24 rows a day
    for row in silver[:: len(silver) // 50]:
        src = by_ts[row["ts"]]
        assert (row["latitude"], row["longitude"]) == (LONDON_LAT, LONDON_LON)
        assert row["temperature_c"] == pytest.approx(float(src["temperature"]))
        assert row["wind_speed_m_s"] == pytest.approx(float(src["windSpeed"]))
        assert row["source"] == "lcl-darksky"
    # The file itself is kept as the raw response, with a run row.
    bronze = lake.read(cat.BRONZE_API_RESPONSES).to_pylist()
    assert [b["source"] for b in bronze] == ["lcl-darksky"]
    assert bronze[0]["body"] == WEATHER.read_bytes().decode()
    runs = [x for x in lake.read(cat.OPS_RUNS).to_pylist() if x["step"] == "ingest_lcl-darksky"]
    assert [x["status"] for x in runs] == ["success"]

    # Re-ingesting changes nothing in silver.
    version = lake.table(cat.SILVER_WEATHER).version()  # type: ignore[union-attr]
    again = wl("ingest", str(WEATHER), "--format", "lcl-weather", home=home)
    assert again.returncode == 0, again.stderr
    assert lake.read(cat.SILVER_WEATHER).sort_by("ts").to_pylist() == silver
    assert lake.read(cat.BRONZE_API_RESPONSES).num_rows == 1
    assert lake.table(cat.SILVER_WEATHER).version() >= version  # type: ignore[union-attr]


def test_broken_darksky_file_is_one_error_line_and_a_dead_letter(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "weather_hourly_darksky.csv",
        "visibility,windBearing,temperature,time,windSpeed\n5.9,104,10.2,yesterday,2.7\n",
    )
    home = tmp_path / "home"
    r = wl("ingest", str(bad), home=home)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and "time" in r.stderr
    assert not Lake(home).exists(cat.SILVER_WEATHER)
    dead = Lake(home).read(cat.OPS_DEAD_LETTER).to_pylist()
    assert len(dead) == 1 and "time" in dead[0]["reason"]
