"""The simulator's pure part: parsed files in, a schedule of Kafka messages and labels out.

1. `typed_readings`: the raw rows of any reading layout (`wattlake.sources.files` /
   `pipeline.ingest.parse_file`) with the batch path's own text parsers
   (`transforms.parse`) and each meter's cadence (`transforms.vee.cadence`), turned into the
   JSON literals of a `meter_reading` event. A row that cannot be a valid event (its
   timestamp or value does not parse) keeps its raw text, so the event is one that a
   consumer must dead-letter, as a batch run would quarantine the row.
2. `schedule_readings`: when the simulator sends each reading — when its interval is over
   (`ts` + the meter's cadence). Readings stamped after `now` (a clock fault) are sent at
   the end of the replay; rows without a timestamp at the start.
3. `perturb`: labelled perturbations (`Perturbations`), placed at random (seeded) so that
   no reading carries two of them: sensor failures change values (stuck, zero, spike),
   dropouts are not sent, duplicates are sent twice (same event id), out-of-order readings
   are sent just after their successor, late ones `late_by_s` after they were due,
   malformed ones as a broken message (`MALFORMED_KINDS`).
4. `price_messages`, `weather_alert_messages`: day-ahead prices (published at
   `PRICE_PUBLISH_HOUR_UTC` the day before delivery) and weather alerts (episodes of
   consecutive hours beyond `AlertRules`, issued `lead_hours` ahead).
5. `reading_messages` + `merge_messages`: one table of messages sorted by send time
   (`due_s`, epoch seconds on the simulator's clock, which each event carries as
   `sim_clock`).

Times: `due_s` and every `*_s` column are epoch seconds (UTC); `ts` is timestamp[us, UTC].
"""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.lake.spec import UTC_TS
from wattlake.sources.files import ParsedFile
from wattlake.stream.events import (
    json_text,
    json_times,
    reading_heads,
)
from wattlake.transforms.parse import parse_number, parse_timestamp_utc
from wattlake.transforms.vee.cadence import add_cadence
from wattlake.transforms.vee.profile import VeeProfile, get_profile

# A JSON number as RFC 8259 writes it: the file's text is sent as it is when it is one.
JSON_NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
PRICE_PUBLISH_HOUR_UTC = 12  # day-ahead results: about 12:45 CET the day before delivery
MALFORMED_KINDS = ("not_json", "wrong_version", "missing_field", "bad_type", "naive_timestamp")
LABEL_COLUMNS = ("perturbation", "topic", "meter_id", "ts", "event_id", "sim_clock", "detail")
FUTURE_DETAIL = "stamped after the replay's now; sent at the end of the replay"
# The layout fixes the unit of these formats (kWh per interval).
FORMAT_UNITS = {"lcl": "kWh"}


def reading_rows(parsed: list[ParsedFile]) -> pa.Table:
    """The good rows of reading files as one table of raw text: meter_id, timestamp, value,
    unit (the layout's unit when it fixes one), _format, source_file, _row_number."""
    parts = []
    for pf in parsed:
        r = pf.rows
        n = r.num_rows
        if "unit" in r.column_names:
            unit = r["unit"]
        else:
            unit = pa.array([FORMAT_UNITS.get(pf.fmt)] * n, pa.string())
        parts.append(
            pa.table(
                {
                    "meter_id": r["meter_id"],
                    "timestamp": r["timestamp"],
                    "value": r["value"],
                    "unit": unit,
                    "_format": pa.array([pf.fmt] * n, pa.string()),
                    "source_file": pa.array([pf.source_file] * n, pa.string()),
                    "_row_number": r["_row_number"],
                }
            )
        )
    if not parts:
        return pa.table(
            {
                c: pa.array([], pa.int64() if c == "_row_number" else pa.string())
                for c in (
                    "meter_id",
                    "timestamp",
                    "value",
                    "unit",
                    "_format",
                    "source_file",
                    "_row_number",
                )
            }
        )
    return pa.concat_tables(parts)


def typed_readings(rows: pa.Table, profile: VeeProfile | None = None) -> pa.Table:
    """`reading_rows` + `ts` (UTC, NULL when it does not parse), `value_num` (float, NULL
    when empty or not a number), `interval_minutes` (the meter's cadence) and the JSON
    literals `meter_json`, `ts_json`, `value_json`, `unit_json`; sorted by meter, ts, file
    and row. `valid` says whether the row makes a valid event (ts and value parse, or the
    value is empty/`Null`)."""
    profile = profile or get_profile("greenstream")
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    t = ibis.memtable(rows)
    t = t.mutate(ts=parse_timestamp_utc(t.timestamp), value_num=parse_number(t.value))
    t = add_cadence(t, profile)
    t = t.order_by(["meter_id", "ts", "source_file", "_row_number"])
    out = con.to_pyarrow(t)
    con.disconnect()
    ts = pc.assume_timezone(out["ts"], "UTC").cast(UTC_TS)
    out = out.set_column(out.schema.get_field_index("ts"), "ts", ts)

    value_text = pc.utf8_trim_whitespace(out["value"])
    is_number = pc.and_(
        pc.is_valid(out["value_num"]),
        pc.fill_null(pc.match_substring_regex(value_text, JSON_NUMBER), False),
    )
    no_value = pc.or_(
        pc.is_null(value_text),
        pc.is_in(pc.utf8_lower(value_text), pa.array(["", "null"])),
    )
    value_json = pc.case_when(
        pc.make_struct(is_number, pc.is_valid(out["value_num"]), no_value),
        pc.cast(value_text, pa.large_string()),
        pc.cast(pc.cast(out["value_num"], pa.string()), pa.large_string()),
        pa.scalar("null", pa.large_string()),
        json_text(out["value"]),
    )
    ts_json = pc.if_else(pc.is_valid(ts), json_times(ts), json_text(out["timestamp"]))
    valid = pc.and_(
        pc.is_valid(ts),
        pc.and_(pc.is_valid(out["meter_id"]), pc.or_(pc.is_valid(out["value_num"]), no_value)),
    )
    return (
        out.append_column("meter_json", json_text(out["meter_id"]))
        .append_column("ts_json", ts_json)
        .append_column("value_json", value_json)
        .append_column("unit_json", json_text(out["unit"]))
        .append_column("valid", valid)
    )


def event_ids(t: pa.Table) -> pa.Array:
    """Reading event ids: the first 32 hex digits of SHA-256(meter|ts|value|unit JSON
    literals). Same reading → same id (a re-send); a changed value → a new id."""
    con = duckdb.connect()
    con.register("t", t.select(["meter_json", "ts_json", "value_json", "unit_json"]))
    ids = con.execute(
        "SELECT left(sha256(concat_ws('|', meter_json, ts_json, value_json, unit_json)), 32)"
        " AS id FROM t"
    ).to_arrow_table()["id"]
    con.close()
    return ids.combine_chunks()


# ---- 2. schedule ------------------------------------------------------------------------


def epoch_seconds(ts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """UTC timestamps → int64 epoch seconds (NULL → the minimum int64)."""
    secs = pc.cast(pc.cast(ts, pa.timestamp("s", tz="UTC")), pa.int64())
    return pc.fill_null(secs, np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)


def schedule_readings(t: pa.Table, now: dt.datetime) -> tuple[pa.Table, int, int]:
    """Add `due_s` (send time, epoch seconds) and `future` (stamped after `now`) to
    `typed_readings`; also return the replay's first and last due time (module doc)."""
    ts_s = epoch_seconds(t["ts"])
    has_ts = pc.is_valid(t["ts"]).to_numpy(zero_copy_only=False)
    now_s = int(now.timestamp())
    future = has_ts & (ts_s > now_s)
    interval_s = t["interval_minutes"].to_numpy(zero_copy_only=False).astype(np.int64) * 60
    due = np.where(has_ts, ts_s + interval_s, 0)
    regular = has_ts & ~future
    if regular.any():
        start, end = int(due[regular].min()), int(due[regular].max())
    else:
        start = end = now_s
    due = np.where(future, end, due)
    due = np.where(has_ts, due, start)
    t = t.append_column("due_s", pa.array(due, pa.int64()))
    t = t.append_column("future", pa.array(future, pa.bool_()))
    return t, start, end


def head_texts(t: pa.Table) -> pa.Array:
    sim = pa.array(t["due_s"].to_numpy(zero_copy_only=False) * 1_000_000, pa.int64()).cast(UTC_TS)
    return reading_heads(
        json_text(t["event_id"]),
        t["meter_json"],
        t["ts_json"],
        t["value_json"],
        t["unit_json"],
        json_times(sim),
    )
