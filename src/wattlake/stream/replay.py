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
import json
from dataclasses import dataclass, fields

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from wattlake.lake.tables import UTC_TS
from wattlake.sources.files import ParsedFile
from wattlake.stream.events import (
    Invalid,
    SpotPrice,
    WeatherAlert,
    decode,
    finish,
    head_of,
    json_text,
    json_times,
    reading_heads,
    utc_text,
)
from wattlake.stream.topics import ENERGY_METERS, SPOT_PRICES, WEATHER_ALERTS
from wattlake.transforms.enrich import EXTREME_COLD_C, EXTREME_HOT_C
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


@dataclass(frozen=True)
class Perturbations:
    """How many of each perturbation to inject (counts; runs for stuck, zero and dropouts)
    and their shape: run lengths in readings, the spike factor, lateness in seconds."""

    stuck: int = 0
    zero: int = 0
    spikes: int = 0
    dropouts: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    late: int = 0
    malformed: int = 0
    stuck_readings: int = 48  # 24 h at 30 min: the VEE stuck-meter rule's minimum
    zero_readings: int = 96  # 48 h at 30 min: the VEE zero-run rule's minimum
    dropout_readings: int = 4
    spike_factor: float = 10.0
    late_by_s: int = 3 * 3600  # beyond the live ±1 h timestamp sanity window
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "spike_factor":
                if not (isinstance(v, int | float) and v > 1):
                    raise ValueError(f"spike_factor must be > 1, got {v!r}")
            elif isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{f.name} must be a non-negative integer, got {v!r}")
        for name in ("stuck_readings", "zero_readings", "dropout_readings", "late_by_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    @property
    def any(self) -> bool:
        return any(
            getattr(self, n)
            for n in (
                "stuck",
                "zero",
                "spikes",
                "dropouts",
                "duplicates",
                "out_of_order",
                "late",
                "malformed",
            )
        )


class AlertRules(BaseModel):
    """When an hour of weather is extreme (the enrich step's extreme-weather thresholds and
    Beaufort 7 wind) and how far ahead an alert is issued."""

    heat_above_c: float = EXTREME_HOT_C
    cold_below_c: float = EXTREME_COLD_C
    wind_above_m_s: float = Field(13.9, gt=0)  # Beaufort 7 ("near gale") from 13.9 m/s
    lead_hours: float = Field(6.0, ge=0)


# ---- 1. readings ------------------------------------------------------------------------


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


# ---- 3. perturbations -------------------------------------------------------------------


def _format_number(v: float) -> str:
    """A float as JSON number text (shortest round-trip repr, at most 6 decimals)."""
    x = round(float(v), 6)
    return repr(x) if x != int(x) or abs(x) >= 1e16 else str(int(x))


class _Placer:
    """Random, non-overlapping placement of perturbations on readings sorted by meter/ts."""

    def __init__(self, meter_code: np.ndarray, ok: np.ndarray, rng: np.random.Generator):
        self.meter, self.ok, self.rng = meter_code, ok, rng
        self.taken = np.zeros(len(ok), dtype=bool)
        self.candidates = np.flatnonzero(ok)

    def _same_meter(self, i: int, j: int) -> bool:
        return (
            0 <= i < len(self.meter)
            and 0 <= j < len(self.meter)
            and (self.meter[i] == self.meter[j])
        )

    def run(self, length: int, need_prev: bool = False, extra_ok: np.ndarray | None = None):
        """First row of a free run of `length` readings of one meter (+ a free margin
        reading on each side; `need_prev`: the reading before must be usable), or None."""
        if len(self.candidates) == 0:
            return None
        for _ in range(400):
            j = int(self.rng.choice(self.candidates))
            end = j + length - 1
            if not self._same_meter(j, end):
                continue
            block = slice(j, end + 1)
            if not (self.ok[block].all() and not self.taken[block].any()):
                continue
            if extra_ok is not None and not extra_ok[block].all():
                continue
            if need_prev and not (self._same_meter(j - 1, j) and self.ok[j - 1]):
                continue
            lo = j - 1 if self._same_meter(j - 1, j) else j
            hi = end + 1 if self._same_meter(end + 1, end) else end
            if self.taken[lo : hi + 1].any():
                continue
            self.taken[lo : hi + 1] = True
            return j
        return None


def perturb(t: pa.Table, p: Perturbations) -> tuple[pa.Table, list[dict[str, object]]]:
    """Apply `p` to scheduled readings (`schedule_readings`); return the readings to send
    (with `event_id`, `corrupt` = malformed kind or NULL) and one label per affected reading.

    Label fields (`LABEL_COLUMNS`): perturbation, topic, meter_id, ts (ISO UTC), event_id
    (of the event sent; for a dropout the one it would have had), sim_clock (when it was
    sent or due), detail.
    """
    n = t.num_rows
    rng = np.random.default_rng(p.seed)
    meter_code = (
        pc.dictionary_encode(t["meter_id"]).combine_chunks().indices.to_numpy(zero_copy_only=False)
    )
    value = t["value_num"].to_numpy(zero_copy_only=False).astype(np.float64)
    ok = (
        t["valid"].to_numpy(zero_copy_only=False)
        & ~t["future"].to_numpy(zero_copy_only=False)
        & ~np.isnan(value)
    )
    place = _Placer(meter_code, ok, rng)
    changes_values = p.stuck or p.zero or p.spikes
    value_json = t["value_json"].to_pylist() if changes_values else []
    due = t["due_s"].to_numpy(zero_copy_only=False).copy()
    interval_s = t["interval_minutes"].to_numpy(zero_copy_only=False).astype(np.int64) * 60
    kind: list[str | None] = [None] * n  # perturbation of each row
    detail: list[str] = [""] * n
    drop = np.zeros(n, dtype=bool)
    corrupt: list[str | None] = [None] * n
    dup_rows: list[int] = []

    for _ in range(p.stuck):
        j = place.run(p.stuck_readings, need_prev=True)
        if j is None:
            break
        for i in range(j, j + p.stuck_readings):
            value_json[i] = value_json[j - 1]
            kind[i], detail[i] = (
                "stuck",
                f"value repeated from the reading before ({value_json[j - 1]})",
            )
    for _ in range(p.zero):
        j = place.run(p.zero_readings)
        if j is None:
            break
        for i in range(j, j + p.zero_readings):
            kind[i], detail[i] = "zero", f"value {value_json[i]} sent as 0"
            value_json[i] = "0"
    for _ in range(p.dropouts):
        j = place.run(p.dropout_readings)
        if j is None:
            break
        for i in range(j, j + p.dropout_readings):
            kind[i], detail[i], drop[i] = "dropout", "not sent", True
    positive = value > 0
    for _ in range(p.spikes):
        j = place.run(1, extra_ok=positive)
        if j is None:
            break
        spiked = _format_number(value[j] * p.spike_factor)
        kind[j], detail[j] = (
            "spike",
            f"value {value_json[j]} sent as {spiked} (x{p.spike_factor:g})",
        )
        value_json[j] = spiked
    for _ in range(p.duplicates):
        j = place.run(1)
        if j is None:
            break
        kind[j], detail[j] = "duplicate", "sent twice (same event id), one interval apart"
        dup_rows.append(j)
    for _ in range(p.out_of_order):
        j = place.run(2)
        if j is None:
            break
        due[j] = due[j + 1] + 1
        kind[j], detail[j] = "out_of_order", "sent 1 s after the meter's next reading"
    for _ in range(p.late):
        j = place.run(1)
        if j is None:
            break
        due[j] = due[j] + p.late_by_s
        kind[j], detail[j] = "late", f"sent {p.late_by_s} s after it was due"
    for k in range(p.malformed):
        j = place.run(1)
        if j is None:
            break
        corrupt[j] = MALFORMED_KINDS[k % len(MALFORMED_KINDS)]
        kind[j], detail[j] = "malformed", corrupt[j]  # type: ignore[assignment]

    out = t
    if changes_values:
        out = t.set_column(
            t.schema.get_field_index("value_json"),
            "value_json",
            pa.array(value_json, pa.large_string()),
        )
    ids = event_ids(out)
    out = out.set_column(out.schema.get_field_index("due_s"), "due_s", pa.array(due, pa.int64()))
    out = out.append_column("event_id", ids).append_column(
        "corrupt", pa.array(corrupt, pa.string())
    )
    labels = _labels(out, kind, detail)
    for j in dup_rows:  # the re-send's label
        copy = out.slice(j, 1)
        resend = copy.set_column(
            copy.schema.get_field_index("due_s"),
            "due_s",
            pa.array([int(due[j] + interval_s[j])], pa.int64()),
        )
        out = pa.concat_tables([out, resend])
        labels += _labels(resend, ["duplicate"], ["the re-send"])
    keep = np.concatenate([~drop, np.ones(out.num_rows - n, dtype=bool)])
    return out.filter(pa.array(keep)), labels


def _labels(t: pa.Table, kind: list[str | None], detail: list[str]) -> list[dict[str, object]]:
    rows = [i for i, k in enumerate(kind) if k is not None]
    if not rows:
        return []
    sub = t.take(pa.array(rows, pa.int64()))
    ts = sub["ts"].to_pylist()
    return [
        {
            "perturbation": kind[i],
            "topic": ENERGY_METERS,
            "meter_id": m,
            "ts": utc_text(s) if s is not None else "",
            "event_id": e,
            "sim_clock": utc_text(dt.datetime.fromtimestamp(d, dt.UTC)),
            "detail": detail[i],
        }
        for i, m, s, e, d in zip(
            rows,
            sub["meter_id"].to_pylist(),
            ts,
            sub["event_id"].to_pylist(),
            sub["due_s"].to_pylist(),
            strict=True,
        )
    ]


def source_labels(t: pa.Table) -> list[dict[str, object]]:
    """Labels of readings that are not a valid event as the source wrote them
    (`source_invalid`, with the reason `decode` gives) or that are stamped after the
    replay's now (`future`)."""
    out: list[dict[str, object]] = []
    bad = pc.or_(pc.invert(t["valid"]), t["future"])
    sub = t.filter(bad)
    if sub.num_rows == 0:
        return out
    heads = [h.encode() for h in _head_texts(sub).to_pylist()]
    for r, head in zip(sub.to_pylist(), heads, strict=True):
        if not r["valid"]:
            res = decode(finish(head, b"1970-01-01T00:00:00Z"))
            label, det = "source_invalid", res.reason if isinstance(res, Invalid) else "valid"
        else:
            label, det = "future", FUTURE_DETAIL
        out.append(
            {
                "perturbation": label,
                "topic": ENERGY_METERS,
                "meter_id": r["meter_id"],
                "ts": utc_text(r["ts"]) if r["ts"] is not None else r["timestamp"],
                "event_id": r["event_id"],
                "sim_clock": utc_text(dt.datetime.fromtimestamp(r["due_s"], dt.UTC)),
                "detail": f"{r['source_file']}:{r['_row_number']}: {det}",
            }
        )
    return out


# ---- 4. prices and weather alerts -------------------------------------------------------


def _clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


def price_messages(
    prices: pa.Table, start_s: int, end_s: int, produced_at: dt.datetime
) -> list[tuple[int, str, bytes | None, bytes]]:
    """(due_s, topic, key, head) of one `spot_price` event per row of a price table
    (`sources.energy_charts.PRICE_SCHEMA`), published at `PRICE_PUBLISH_HOUR_UTC` on the
    day before delivery, clamped to the replay's [start_s, end_s]."""
    out = []
    for r in prices.to_pylist():
        ts: dt.datetime = r["ts"]
        day_before = dt.datetime.combine(ts.date(), dt.time(), dt.UTC) - dt.timedelta(days=1)
        due = _clamp(
            int((day_before + dt.timedelta(hours=PRICE_PUBLISH_HOUR_UTC)).timestamp()),
            start_s,
            end_s,
        )
        price = r["price_eur_per_mwh"]
        ev = SpotPrice(
            event_id=_short_id(f"{r['zone']}|{utc_text(ts)}|{price}"),
            zone=r["zone"],
            ts=ts,
            resolution_minutes=int(r["resolution_minutes"]),
            price_eur_per_mwh=price,
            sim_clock=dt.datetime.fromtimestamp(due, dt.UTC),
            produced_at=produced_at,
        )
        out.append((due, SPOT_PRICES, r["zone"].encode(), head_of(ev)))
    return out


def weather_alerts(weather: pa.Table, rules: AlertRules) -> list[dict[str, object]]:
    """Extreme-weather episodes in an hourly weather table (`sources.open_meteo`
    layout): per grid point and kind, consecutive hours beyond the rule form one alert
    covering [first hour, last hour + 1 h), with the peak value. Sorted by start."""
    if weather.num_rows == 0:
        return []
    df = (
        weather.select(["latitude", "longitude", "ts", "temperature_c", "wind_speed_m_s"])
        .to_pandas()
        .drop_duplicates(["latitude", "longitude", "ts"], keep="last")
        .sort_values(["latitude", "longitude", "ts"])
    )
    kinds = {
        "heat": ("temperature_c", lambda s: s > rules.heat_above_c, "max", rules.heat_above_c),
        "cold": ("temperature_c", lambda s: s < rules.cold_below_c, "min", rules.cold_below_c),
        "wind": ("wind_speed_m_s", lambda s: s > rules.wind_above_m_s, "max", rules.wind_above_m_s),
    }
    ops = {"heat": ">", "cold": "<", "wind": ">"}
    out: list[dict[str, object]] = []
    hour = np.timedelta64(3600, "s")
    for (lat, lon), g in df.groupby(["latitude", "longitude"], sort=True):
        times = g["ts"].to_numpy()
        for kind, (col, test, peak, threshold) in kinds.items():
            hit = test(g[col]).fillna(False).to_numpy()
            # A new episode starts at a hit whose previous hour is not a hit.
            prev_hit = np.concatenate([[False], hit[:-1]])
            contiguous = np.concatenate([[False], (times[1:] - times[:-1]) == hour])
            starts = hit & ~(prev_hit & contiguous)
            episode = np.cumsum(starts)
            values = g[col].to_numpy()
            for e in np.unique(episode[hit]):
                sel = hit & (episode == e)
                first, last = g["ts"].iloc[np.flatnonzero(sel)[[0, -1]]]
                v = values[sel]
                out.append(
                    {
                        "kind": kind,
                        "latitude": float(lat),
                        "longitude": float(lon),
                        "starts_at": first.to_pydatetime(),
                        "ends_at": (last + dt.timedelta(hours=1)).to_pydatetime(),
                        f"peak_{col}": float(v.max() if peak == "max" else v.min()),
                        "rule": f"{col} {ops[kind]} {threshold}",
                    }
                )
    out.sort(key=lambda a: (a["starts_at"], a["kind"], a["latitude"], a["longitude"]))  # type: ignore[arg-type,return-value]
    return out


def weather_alert_messages(
    alerts: list[dict[str, object]],
    rules: AlertRules,
    start_s: int,
    end_s: int,
    produced_at: dt.datetime,
) -> list[tuple[int, str, bytes | None, bytes]]:
    """(due_s, topic, key, head) of one `weather_alert` event per episode, issued
    `rules.lead_hours` before it starts, clamped to the replay's [start_s, end_s]."""
    out = []
    for a in alerts:
        starts: dt.datetime = a["starts_at"]  # type: ignore[assignment]
        due = _clamp(int(starts.timestamp() - rules.lead_hours * 3600), start_s, end_s)
        key = f"{a['kind']}|{a['latitude']}|{a['longitude']}"
        ev = WeatherAlert(
            event_id=_short_id(f"{key}|{utc_text(starts)}"),
            sim_clock=dt.datetime.fromtimestamp(due, dt.UTC),
            produced_at=produced_at,
            **a,  # type: ignore[arg-type]
        )
        out.append((due, WEATHER_ALERTS, key.encode(), head_of(ev)))
    return out


def _short_id(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:32]


# ---- 5. messages ------------------------------------------------------------------------

MESSAGE_SCHEMA = pa.schema(
    [
        ("due_s", pa.int64()),
        ("topic", pa.string()),
        ("key", pa.binary()),
        ("head", pa.large_binary()),
        ("complete", pa.bool_()),
    ]
)


def corrupt_message(head: bytes, kind: str, produced_at: bytes) -> bytes:
    """A complete, broken message made from a reading's head (`MALFORMED_KINDS`)."""
    full = finish(head, produced_at)
    if kind == "not_json":
        return full[: max(1, len(full) // 2)]
    doc = json.loads(full)
    if kind == "wrong_version":
        doc["schema_version"] = 99
    elif kind == "missing_field":
        del doc["ts"]
    elif kind == "bad_type":
        doc["value"] = "" if doc["value"] is None else str(doc["value"])
    elif kind == "naive_timestamp":
        doc["ts"] = str(doc["ts"]).rstrip("Z")
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return json.dumps(doc, separators=(",", ":")).encode()


def reading_messages(t: pa.Table, produced_at: bytes) -> tuple[pa.Table, dict[str, str]]:
    """Messages (`MESSAGE_SCHEMA`) of `perturb`'s readings: key = meter id, head ending at
    `produced_at`'s opening quote; malformed ones complete (`corrupt_message`). Also the
    consumer's reason for each malformed one, by event id."""
    heads = pc.cast(_head_texts(t), pa.large_binary())
    complete = pc.is_valid(t["corrupt"])
    reasons: dict[str, str] = {}
    if pc.any(complete).as_py():
        hl = heads.to_pylist()
        ids = t["event_id"].to_pylist()
        for i, kind in enumerate(t["corrupt"].to_pylist()):
            if kind is not None:
                hl[i] = corrupt_message(hl[i], kind, produced_at)
                res = decode(hl[i])
                reasons[ids[i]] = res.reason if isinstance(res, Invalid) else "valid"
        heads = pa.array(hl, pa.large_binary())
    table = pa.table(
        {
            "due_s": t["due_s"],
            "topic": pa.array([ENERGY_METERS] * t.num_rows, pa.string()),
            "key": pc.cast(t["meter_id"], pa.binary()),
            "head": heads,
            "complete": complete,
        },
        schema=MESSAGE_SCHEMA,
    )
    return table, reasons


def _head_texts(t: pa.Table) -> pa.Array:
    sim = pa.array(t["due_s"].to_numpy(zero_copy_only=False) * 1_000_000, pa.int64()).cast(UTC_TS)
    return reading_heads(
        json_text(t["event_id"]),
        t["meter_json"],
        t["ts_json"],
        t["value_json"],
        t["unit_json"],
        json_times(sim),
    )


def dead_line_messages(dead: pa.Table, readings: pa.Table, start_s: int) -> pa.Table:
    """Messages of the source files' dead letters (lines that are not a row of their layout:
    `line_number`, `raw_text`, `reason`, `source_file`): the raw line as it is (complete, no
    key), sent when the reading before it in its file was due (else at the start)."""
    if dead.num_rows == 0:
        return MESSAGE_SCHEMA.empty_table()
    due = []
    by_file: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for f in set(dead["source_file"].to_pylist()):
        sub = readings.filter(pc.equal(readings["source_file"], f))
        rn = sub["_row_number"].to_numpy(zero_copy_only=False)
        order = np.argsort(rn)
        by_file[f] = (rn[order], sub["due_s"].to_numpy(zero_copy_only=False)[order])
    for f, ln in zip(dead["source_file"].to_pylist(), dead["line_number"].to_pylist(), strict=True):
        rn, d = by_file[f]
        k = int(np.searchsorted(rn, ln)) - 1
        due.append(int(d[k]) if k >= 0 else start_s)
    return pa.table(
        {
            "due_s": pa.array(due, pa.int64()),
            "topic": pa.array([ENERGY_METERS] * dead.num_rows, pa.string()),
            "key": pa.nulls(dead.num_rows, pa.binary()),
            "head": pa.array([r.encode() for r in dead["raw_text"].to_pylist()], pa.large_binary()),
            "complete": pa.array([True] * dead.num_rows, pa.bool_()),
        },
        schema=MESSAGE_SCHEMA,
    )


def other_messages(items: list[tuple[int, str, bytes | None, bytes]]) -> pa.Table:
    """Messages of (due_s, topic, key, head) tuples (prices, alerts)."""
    if not items:
        return MESSAGE_SCHEMA.empty_table()
    due, topic, key, head = zip(*items, strict=True)
    return pa.table(
        {
            "due_s": pa.array(due, pa.int64()),
            "topic": pa.array(topic, pa.string()),
            "key": pa.array(key, pa.binary()),
            "head": pa.array(head, pa.large_binary()),
            "complete": pa.array([False] * len(items), pa.bool_()),
        },
        schema=MESSAGE_SCHEMA,
    )


def merge_messages(parts: list[pa.Table]) -> pa.Table:
    """All messages sorted by send time (stable: within one second, in the given order)."""
    t = pa.concat_tables([p.cast(MESSAGE_SCHEMA) for p in parts])
    t = t.append_column("_seq", pa.array(np.arange(t.num_rows), pa.int64()))
    return t.sort_by([("due_s", "ascending"), ("_seq", "ascending")]).drop_columns(["_seq"])
