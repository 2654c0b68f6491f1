"""PVGIS seriescalc: the recorded JSON and CSV, time format, malformed bodies, the request."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from conftest import realdata
from wattlake.errors import InputError
from wattlake.sources.http import ResponseError
from wattlake.sources.pvgis import (
    parse_pvgis,
    parse_pvgis_csv,
    parse_pvgis_json,
    parse_pvgis_time,
    pvgis_request,
    read_pvgis,
)

JSON_FILE = realdata("apis/pvgis_seriescalc_pv_10kWp.json")
CSV_FILE = realdata("apis/pvgis_seriescalc_components.csv")

CSV = (
    "Latitude (decimal degrees):\t45.000\nLongitude (decimal degrees):\t8.000\n"
    "Elevation (m):\t250\n\n\ntime,Gb(i),Gd(i),Gr(i),H_sun,T2m,WS10m,Int\n"
    "20160101:0810,26.71,8.28,0.21,8.06,3.87,1.22,1.0\n"
    "20160101:0910,14.69,5.76,0.16,14.8,4.67,0.95,0.0\n"
    "\nGb(i): Beam (direct) irradiance\n"
)


def test_recorded_json_parses() -> None:
    t = parse_pvgis_json(read_pvgis(JSON_FILE))
    assert t.num_rows == 10
    rows = t.to_pylist()
    assert rows[0]["ts"] == datetime(2013, 1, 1, 0, 10, tzinfo=UTC)
    assert (rows[0]["latitude"], rows[0]["longitude"]) == (45.0, 8.0)
    nine = rows[9]
    assert nine["ts"] == datetime(2013, 1, 1, 9, 10, tzinfo=UTC)
    assert nine["p_w"] == 3950.1
    assert nine["poa_global_w_m2"] == 423.28
    assert nine["temp_air_c"] == 1.89 and nine["wind_speed_m_s"] == 0.69
    assert nine["solar_elevation_deg"] == 14.8
    assert t["poa_direct_w_m2"].null_count == 10  # no components in that response
    assert max(t["p_w"].to_pylist()) <= 10_000  # 10 kWp system


def test_recorded_csv_parses() -> None:
    t = parse_pvgis_csv(read_pvgis(CSV_FILE))
    rows = t.to_pylist()
    assert rows[0]["ts"] == datetime(2016, 1, 1, 0, 10, tzinfo=UTC)
    assert (rows[0]["latitude"], rows[0]["longitude"]) == (45.0, 8.0)
    r = next(x for x in rows if x["ts"] == datetime(2016, 1, 1, 8, 10, tzinfo=UTC))
    assert (r["poa_direct_w_m2"], r["poa_sky_diffuse_w_m2"], r["poa_ground_diffuse_w_m2"]) == (
        26.71,
        8.28,
        0.21,
    )
    assert r["poa_global_w_m2"] == pytest.approx(26.71 + 8.28 + 0.21)
    assert r["reconstructed"] is True
    assert t["p_w"].null_count == t.num_rows  # irradiance-only request
    assert t["ts"].to_pylist() == sorted(t["ts"].to_pylist())
    assert parse_pvgis(CSV_FILE.read_bytes()).equals(t)


def test_components_sum_to_global() -> None:
    t = parse_pvgis_csv(CSV.encode())
    assert t["poa_global_w_m2"].to_pylist() == pytest.approx([35.2, 20.61])
    assert t["reconstructed"].to_pylist() == [True, False]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("20200101:0010", datetime(2020, 1, 1, 0, 10, tzinfo=UTC), id="minutes"),
        pytest.param("20201231:2300", datetime(2020, 12, 31, 23, 0, tzinfo=UTC), id="year_end"),
        pytest.param("20200229:1210", datetime(2020, 2, 29, 12, 10, tzinfo=UTC), id="leap_day"),
    ],
)
def test_parse_time(value: str, expected: datetime) -> None:
    assert parse_pvgis_time(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2020-01-01 00:10", id="iso"),
        pytest.param("20200230:0010", id="no_feb_30"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_time_rejects(value: str) -> None:
    with pytest.raises(ResponseError, match="unparseable time"):
        parse_pvgis_time(value)


def _json(**over: object) -> bytes:
    doc: dict[str, object] = {
        "inputs": {"location": {"latitude": 45.0, "longitude": 8.0}},
        "outputs": {"hourly": [{"time": "20130101:0910", "P": 3950.1, "G(i)": 423.28}]},
    }
    doc.update(over)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(
            json.dumps({"message": "Location over the sea", "status": 400}).encode(),
            "missing 'outputs' (API said: Location over the sea)",
            id="api_error",
        ),
        pytest.param(_json(outputs={"monthly": []}), "missing 'outputs.hourly'", id="not_hourly"),
        pytest.param(_json(outputs={"hourly": []}), "no hourly rows", id="empty_hourly"),
        pytest.param(_json(inputs={}), "inputs.location", id="no_location"),
        pytest.param(
            _json(outputs={"hourly": [{"time": "20130101:0910", "T2m": 1}]}),
            "neither P, G(i) nor Gb(i)",
            id="no_power_or_irradiance",
        ),
        pytest.param(
            _json(outputs={"hourly": [{"time": "x", "P": 1}]}), "unparseable time", id="bad_time"
        ),
        pytest.param(
            _json(outputs={"hourly": [{"time": "20130101:0910", "P": "n/a"}]}),
            "non-numeric P",
            id="bad_number",
        ),
        pytest.param(
            _json(meta={"outputs": {"hourly": {"variables": {"P": {"units": "kW"}}}}}),
            "unexpected unit 'kW' for P",
            id="wrong_unit",
        ),
        pytest.param(b"<html>busy</html>", "HTML page", id="html"),
        pytest.param(_json()[:50], "truncated JSON", id="truncated"),
    ],
)
def test_malformed_json(data: bytes, reason: str) -> None:
    with pytest.raises(ResponseError) as err:
        parse_pvgis_json(data)
    assert reason in err.value.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(CSV.replace("time,", "tijd,"), "no 'time,", id="no_header"),
        pytest.param(CSV.replace("Latitude", "Lat"), "Latitude/Longitude", id="no_latitude"),
        pytest.param(
            CSV.replace(",0.95,0.0\n", ",0.95\n"), "expected 8 fields, got 7", id="truncated_row"
        ),
        pytest.param("", "empty response body", id="empty"),
        pytest.param("<!doctype html>", "HTML page", id="html"),
    ],
)
def test_malformed_csv(text: str, reason: str) -> None:
    with pytest.raises(ResponseError) as err:
        parse_pvgis_csv(text.encode())
    assert reason in err.value.reason


def test_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTLAKE_PVGIS_URL", "http://pvgis.local/api/v5_3/")
    url, params = pvgis_request(45, 8, 2019, 2020, peak_power_kwp=10, tilt_deg=30)
    assert url == "http://pvgis.local/api/v5_3/seriescalc"
    assert params["pvcalculation"] == 1 and params["peakpower"] == 10
    assert params["angle"] == 30 and params["outputformat"] == "json"
    _, params = pvgis_request(45, 8, 2019, 2020, peak_power_kwp=None)
    assert "pvcalculation" not in params


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        pytest.param({"lat": 95}, "out of range", id="lat"),
        pytest.param({"start_year": 2021, "end_year": 2020}, "reversed", id="years"),
        pytest.param({"peak_power_kwp": 0}, "must be > 0", id="zero_kwp"),
        pytest.param({"outputformat": "xml"}, "json or csv", id="format"),
    ],
)
def test_request_rejects(kw: dict, msg: str) -> None:
    args = {"lat": 45.0, "lon": 8.0, "start_year": 2020, "end_year": 2020} | kw
    with pytest.raises(InputError, match=msg):
        pvgis_request(**args)
