"""The simulator's messages (pure): day-ahead prices, weather alerts, meter-reading events,
corrupted and dead-line messages, merged into one table sorted by send time (`due_s`)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from wattlake.stream.events import (
    Invalid,
    SpotPrice,
    WeatherAlert,
    decode,
    finish,
    head_of,
    utc_text,
)
from wattlake.stream.replay import (
    PRICE_PUBLISH_HOUR_UTC,
    head_texts,
)
from wattlake.stream.topics import ENERGY_METERS, SPOT_PRICES, WEATHER_ALERTS
from wattlake.transforms.enrich import EXTREME_COLD_C, EXTREME_HOT_C


class AlertRules(BaseModel):
    """When an hour of weather is extreme (the enrich step's extreme-weather thresholds and
    Beaufort 7 wind) and how far ahead an alert is issued."""

    heat_above_c: float = EXTREME_HOT_C
    cold_below_c: float = EXTREME_COLD_C
    wind_above_m_s: float = Field(13.9, gt=0)  # Beaufort 7 ("near gale") from 13.9 m/s
    lead_hours: float = Field(6.0, ge=0)


# ---- 1. readings ------------------------------------------------------------------------


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
    out.sort(key=lambda a: (a["starts_at"], a["kind"], a["latitude"], a["longitude"]))
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
    out: list[tuple[int, str, bytes | None, bytes]] = []
    for a in alerts:
        starts = a["starts_at"]
        assert isinstance(starts, dt.datetime)
        due = _clamp(int(starts.timestamp() - rules.lead_hours * 3600), start_s, end_s)
        key = f"{a['kind']}|{a['latitude']}|{a['longitude']}"
        ev = WeatherAlert(
            event_id=_short_id(f"{key}|{utc_text(starts)}"),
            sim_clock=dt.datetime.fromtimestamp(due, dt.UTC),
            produced_at=produced_at,
            **a,
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
    heads = pc.cast(head_texts(t), pa.large_binary())
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
