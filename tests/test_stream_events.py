"""The stream's event contract: decode never raises, bad input gives a one-line reason, and
the column-wise encoder writes the same events as the pydantic models."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest

from wattlake.stream.events import (
    Invalid,
    MeterReading,
    SpotPrice,
    WeatherAlert,
    decode,
    encode,
    finish,
    json_text,
    json_times,
    reading_heads,
)

UTC = dt.UTC
READING: dict[str, Any] = {
    "schema_version": 1,
    "type": "meter_reading",
    "event_id": "abc123",
    "meter_id": "MAC000002",
    "ts": "2024-03-15T14:00:00Z",
    "value": 1250,
    "unit": "W",
    "sim_clock": "2024-03-15T14:30:00Z",
    "produced_at": "2026-01-01T00:00:00.123Z",
}


def with_(**changes: Any) -> bytes:
    doc = {**READING, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not DROP}).encode()


DROP = object()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "empty message", id="empty"),
        pytest.param(None, "empty message", id="tombstone"),
        pytest.param(b"\xff\xfe{}", "not UTF-8 (byte 0)", id="not_utf8"),
        pytest.param(b'{"schema_version":1,', "not JSON:", id="truncated_json"),
        pytest.param(b"MAC000002,2024-03-15 14:00:00,1.2,kW", "not JSON:", id="csv_line"),
        pytest.param(b"[1, 2]", "expected a JSON object, got array", id="array"),
        pytest.param(b'"text"', "expected a JSON object, got string", id="string"),
        pytest.param(with_(schema_version=DROP), "schema_version: missing", id="no_version"),
        pytest.param(
            with_(schema_version=2),
            "unsupported schema_version 2 (supported: 1)",
            id="future_version",
        ),
        pytest.param(
            with_(schema_version=True),
            "schema_version: expected an integer, got boolean",
            id="version_bool",
        ),
        pytest.param(
            with_(schema_version="1"),
            "schema_version: expected an integer, got string",
            id="version_text",
        ),
        pytest.param(with_(type=DROP), "type: missing", id="no_type"),
        pytest.param(with_(type="reading"), "unknown event type 'reading'", id="unknown_type"),
        pytest.param(with_(ts=DROP), "ts: missing", id="no_ts"),
        pytest.param(with_(meter_id=DROP, ts=DROP), "missing (+1 more)", id="two_missing"),
        pytest.param(
            with_(ts="2024-03-15T14:00:00"), "ts: Input should have timezone info", id="naive_ts"
        ),
        pytest.param(with_(ts=1710511200), "ts: Value error, expected ISO 8601", id="epoch_ts"),
        pytest.param(
            with_(ts="2024-13-15T14:00:00Z"), "ts: Input should be a valid", id="month_13"
        ),
        pytest.param(with_(value="1.25"), "value: Input should be a valid number", id="value_text"),
        pytest.param(with_(value=True), "value: Input should be a valid number", id="value_bool"),
        pytest.param(
            b'{"schema_version":1,"type":"meter_reading","event_id":"a","meter_id":"M",'
            b'"ts":"2024-03-15T14:00:00Z","value":NaN,"unit":"kW",'
            b'"sim_clock":"2024-03-15T14:30:00Z","produced_at":"2024-03-15T14:30:00Z"}',
            "value: Input should be a finite number",
            id="value_nan",
        ),
        pytest.param(with_(value=1e400), "value: Input should be a finite number", id="value_inf"),
        pytest.param(with_(meter_id=""), "meter_id: String should have at least 1", id="empty_id"),
        pytest.param(with_(meter_id=42), "meter_id: Input should be a valid string", id="id_int"),
        pytest.param(with_(unit=5), "unit: Input should be a valid string", id="unit_number"),
        pytest.param(with_(event_id=DROP), "event_id: missing", id="no_event_id"),
        pytest.param(with_(sim_clock="yesterday"), "sim_clock: Input should be", id="bad_clock"),
    ],
)
def test_decode_rejects_with_one_line_reason(data: bytes | None, reason: str) -> None:
    # Arrange / Act
    got = decode(data)
    # Assert
    assert isinstance(got, Invalid), got
    assert got.reason.startswith(reason) or reason in got.reason, got.reason
    assert "\n" not in got.reason and len(got.reason) <= 240


@pytest.mark.parametrize(
    ("data", "check"),
    [
        pytest.param(with_(), lambda e: e.value == 1250.0 and e.unit == "W", id="watts"),
        pytest.param(
            with_(ts="2024-03-15T15:00:00+01:00"),
            lambda e: e.ts == dt.datetime(2024, 3, 15, 14, tzinfo=UTC),
            id="offset_to_utc",
        ),
        pytest.param(with_(value=None), lambda e: e.value is None, id="no_value"),
        pytest.param(with_(unit=None), lambda e: e.unit is None, id="no_unit"),
        pytest.param(with_(unit="MW"), lambda e: e.unit == "MW", id="unknown_unit_kept"),
        pytest.param(with_(value=-0.5), lambda e: e.value == -0.5, id="negative_kept"),
        pytest.param(with_(extra_field=1), lambda e: e.meter_id == "MAC000002", id="extra_field"),
        pytest.param(
            with_(produced_at="2026-01-01T00:00:00.123Z"),
            lambda e: e.produced_at.microsecond == 123000,
            id="millis",
        ),
    ],
)
def test_decode_accepts(data: bytes, check: Any) -> None:
    got = decode(data, "meter_reading")
    assert isinstance(got, MeterReading), got
    assert check(got)
    assert got.ts.tzinfo is not None and got.ts.utcoffset() == dt.timedelta(0)


def test_decode_checks_the_topic_type() -> None:
    got = decode(with_(), "spot_price")
    assert got == Invalid("event type 'meter_reading' on a topic of 'spot_price' events")


NOW = dt.datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            SpotPrice(
                event_id="p1",
                zone="DE-LU",
                ts=dt.datetime(2024, 3, 1, 12, tzinfo=UTC),
                resolution_minutes=60,
                price_eur_per_mwh=-12.5,
                sim_clock=dt.datetime(2024, 2, 29, 12, tzinfo=UTC),
                produced_at=NOW,
            ),
            id="spot_price",
        ),
        pytest.param(
            WeatherAlert(
                event_id="w1",
                kind="heat",
                latitude=51.5,
                longitude=-0.25,
                starts_at=dt.datetime(2024, 7, 1, 12, tzinfo=UTC),
                ends_at=dt.datetime(2024, 7, 1, 15, tzinfo=UTC),
                peak_temperature_c=36.2,
                rule="temperature_c > 35.0",
                sim_clock=dt.datetime(2024, 7, 1, 6, tzinfo=UTC),
                produced_at=NOW,
            ),
            id="weather_alert",
        ),
    ],
)
def test_encode_decode_round_trip(event: Any) -> None:
    assert decode(encode(event)) == event


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param(
            {"resolution_minutes": 45},
            "resolution_minutes: Input should be 15, 30 or 60",
            id="res_45",
        ),
        pytest.param(
            {"resolution_minutes": 60.0},
            "resolution_minutes: Value error, expected an integer",
            id="res_float",
        ),
        pytest.param({"zone": ""}, "zone: String should have at least 1 character", id="no_zone"),
        pytest.param(
            {"price_eur_per_mwh": "12"},
            "price_eur_per_mwh: Input should be a valid number",
            id="price_text",
        ),
    ],
)
def test_spot_price_rejects(changes: dict[str, Any], reason: str) -> None:
    doc = {
        "schema_version": 1,
        "type": "spot_price",
        "event_id": "p",
        "zone": "DE-LU",
        "ts": "2024-03-01T12:00:00Z",
        "resolution_minutes": 60,
        "price_eur_per_mwh": 80.1,
        "sim_clock": "2024-02-29T12:00:00Z",
        "produced_at": "2026-01-01T00:00:00Z",
        **changes,
    }
    got = decode(json.dumps(doc).encode(), "spot_price")
    assert got == Invalid(reason)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param(
            {"ends_at": "2024-07-01T12:00:00Z"},
            "event: Value error, ends_at must be after starts_at",
            id="empty_episode",
        ),
        pytest.param(
            {"latitude": 91.0}, "latitude: Input should be less than or equal to 90", id="lat_91"
        ),
        pytest.param(
            {"kind": "fog"}, "kind: Input should be 'heat', 'cold' or 'wind'", id="kind_fog"
        ),
    ],
)
def test_weather_alert_rejects(changes: dict[str, Any], reason: str) -> None:
    doc = {
        "schema_version": 1,
        "type": "weather_alert",
        "event_id": "w",
        "kind": "heat",
        "latitude": 51.5,
        "longitude": 0.0,
        "starts_at": "2024-07-01T12:00:00Z",
        "ends_at": "2024-07-01T15:00:00Z",
        "peak_temperature_c": 36.0,
        "rule": "temperature_c > 35.0",
        "sim_clock": "2024-07-01T06:00:00Z",
        "produced_at": "2026-01-01T00:00:00Z",
        **changes,
    }
    assert decode(json.dumps(doc).encode(), "weather_alert") == Invalid(reason)


def test_reading_heads_equal_the_pydantic_events() -> None:
    # Arrange: awkward ids (quote, backslash, non-ASCII), null value and unit, signs, exponents
    ids = ["a", 'M"1', "M\\2", "Zähler-3"]
    ts = [dt.datetime(2024, 3, 1, h, tzinfo=UTC) for h in range(4)]
    values = ["1.5", "null", "-0.25", "1e-05"]
    units = ["kW", None, "W", "kWh"]
    sim = [t + dt.timedelta(minutes=30) for t in ts]
    # Act
    heads = reading_heads(
        json_text(pa.array([f"e{i}" for i in range(4)])),
        json_text(pa.array(ids)),
        json_times(pa.array(ts, pa.timestamp("us", tz="UTC"))),
        pa.array(values),
        json_text(pa.array(units)),
        json_times(pa.array(sim, pa.timestamp("us", tz="UTC"))),
    ).to_pylist()
    # Assert
    for i, head in enumerate(heads):
        got = decode(finish(head.encode(), b"2026-01-01T00:00:00.000Z"), "meter_reading")
        want = MeterReading(
            event_id=f"e{i}",
            meter_id=ids[i],
            ts=ts[i],
            value=None if values[i] == "null" else float(values[i]),
            unit=units[i],
            sim_clock=sim[i],
            produced_at=NOW,
        )
        assert got == want


@pytest.mark.parametrize(
    ("column", "want"),
    [
        pytest.param(pa.array(["a", None, "a"]), ['"a"', "null", '"a"'], id="text_null"),
        pytest.param(pa.chunked_array([], pa.string()), [], id="text_empty"),
        pytest.param(
            pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
            ['"2024-01-01T00:00:00Z"', "null"],
            id="time_null",
        ),
        pytest.param(
            pa.chunked_array([], pa.timestamp("us", tz="UTC")), [], id="time_empty_chunked"
        ),
    ],
)
def test_json_literals(column: Any, want: list[str]) -> None:
    fn = json_times if pa.types.is_timestamp(column.type) else json_text
    assert fn(column).to_pylist() == want
