"""LCL side files: households, Dark Sky weather, bank holidays (real files + edge cases)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.compute as pc
import pytest

from conftest import realdata
from wattlake.errors import InputError
from wattlake.sources.lcl import (
    parse_bank_holidays,
    parse_households,
    parse_lcl_weather,
    read_bank_holidays,
    read_households,
    read_lcl_weather,
)
from wattlake.sources.open_meteo import WEATHER_SCHEMA

HH = "LCLid,stdorToU,Acorn,Acorn_grouped,file\n"
WX = (
    "visibility,windBearing,temperature,time,dewPoint,pressure,apparentTemperature,windSpeed,"
    "precipType,icon,humidity,summary\n"
)


def test_real_households() -> None:
    t = read_households(realdata("lcl/informations_households.csv"))
    assert t.num_rows == 5566
    assert pc.count_distinct(t["user_id"]).as_py() == 5566
    counts = dict(
        zip(*[c.to_pylist() for c in pc.value_counts(t["tariff"]).flatten()], strict=True)
    )
    assert counts == {"Std": 4443, "ToU": 1123}
    mac2 = t.filter(pc.equal(t["user_id"], "MAC000002")).to_pylist()[0]
    assert mac2 == {
        "user_id": "MAC000002",
        "tariff": "Std",
        "acorn": "ACORN-A",
        "acorn_grouped": "Affluent",
        "file": "block_0",
    }
    assert t["acorn"].null_count > 0  # "ACORN-" means unknown


def test_real_weather() -> None:
    t = read_lcl_weather(realdata("lcl/weather_hourly_darksky.csv"))
    assert t.num_rows == 504  # the excerpt: three whole weeks (see the data README)
    assert t.schema.names[: len(WEATHER_SCHEMA)] == WEATHER_SCHEMA.names
    assert pc.count_distinct(t["ts"]).as_py() == t.num_rows
    first = t.slice(0, 1).to_pylist()[0]
    assert first["ts"] == datetime(2011, 11, 1, tzinfo=UTC)
    assert first["summary"] == "Clear"  # the stray CR in the quoted field is gone
    lo, hi = pc.min_max(t["temperature_c"]).values()
    assert -15 < lo.as_py() < 0 < 25 < hi.as_py() < 40  # London, °C
    assert t["pressure_hpa"].null_count == 1  # "NULL" in the file (2013-08-01 00:00)
    assert t["ghi_w_m2"].null_count == t.num_rows


def test_real_bank_holidays_are_corrected() -> None:
    t = read_bank_holidays(realdata("lcl/uk_bank_holidays.csv"))
    assert t.num_rows == 17  # the excerpt: 2012 and 2013
    rows = {r["name"]: r for r in t.to_pylist() if r["date"].year == 2012}
    jubilee = rows["Queens Diamond Jubilee (extra bank holiday)"]
    assert (jubilee["date_raw"], jubilee["date"]) == (date(2012, 5, 6), date(2012, 6, 5))
    assert rows["Good Friday"]["date"] == date(2012, 4, 6)
    assert rows["Christmas Day"]["date_corrected"] is False
    assert sum(t["date_corrected"].to_pylist()) == 8


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        pytest.param("LCLid,tariff\nMAC1,Std\n", "missing column(s) stdorToU", id="bad_header"),
        pytest.param(
            HH + "MAC1,Fixed,ACORN-A,Affluent,block_0\n", "unknown stdorToU", id="bad_tariff"
        ),
        pytest.param(HH + ",Std,ACORN-A,Affluent,block_0\n", "without an LCLid", id="no_id"),
        pytest.param(HH + "M1,Std,ACORN-A,A,b\nM1,ToU,ACORN-A,A,b\n", "duplicate", id="dup_id"),
    ],
)
def test_households_reject(text: str, msg: str) -> None:
    with pytest.raises(InputError, match=re.escape(msg)):
        parse_households(text.encode())


def test_households_unknown_acorn_is_null() -> None:
    t = parse_households((HH + 'MAC1,ToU,ACORN-,ACORN-,"block_0"\n').encode())
    assert t.to_pylist() == [
        {
            "user_id": "MAC1",
            "tariff": "ToU",
            "acorn": None,
            "acorn_grouped": None,
            "file": "block_0",
        }
    ]


@pytest.mark.parametrize(
    ("extra_header", "extra_value", "expected_pct"),
    [
        pytest.param("", "", None, id="no_cloud_column"),
        pytest.param(",cloudCover", ",0.25", 25.0, id="fraction_to_percent"),
        pytest.param(",cloudCover", ",", None, id="empty_cloud_cover"),
    ],
)
def test_weather_cloud_cover(
    extra_header: str,
    extra_value: str,
    expected_pct: float | None,
) -> None:
    text = (
        WX.rstrip("\n")
        + extra_header
        + "\n"
        + '5.97,104,10.24,"2011-11-11 00:00:00",8.86,1016.76,10.24,2.77,rain,x,0.91,'
        + '"Partly Cloudy\r"'
        + extra_value
        + "\n"
    )
    t = parse_lcl_weather(text.encode(), latitude=51.0, longitude=0.0)
    row = t.to_pylist()[0]
    assert row["cloud_cover_pct"] == expected_pct
    assert (row["latitude"], row["temperature_c"], row["humidity_pct"]) == (51.0, 10.24, 91.0)


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        pytest.param(
            "time,temperature\n2011-11-11 00:00:00,1\n", "missing column(s) windSpeed", id="no_wind"
        ),
        pytest.param(
            WX + '1,1,x,"2011-11-11 00:00:00",1,1,1,1,r,i,1,s\n',
            "non-numeric",
            id="text_temperature",
        ),
        pytest.param(WX + '1,1,1,"11/11/2011",1,1,1,1,r,i,1,s\n', "not 'YYYY-MM-DD", id="bad_time"),
    ],
)
def test_weather_rejects(text: str, msg: str) -> None:
    with pytest.raises(InputError, match=re.escape(msg)):
        parse_lcl_weather(text.encode())


@pytest.mark.parametrize(
    ("line", "expected", "corrected"),
    [
        pytest.param(
            '2012-05-06,"Queens Diamond Jubilee"', date(2012, 6, 5), True, id="swapped_jubilee"
        ),
        pytest.param('2013-01-04,"Easter Monday"', date(2013, 4, 1), True, id="swapped_easter"),
        pytest.param('2013-12-25,"Christmas Day"', date(2013, 12, 25), False, id="correct"),
        pytest.param(
            '2012-04-06,"Spring bank holiday (substitute day)"',
            date(2012, 6, 4),
            True,
            id="real_holiday_but_wrong_name",
        ),
        pytest.param('2013-07-03,"Company day"', date(2013, 7, 3), False, id="unknown_kept"),
    ],
)
def test_bank_holiday_correction(line: str, expected: date, corrected: bool) -> None:
    t = parse_bank_holidays(('"Bank holidays",Type\n' + line + "\n").encode())
    row = t.to_pylist()[0]
    assert (row["date"], row["date_corrected"]) == (expected, corrected)


def test_missing_file() -> None:
    with pytest.raises(InputError, match="no such file"):
        read_households(Path("/nonexistent/households.csv"))
