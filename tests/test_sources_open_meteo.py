"""Open-Meteo hourly weather: the recorded forecast, unit conversion, time zones, bad bodies."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from conftest import realdata
from wattlake.errors import InputError
from wattlake.sources.http import HttpClient, ResponseError
from wattlake.sources.open_meteo import (
    get_archive,
    get_forecast,
    parse_weather,
    read_weather,
    weather_request,
)

RECORDED = realdata("apis/open_meteo_forecast_hourly.json")

UNITS = {
    "time": "iso8601",
    "temperature_2m": "°C",
    "cloud_cover": "%",
    "shortwave_radiation": "W/m²",
    "direct_radiation": "W/m²",
    "direct_normal_irradiance": "W/m²",
    "diffuse_radiation": "W/m²",
    "wind_speed_10m": "m/s",
}


def body(hourly: dict | None = None, units: dict | None = None, **top: object) -> bytes:
    doc: dict[str, object] = {
        "latitude": 51.5,
        "longitude": -0.12,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "hourly_units": {**UNITS, **(units or {})},
        "hourly": {
            "time": ["2024-06-01T00:00", "2024-06-01T01:00"],
            "temperature_2m": [12.5, 11.9],
            "cloud_cover": [40, 100],
            "shortwave_radiation": [0.0, 5.0],
            "direct_radiation": [0.0, 1.0],
            "direct_normal_irradiance": [0.0, 20.0],
            "diffuse_radiation": [0.0, 4.0],
            "wind_speed_10m": [3.6, 7.2],
            **(hourly or {}),
        },
    }
    doc.update(top)
    return json.dumps(doc).encode()


def test_recorded_forecast_parses() -> None:
    t = parse_weather(read_weather(RECORDED))
    assert t.num_rows == 72
    rows = t.to_pylist()
    raw = json.loads(RECORDED.read_bytes())
    # Europe/Berlin in March is UTC+1: local 2026-03-02T00:00 is 2026-03-01T23:00Z.
    assert rows[0]["ts"] == datetime(2026, 3, 1, 23, tzinfo=UTC)
    assert rows[-1]["ts"] == datetime(2026, 3, 4, 22, tzinfo=UTC)
    assert (rows[0]["latitude"], rows[0]["longitude"]) == (50.0, 10.0)
    i = 12
    assert rows[i]["temperature_c"] == raw["hourly"]["temperature_2m"][i]
    assert rows[i]["ghi_w_m2"] == raw["hourly"]["shortwave_radiation"][i]
    assert rows[i]["direct_w_m2"] == raw["hourly"]["direct_radiation"][i]
    assert rows[i]["dhi_w_m2"] == raw["hourly"]["diffuse_radiation"][i]
    assert rows[i]["cloud_cover_pct"] == raw["hourly"]["cloud_cover"][i]
    # wind comes in km/h in this response
    assert rows[i]["wind_speed_m_s"] == pytest.approx(raw["hourly"]["wind_speed_10m"][i] / 3.6)
    assert t["dni_w_m2"].null_count == 72  # not requested in that response
    assert max(r["ghi_w_m2"] for r in rows) > 100  # daytime sun
    assert min(r["ghi_w_m2"] for r in rows) == 0.0  # night


@pytest.mark.parametrize(
    ("units", "column", "expected"),
    [
        pytest.param({"wind_speed_10m": "km/h"}, "wind_speed_m_s", [1.0, 2.0], id="kmh_to_ms"),
        pytest.param(
            {"wind_speed_10m": "mp/h"}, "wind_speed_m_s", [1.609344, 3.218688], id="mph_to_ms"
        ),
        pytest.param({"wind_speed_10m": "m/s"}, "wind_speed_m_s", [3.6, 7.2], id="ms_unchanged"),
        pytest.param(
            {"temperature_2m": "°F"}, "temperature_c", [-10.833333, -11.166667], id="fahrenheit"
        ),
        pytest.param({"shortwave_radiation": "W/m2"}, "ghi_w_m2", [0.0, 5.0], id="w_m2_ascii"),
    ],
)
def test_unit_conversion(units: dict, column: str, expected: list[float]) -> None:
    t = parse_weather(body(units=units))
    assert t[column].to_pylist() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("top", "units", "hourly", "expected_first"),
    [
        pytest.param({}, {}, {}, datetime(2024, 6, 1, 0, tzinfo=UTC), id="gmt"),
        pytest.param(
            {"timezone": "Europe/London", "utc_offset_seconds": 3600},
            {},
            {},
            datetime(2024, 5, 31, 23, tzinfo=UTC),
            id="london_bst",
        ),
        pytest.param(
            {"timezone": "Nowhere/Invalid", "utc_offset_seconds": 7200},
            {},
            {},
            datetime(2024, 5, 31, 22, tzinfo=UTC),
            id="unknown_zone_uses_offset",
        ),
        pytest.param(
            {},
            {"time": "unixtime"},
            {"time": [1717200000, 1717203600]},
            datetime(2024, 6, 1, 0, tzinfo=UTC),
            id="unixtime",
        ),
    ],
)
def test_times_become_utc(top: dict, units: dict, hourly: dict, expected_first: datetime) -> None:
    t = parse_weather(body(hourly=hourly, units=units, **top))
    assert t["ts"][0].as_py() == expected_first


def test_missing_variable_is_null() -> None:
    doc = json.loads(body())
    del doc["hourly"]["direct_normal_irradiance"]
    t = parse_weather(json.dumps(doc).encode())
    assert t["dni_w_m2"].to_pylist() == [None, None]
    assert t["temperature_c"].to_pylist() == [12.5, 11.9]


def test_null_values_stay_null() -> None:
    t = parse_weather(body(hourly={"temperature_2m": [None, 3.0]}))
    assert t["temperature_c"].to_pylist() == [None, 3.0]


def _without(key: str) -> bytes:
    doc = json.loads(body())
    del doc[key]
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(_without("hourly"), "missing 'hourly' object", id="no_hourly"),
        pytest.param(_without("hourly_units"), "missing 'hourly_units'", id="no_units"),
        pytest.param(_without("latitude"), "latitude/longitude", id="no_latitude"),
        pytest.param(
            json.dumps({"error": True, "reason": "Latitude must be in range"}).encode(),
            "API error: Latitude must be in range",
            id="api_error_body",
        ),
        pytest.param(
            body(units={"shortwave_radiation": "MJ/m²"}),
            "unexpected unit 'MJ/m²'",
            id="wrong_radiation_unit",
        ),
        pytest.param(
            body(units={"cloud_cover": "okta"}), "unexpected unit 'okta'", id="wrong_cloud_unit"
        ),
        pytest.param(
            body(hourly={"temperature_2m": [1.0]}), "has 1 values for 2 times", id="ragged_arrays"
        ),
        pytest.param(body(hourly={"time": []}), "empty 'hourly.time'", id="no_hours"),
        pytest.param(
            body(hourly={"time": ["yesterday", "today"]}), "unparseable time", id="bad_time"
        ),
        pytest.param(body(hourly={"cloud_cover": ["a", 1]}), "non-numeric value", id="text_value"),
        pytest.param(b"<html>502 Bad Gateway</html>", "HTML page", id="html"),
        pytest.param(body()[:-30], "truncated JSON", id="truncated"),
    ],
)
def test_malformed_responses(data: bytes, reason: str) -> None:
    with pytest.raises(ResponseError) as err:
        parse_weather(data)
    assert reason in err.value.reason


def test_no_known_variable_is_an_error() -> None:
    doc = {
        "latitude": 1,
        "longitude": 2,
        "hourly_units": {"time": "iso8601"},
        "hourly": {"time": ["2024-01-01T00:00"], "rain": [0.0]},
    }
    with pytest.raises(ResponseError, match="none of the weather variables"):
        parse_weather(json.dumps(doc).encode())


def test_requests_and_base_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTLAKE_OPEN_METEO_URL", "http://fc.local")
    monkeypatch.delenv("WATTLAKE_OPEN_METEO_ARCHIVE_URL", raising=False)
    url, params = weather_request("forecast", 51.5, -0.12, date(2024, 6, 1), date(2024, 6, 2))
    assert url == "http://fc.local/v1/forecast"
    assert params["timezone"] == "GMT" and "shortwave_radiation" in str(params["hourly"])
    assert (params["start_date"], params["end_date"]) == ("2024-06-01", "2024-06-02")
    url, _ = weather_request("archive", 51.5, -0.12, date(2024, 6, 1), date(2024, 6, 2))
    assert url == "https://archive-api.open-meteo.com/v1/archive"


@pytest.mark.parametrize(
    ("lat", "lon", "start", "end", "msg"),
    [
        pytest.param(91, 0, date(2024, 1, 1), date(2024, 1, 1), "out of range", id="lat"),
        pytest.param(0, 181, date(2024, 1, 1), date(2024, 1, 1), "out of range", id="lon"),
        pytest.param(0, 0, date(2024, 1, 2), date(2024, 1, 1), "ends before", id="reversed"),
    ],
)
def test_request_rejects_bad_input(
    lat: float, lon: float, start: date, end: date, msg: str
) -> None:
    with pytest.raises(InputError, match=msg):
        weather_request("forecast", lat, lon, start, end)


def test_get_functions_use_the_client() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(f"{request.url.host}{request.url.path}")
        return httpx.Response(200, content=body())

    c = HttpClient(transport=httpx.MockTransport(handler), sleep=lambda s: None)
    d = date(2024, 6, 1)
    assert parse_weather(get_forecast(c, 51.5, -0.12, d, d, "http://f")).num_rows == 2
    assert parse_weather(get_archive(c, 51.5, -0.12, d, d, "http://a")).num_rows == 2
    assert paths == ["f/v1/forecast", "a/v1/archive"]
