"""The event contract of wattlake's Kafka topics: versioned JSON events, decoded without raising.

Every event is one JSON object (UTF-8) with these common fields:

- `schema_version` (int): `SCHEMA_VERSION`; a consumer rejects versions it does not know.
- `type`: `meter_reading` | `spot_price` | `weather_alert` (one type per topic, `TOPIC_TYPES`).
- `event_id` (text): the producer's id of the event. The same id means the same event sent
  again (a re-send; consumers de-duplicate on it); a corrected reading has a new id.
- `sim_clock` (UTC): the producer's clock when it sent the event. A live meter sends its
  wall-clock time; the simulator sends its replayed time, so a consumer judges "within
  ±1 h of arrival" on the simulator's clock in a replay.
- `produced_at` (UTC): the wall-clock time the event was produced (for latency).

Per type:

- `meter_reading` (topic `energy-meters`, key = `meter_id`): `meter_id`, `ts` (UTC, start of
  the interval), `value` (number or null: no value reported), `unit` (as in the meter-csv
  layout: `W`, `watts`, `kW` (average power over the interval), `kWh`, `Wh` (energy in the
  interval), or null; any other text is kept for the VEE unit rules to judge).
- `spot_price` (topic `spot-prices`, key = `zone`): `zone` (bidding zone), `ts` (UTC, start of
  the delivery interval), `resolution_minutes` (15, 30 or 60), `price_eur_per_mwh` (EUR per
  MWh, as the exchange quotes it; null: no price).
- `weather_alert` (topic `weather-alerts`, key = `kind|latitude|longitude`): `kind`
  (`heat`, `cold`, `wind`), `latitude`/`longitude` (degrees), `starts_at`/`ends_at` (UTC,
  the alert covers [starts_at, ends_at)), `peak_temperature_c` (°C) or
  `peak_wind_speed_m_s` (m/s, 10 m), `rule` (the condition, e.g. `temperature_c > 35.0`).

Times are ISO 8601 text with a UTC offset (`Z` or `+01:00`; converted to UTC); a time
without an offset, a number, or a non-finite value is invalid. Unknown extra fields are
ignored (a producer may add fields within a version). `decode` never raises: bad input gives
`Invalid` with a one-line reason.

The simulator builds millions of reading events at once: `json_text`, `json_times` and
`reading_heads` build their JSON text column-wise (pyarrow), ending with the opening quote of
`produced_at`, which `finish` fills in at send time. `tests/test_stream_events.py` checks
that they decode to the same events as the pydantic models.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)

from wattlake.sources.smart_meter_etl import json_type

SCHEMA_VERSION: Final = 1
SUPPORTED_VERSIONS = (1,)
MAX_REASON_CHARS = 240

METER_READING: Final = "meter_reading"
SPOT_PRICE: Final = "spot_price"
WEATHER_ALERT: Final = "weather_alert"


def _iso_text(v: Any) -> Any:
    # JSON gives text; Python callers may pass an aware datetime. Numbers are refused.
    if not isinstance(v, str | dt.datetime):
        raise ValueError("expected ISO 8601 text with a UTC offset")
    return v


def _integer(v: Any) -> Any:
    if type(v) is not int:
        raise ValueError("expected an integer")
    return v


def _to_utc(v: dt.datetime) -> dt.datetime:
    return v.astimezone(dt.UTC)


UtcTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_to_utc)]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Text = Annotated[str, Strict(), Field(min_length=1, max_length=128)]


class EventBase(BaseModel):
    """Fields every event has (module doc)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: Text
    sim_clock: UtcTime
    produced_at: UtcTime


class MeterReading(EventBase):
    """One interval reading of one meter (topic `energy-meters`)."""

    type: Literal["meter_reading"] = METER_READING
    meter_id: Annotated[str, Strict(), Field(min_length=1, max_length=64)]
    ts: UtcTime
    value: Number | None
    unit: Annotated[str, Strict(), Field(max_length=16)] | None


class SpotPrice(EventBase):
    """A day-ahead price of one delivery interval (topic `spot-prices`), EUR per MWh."""

    type: Literal["spot_price"] = SPOT_PRICE
    zone: Annotated[str, Strict(), Field(min_length=1, max_length=32)]
    ts: UtcTime
    resolution_minutes: Annotated[Literal[15, 30, 60], BeforeValidator(_integer)]
    price_eur_per_mwh: Number | None


class WeatherAlert(EventBase):
    """An extreme-weather episode at one weather grid point (topic `weather-alerts`)."""

    type: Literal["weather_alert"] = WEATHER_ALERT
    kind: Literal["heat", "cold", "wind"]
    latitude: Annotated[float, Strict(), Field(ge=-90.0, le=90.0)]
    longitude: Annotated[float, Strict(), Field(ge=-180.0, le=180.0)]
    starts_at: UtcTime
    ends_at: UtcTime
    peak_temperature_c: Number | None = None
    peak_wind_speed_m_s: Number | None = None
    rule: Annotated[str, Strict(), Field(max_length=128)]

    @model_validator(mode="after")
    def _ends_after_start(self) -> WeatherAlert:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


Event = MeterReading | SpotPrice | WeatherAlert
MODELS: dict[str, type[EventBase]] = {
    METER_READING: MeterReading,
    SPOT_PRICE: SpotPrice,
    WEATHER_ALERT: WeatherAlert,
}


@dataclass(frozen=True)
class Invalid:
    """An event that failed validation: `reason` is one line (for the dead-letter topic)."""

    reason: str


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"


def _validation_reason(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "event"
    msg = first.get("msg", "invalid")
    if first.get("type") == "missing":
        msg = "missing"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {msg}{more}"


def decode(data: bytes | None, expected_type: str | None = None) -> Event | Invalid:
    """Pure: a message value → the event, or `Invalid(reason)`; never raises.

    `expected_type`: the type the topic carries (`TOPIC_TYPES`); another type is invalid.
    """
    if data is None or len(data) == 0:
        return Invalid("empty message")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        return Invalid(f"not UTF-8 (byte {exc.start})")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Invalid(_one_line(f"not JSON: {exc}"))
    if not isinstance(doc, dict):
        return Invalid(f"expected a JSON object, got {json_type(doc)}")
    if "schema_version" not in doc:
        return Invalid("schema_version: missing")
    version = doc["schema_version"]
    if type(version) is not int:
        return Invalid(f"schema_version: expected an integer, got {json_type(version)}")
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_VERSIONS))
        return Invalid(f"unsupported schema_version {version} (supported: {supported})")
    kind = doc.get("type")
    if kind is None:
        return Invalid("type: missing")
    model = MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return Invalid(_one_line(f"unknown event type {kind!r} (known: {', '.join(MODELS)})"))
    if expected_type is not None and kind != expected_type:
        return Invalid(f"event type {kind!r} on a topic of {expected_type!r} events")
    try:
        return model.model_validate(doc)  # type: ignore[return-value]
    except ValidationError as exc:
        return Invalid(_one_line(_validation_reason(exc)))
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a year out of range
        return Invalid(_one_line(f"{type(exc).__name__}: {exc}"))


# ---- encoding -------------------------------------------------------------------------

PRODUCED_AT_HEAD = ',"produced_at":"'
_TAIL = b'"}'


def utc_text(t: dt.datetime) -> str:
    """`2024-03-01T00:30:00Z` (whole seconds; a naive time is taken as UTC)."""
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def head_of(event: EventBase) -> bytes:
    """The event's JSON up to the opening quote of `produced_at` (filled by `finish`)."""
    body = event.model_dump_json(exclude={"produced_at"})
    return (body[:-1] + PRODUCED_AT_HEAD).encode("utf-8")


def finish(head: bytes, produced_at: bytes) -> bytes:
    """A complete message value: `head` + the `produced_at` text (`utc_text`, as bytes)."""
    return head + produced_at + _TAIL


def encode(event: EventBase) -> bytes:
    """The message value of one event (the pydantic JSON, `produced_at` as `utc_text`)."""
    return finish(head_of(event), utc_text(event.produced_at).encode())


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _one_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def json_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """JSON string literals (`"MAC001"`, escaped; null → `null`) of a string column, each
    distinct value encoded once."""
    enc = pc.dictionary_encode(_one_chunk(values))
    words = pa.array([json.dumps(v) for v in enc.dictionary.to_pylist()], pa.large_string())
    out = words.take(enc.indices)
    return pc.fill_null(out, _lit("null"))


def json_times(times: pa.Array | pa.ChunkedArray) -> pa.Array:
    """JSON string literals `"2024-03-01T00:30:00Z"` of a UTC timestamp column (whole
    seconds; null → `null`)."""
    enc = pc.dictionary_encode(pc.cast(_one_chunk(times), pa.timestamp("s", tz="UTC")))
    # Meter data has few distinct times (one per interval): format each once.
    text = pc.strftime(enc.dictionary, "%Y-%m-%dT%H:%M:%SZ")
    words = pc.binary_join_element_wise(
        _lit('"'), pc.cast(text, pa.large_string()), _lit('"'), _lit("")
    )
    return pc.fill_null(words.take(enc.indices), _lit("null"))


def reading_heads(
    event_id: pa.Array,
    meter_id: pa.Array,
    ts: pa.Array,
    value: pa.Array,
    unit: pa.Array,
    sim_clock: pa.Array,
) -> pa.Array:
    """`meter_reading` heads (module doc), column-wise. Every argument is a column of JSON
    literals (`json_text`, `json_times`, or number text for `value`); a literal of the wrong
    JSON type gives an event that `decode` rejects, as the consumer must."""
    parts = [
        f'{{"schema_version":{SCHEMA_VERSION},"type":"{METER_READING}","event_id":',
        event_id,
        ',"meter_id":',
        meter_id,
        ',"ts":',
        ts,
        ',"value":',
        value,
        ',"unit":',
        unit,
        ',"sim_clock":',
        sim_clock,
        PRODUCED_AT_HEAD,
    ]
    cols = [_lit(p) if isinstance(p, str) else pc.cast(p, pa.large_string()) for p in parts]
    return pc.binary_join_element_wise(*cols, _lit(""))


__all__ = [
    "MODELS",
    "SCHEMA_VERSION",
    "Event",
    "EventBase",
    "Invalid",
    "MeterReading",
    "SpotPrice",
    "WeatherAlert",
    "decode",
    "encode",
    "finish",
    "head_of",
    "json_text",
    "json_times",
    "reading_heads",
    "utc_text",
]
