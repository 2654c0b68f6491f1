"""The stream's column-wise decoding agrees with the event contract (`events.decode`)."""

from __future__ import annotations

import datetime as dt
import json
import math

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattlake.stream.decode import decode_readings, fast_fields, messages_table
from wattlake.stream.events import METER_READING, Invalid, MeterReading, decode

GOOD = {
    "schema_version": 1,
    "type": "meter_reading",
    "event_id": "e1",
    "meter_id": "MAC000001",
    "ts": "2024-03-01T00:30:00Z",
    "value": 0.25,
    "unit": "kWh",
    "sim_clock": "2024-03-01T01:00:00Z",
    "produced_at": "2026-01-01T00:00:00.123Z",
}


def _msg(**changes: object) -> bytes:
    doc = dict(GOOD)
    for k, v in changes.items():
        if v is _DROP:
            doc.pop(k)
        else:
            doc[k] = v
    return json.dumps(doc).encode()


_DROP = object()


def _decode_one(value: bytes | None) -> tuple[pa.Table, pa.Table]:
    d = decode_readings(messages_table([0], [7], [b"k"], [value]))
    return d.readings, d.invalid


def _agree(value: bytes | None) -> None:
    """The micro-batch decoder gives what `events.decode` gives, row for row."""
    readings, invalid = _decode_one(value)
    want = decode(value, METER_READING)
    if isinstance(want, Invalid):
        assert readings.num_rows == 0
        assert invalid["reason"].to_pylist() == [want.reason]
        assert invalid["offset"].to_pylist() == [7]
        return
    assert isinstance(want, MeterReading)
    assert invalid.num_rows == 0
    (r,) = readings.to_pylist()
    assert r["meter_id"] == want.meter_id
    assert r["event_id"] == want.event_id
    assert r["unit"] == want.unit
    assert r["sim_clock"] == want.sim_clock
    assert r["produced_at"] == want.produced_at
    assert r["timestamp"] == json.loads(value)["ts"]  # type: ignore[arg-type]
    if want.value is None:
        assert r["value"] is None
    else:
        assert float(r["value"]) == want.value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(_msg(), id="valid"),
        pytest.param(_msg(value=None), id="null_value"),
        pytest.param(_msg(value=_DROP), id="missing_value"),
        pytest.param(_msg(unit=None), id="null_unit"),
        pytest.param(_msg(unit=_DROP), id="missing_unit"),
        pytest.param(_msg(value=3), id="integer_value"),
        pytest.param(_msg(value=True), id="boolean_value"),
        pytest.param(_msg(value="0.25"), id="text_value"),
        pytest.param(_msg(value=10**400), id="integer_beyond_float"),
        pytest.param(_msg(schema_version=1.0), id="version_float"),
        pytest.param(_msg(schema_version=True), id="version_boolean"),
        pytest.param(_msg(schema_version=2), id="version_unsupported"),
        pytest.param(_msg(type="spot_price"), id="other_type"),
        pytest.param(_msg(ts="2024-03-01T00:30:00"), id="naive_time"),
        pytest.param(_msg(ts="2024-03-01T00:30:00+01:00"), id="offset_time"),
        pytest.param(_msg(ts="2024-03-01 00:30:00Z"), id="space_separator"),
        pytest.param(_msg(ts="2024-02-30T00:30:00Z"), id="impossible_date"),
        pytest.param(_msg(ts="2024-03-01T24:00:00Z"), id="hour_24"),
        pytest.param(_msg(ts="1850-03-01T00:30:00Z"), id="old_year"),
        pytest.param(_msg(ts="2024-03-01T00:30:00.1234567Z"), id="seven_fraction_digits"),
        pytest.param(_msg(ts=1709253000), id="number_time"),
        pytest.param(_msg(meter_id=""), id="empty_meter"),
        pytest.param(_msg(meter_id="m" * 65), id="long_meter"),
        pytest.param(_msg(meter_id="Zähler-1"), id="unicode_meter"),
        pytest.param(_msg(unit="k" * 17), id="long_unit"),
        pytest.param(_msg(event_id="x" * 129), id="long_event_id"),
        pytest.param(_msg(extra={"a": [1]}), id="extra_field"),
        pytest.param(b'{"schema_version":1,"schema_version":2}', id="duplicate_keys"),
        pytest.param(
            _msg().replace(b'"value": 0.25', b'"value": 0.25, "value": "x"'),
            id="duplicate_value_key",
        ),
        pytest.param(_msg().replace(b"0.25", b"NaN"), id="nan"),
        pytest.param(_msg().replace(b"0.25", b"Infinity"), id="infinity"),
        pytest.param(b"  " + _msg() + b"\n", id="surrounding_whitespace"),
        pytest.param(_msg() + b"x", id="trailing_garbage"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b"", id="empty"),
        pytest.param(None, id="null_message"),
        pytest.param(b"\xff\xfe{}", id="not_utf8"),
        pytest.param(_msg()[:40], id="truncated"),
    ],
)
def test_decode_agrees_with_the_contract(value: bytes | None) -> None:
    _agree(value)


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=70
)
_time_text = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1890, 1, 1),
        max_value=dt.datetime(2210, 1, 1),
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-5))]),
    ).map(lambda t: t.isoformat().replace("+00:00", "Z")),
    st.datetimes().map(lambda t: t.isoformat()),
    _text,
)
_number = st.one_of(
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    _text,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    version=st.sampled_from([1, 1, 1, 2, 1.0, "1", None]),
    kind=st.sampled_from(["meter_reading", "meter_reading", "spot_price", 5]),
    event_id=st.one_of(_text, st.integers()),
    meter=st.one_of(_text, st.none()),
    ts=_time_text,
    value=_number,
    unit=st.one_of(st.none(), _text, st.integers()),
    sim_clock=_time_text,
    drop=st.sets(st.sampled_from(["value", "unit", "ts", "event_id", "sim_clock"]), max_size=2),
)
def test_generated_messages_decode_as_the_contract_says(
    version: object,
    kind: object,
    event_id: object,
    meter: object,
    ts: object,
    value: object,
    unit: object,
    sim_clock: object,
    drop: set[str],
) -> None:
    doc = {
        "schema_version": version,
        "type": kind,
        "event_id": event_id,
        "meter_id": meter,
        "ts": ts,
        "value": value,
        "unit": unit,
        "sim_clock": sim_clock,
        "produced_at": "2026-01-01T00:00:00.5Z",
    }
    for k in drop:
        doc.pop(k)
    _agree(json.dumps(doc).encode())


def test_fast_path_takes_the_simulators_messages() -> None:
    """The messages the simulator sends never need the slow path."""
    from wattlake.stream.events import MeterReading as M
    from wattlake.stream.events import encode

    ev = M(
        event_id="a" * 32,
        meter_id="MAC000002",
        ts=dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
        value=1.5,
        unit="kW",
        sim_clock=dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC),
        produced_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    value = encode(ev)
    assert fast_fields(value.decode(), {}) is not None
    d = decode_readings(messages_table([0, 0], [1, 2], [None, None], [value, value]))
    assert d.slow == 0 and d.readings.num_rows == 2
    assert d.readings["value"].to_pylist() == ["1.5", "1.5"]
    assert d.readings["timestamp"].to_pylist() == ["2024-03-01T00:00:00Z"] * 2


def test_value_text_is_the_same_on_both_paths() -> None:
    """The bronze text of a value (and so the record id) does not depend on the path."""
    fast = _msg(value=1000)
    slow = b" " + fast  # leading space: only `events.decode` takes it
    d = decode_readings(messages_table([0, 0], [1, 2], [None, None], [fast, slow]))
    assert d.slow == 1
    assert d.readings["value"].to_pylist() == ["1000", "1000"]
    assert not math.isnan(float(d.readings["value"][0].as_py()))
