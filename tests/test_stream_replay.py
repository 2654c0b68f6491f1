"""The simulator's pure part: file rows → events, send times, perturbations and labels,
prices and weather alerts (no broker)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from wattlake.pipeline import formats
from wattlake.sources.energy_charts import PRICE_SCHEMA
from wattlake.sources.open_meteo import WEATHER_SCHEMA
from wattlake.stream import outgoing, perturb, replay
from wattlake.stream.events import Invalid, MeterReading, SpotPrice, decode, finish

UTC = dt.UTC
NOW = dt.datetime(2026, 1, 1, tzinfo=UTC)
STAMP = b"2026-01-01T00:00:00.000Z"


def plan_of(text: str, name: str = "f.csv", now: dt.datetime = NOW) -> tuple[pa.Table, int, int]:
    data = text.encode()
    parsed = formats.parse(data, formats.resolve(data, None, name), name)
    typed = replay.typed_readings(replay.reading_rows([parsed]))
    return replay.schedule_readings(typed, now)


def events_of(t: pa.Table) -> list[Any]:
    sent, _ = perturb.perturb(t, perturb.Perturbations())
    msgs, _ = outgoing.reading_messages(sent, STAMP)
    return [decode(finish(h, STAMP)) for h in msgs["head"].to_pylist()]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param(
            "LCLid,tstp,energy(kWh/hh)\nMAC1,2012-10-12 00:30:00.0000000,0.143\n",
            ("MAC1", dt.datetime(2012, 10, 12, 0, 30, tzinfo=UTC), 0.143, "kWh"),
            id="lcl_unit_is_kwh",
        ),
        pytest.param(
            "LCLid,tstp,energy(kWh/hh)\nMAC1,2012-10-12 00:30:00.0000000,Null\n",
            ("MAC1", dt.datetime(2012, 10, 12, 0, 30, tzinfo=UTC), None, "kWh"),
            id="lcl_null_value",
        ),
        pytest.param(
            "meter_id,timestamp,value,unit\nM1,2024-03-15T14:00:00,1250,W\n",
            ("M1", dt.datetime(2024, 3, 15, 14, tzinfo=UTC), 1250.0, "W"),
            id="meter_csv_watts",
        ),
        pytest.param(
            "meter_id,timestamp,value,unit\nM1,2024-03-15T15:00:00+01:00,2.5,\n",
            ("M1", dt.datetime(2024, 3, 15, 14, tzinfo=UTC), 2.5, None),
            id="offset_and_no_unit",
        ),
        pytest.param(
            "meter_id,timestamp,value,unit\nM1,2024-03-15 14:00:00, .5 ,kW\n",
            ("M1", dt.datetime(2024, 3, 15, 14, tzinfo=UTC), 0.5, "kW"),
            id="not_json_number_text",
        ),
        pytest.param(
            '[{"meterpoint_id": 7, "interval_start": "2021-01-01T00:00:00Z", '
            '"consumption_delta": 0.2500}]',
            ("7", dt.datetime(2021, 1, 1, tzinfo=UTC), 0.25, "kWh"),
            id="readings_json",
        ),
    ],
)
def test_rows_become_reading_events(text: str, want: tuple[Any, ...]) -> None:
    t, _, _ = plan_of(text, "f.json" if text.startswith("[") else "f.csv")
    (ev,) = events_of(t)
    assert isinstance(ev, MeterReading), ev
    assert (ev.meter_id, ev.ts, ev.value, ev.unit) == want
    assert ev.sim_clock == want[1] + dt.timedelta(minutes=30)  # one default interval later


def test_value_text_is_sent_as_written() -> None:
    t, _, _ = plan_of("meter_id,timestamp,value,unit\nM1,2024-03-15T14:00:00,0.2500,kWh\n")
    msgs, _ = outgoing.reading_messages(perturb.perturb(t, perturb.Perturbations())[0], STAMP)
    assert b'"value":0.2500,' in msgs["head"][0].as_py()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(
            "M1,2024-03-15T14:00:00,abc,kW",
            "value: Input should be a valid number",
            id="text_value",
        ),
        pytest.param(
            "M1,2024-13-45 99:00:00,1.0,kW", "ts: Input should be a valid datetime", id="bad_ts"
        ),
        pytest.param("M1,yesterday,1.0,kW", "ts: Input should be a valid datetime", id="words_ts"),
    ],
)
def test_rows_that_cannot_be_events_are_sent_for_the_consumer_to_reject(
    line: str, reason: str
) -> None:
    t, _, _ = plan_of("meter_id,timestamp,value,unit\nM1,2024-03-15T13:30:00,1,kW\n" + line + "\n")
    assert t["valid"].to_pylist().count(False) == 1
    evs = events_of(t)
    bad = [e for e in evs if isinstance(e, Invalid)]
    assert len(bad) == 1 and bad[0].reason.startswith(reason), bad
    (label,) = perturb.source_labels(perturb.perturb(t, perturb.Perturbations())[0])
    assert label["perturbation"] == "source_invalid"
    assert str(label["detail"]).startswith("f.csv:3: " + reason)


def test_send_time_is_interval_end_future_at_the_end_unparsed_at_the_start() -> None:
    text = "meter_id,timestamp,value,unit\n" + "".join(
        f"Q1,2024-03-01T00:{m:02d}:00,1,kW\n" for m in (0, 15, 30, 45)
    )
    text += "H1,2024-03-01T00:00:00,1,kW\nH1,2024-03-01T00:30:00,1,kW\n"
    text += "H1,2030-01-01T00:00:00,1,kW\nH1,never,1,kW\n"
    t, start, end = plan_of(text)
    due = {
        (m, s): d
        for m, s, d in zip(
            t["meter_id"].to_pylist(),
            t["timestamp"].to_pylist(),
            t["due_s"].to_pylist(),
            strict=True,
        )
    }
    ts0 = int(dt.datetime(2024, 3, 1, tzinfo=UTC).timestamp())
    assert due["Q1", "2024-03-01T00:00:00"] == ts0 + 15 * 60  # 15-minute meter
    assert due["H1", "2024-03-01T00:30:00"] == ts0 + 60 * 60  # 30-minute meter
    assert start == ts0 + 15 * 60 and end == ts0 + 60 * 60
    assert due["H1", "2030-01-01T00:00:00"] == end  # stamped after now: at the end
    assert due["H1", "never"] == start  # no timestamp: at the start
    assert t["future"].to_pylist().count(True) == 1


def grid(meters: int = 3, n: int = 300) -> pa.Table:
    start = dt.datetime(2024, 3, 1)
    lines = ["meter_id,timestamp,value,unit"]
    for m in range(meters):
        for i in range(n):
            t = start + dt.timedelta(minutes=30 * i)
            lines.append(f"M{m},{t:%Y-%m-%dT%H:%M:%S},{0.1 + (i % 7) / 10:.3f},kWh")
    t, _, _ = plan_of("\n".join(lines) + "\n")
    return t


P = perturb.Perturbations(
    stuck=2,
    zero=2,
    spikes=3,
    dropouts=2,
    duplicates=3,
    out_of_order=3,
    late=3,
    malformed=5,
    stuck_readings=12,
    zero_readings=10,
    dropout_readings=4,
    seed=7,
)


def test_perturbations_are_placed_as_asked_without_overlap() -> None:
    t = grid()
    sent, labels = perturb.perturb(t, P)
    kinds = Counter(str(lb["perturbation"]) for lb in labels)
    assert kinds == {
        "stuck": 2 * 12,
        "zero": 2 * 10,
        "spike": 3,
        "dropout": 2 * 4,
        "duplicate": 3 * 2,  # the reading and its re-send
        "out_of_order": 3,
        "late": 3,
        "malformed": 5,
    }
    # No reading carries two perturbations (a re-send is the same reading).
    keys = Counter((lb["meter_id"], lb["ts"]) for lb in labels if lb["detail"] != "the re-send")
    assert max(keys.values()) == 1
    assert sent.num_rows == t.num_rows - 8 + 3


def test_perturbations_do_what_their_labels_say() -> None:
    t = grid()
    sent, labels = perturb.perturb(t, P)
    rows = sent.to_pylist()
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_id.setdefault(r["event_id"], []).append(r)
    orig = {(r["meter_id"], r["ts"]): r for r in t.to_pylist()}
    series = {}
    for r in sorted(rows, key=lambda r: (r["meter_id"], r["ts"])):
        series.setdefault(r["meter_id"], []).append(r)
    for lb in labels:
        key = (lb["meter_id"], dt.datetime.fromisoformat(str(lb["ts"])))
        kind, eid = lb["perturbation"], str(lb["event_id"])
        if kind == "dropout":
            assert eid not in by_id
            continue
        (r, *rest) = by_id[eid]
        if kind == "zero":
            assert r["value_json"] == "0"
        elif kind == "spike":
            assert float(r["value_json"]) == pytest.approx(orig[key]["value_num"] * 10)
        elif kind == "stuck":
            s = series[r["meter_id"]]
            i = next(k for k, x in enumerate(s) if x["ts"] == r["ts"])
            assert r["value_json"] == s[i - 1]["value_json"]
        elif kind == "duplicate":
            assert len(rest) == 1 and rest[0]["due_s"] - r["due_s"] == 1800
        elif kind == "late":
            assert r["due_s"] == orig[key]["due_s"] + P.late_by_s
        elif kind == "out_of_order":
            nxt = orig[(r["meter_id"], r["ts"] + dt.timedelta(minutes=30))]
            assert r["due_s"] == nxt["due_s"] + 1
        elif kind == "malformed":
            assert r["corrupt"] in replay.MALFORMED_KINDS
    # Readings without a label are sent as they were, when they were due.
    labelled = {str(lb["event_id"]) for lb in labels}
    for r in rows:
        if r["event_id"] not in labelled:
            o = orig[(r["meter_id"], r["ts"])]
            assert (r["value_json"], r["due_s"]) == (o["value_json"], o["due_s"])


def test_perturbations_that_do_not_fit_are_not_placed() -> None:
    t = grid(meters=1, n=20)
    _, labels = perturb.perturb(t, perturb.Perturbations(stuck=3, stuck_readings=12))
    assert Counter(lb["perturbation"] for lb in labels) == {"stuck": 12}  # room for one


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        pytest.param("not_json", "not JSON:", id="not_json"),
        pytest.param("wrong_version", "unsupported schema_version 99", id="wrong_version"),
        pytest.param("missing_field", "ts: missing", id="missing_field"),
        pytest.param("bad_type", "value: Input should be a valid number", id="bad_type"),
        pytest.param("naive_timestamp", "ts: Input should have timezone info", id="naive_ts"),
    ],
)
def test_malformed_messages_are_rejected_with_their_reason(kind: str, reason: str) -> None:
    t, _, _ = plan_of("meter_id,timestamp,value,unit\nM1,2024-03-15T14:00:00,1.5,kW\n")
    msgs, _ = outgoing.reading_messages(perturb.perturb(t, perturb.Perturbations())[0], STAMP)
    got = decode(outgoing.corrupt_message(msgs["head"][0].as_py(), kind, STAMP))
    assert isinstance(got, Invalid) and got.reason.startswith(reason), got


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"stuck": -1}, "stuck must be a non-negative integer", id="negative"),
        pytest.param({"late": 1.5}, "late must be a non-negative integer", id="float_count"),
        pytest.param({"zero_readings": 0}, "zero_readings must be >= 1", id="empty_run"),
        pytest.param({"spike_factor": 1.0}, "spike_factor must be > 1", id="no_spike"),
    ],
)
def test_perturbation_settings_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        perturb.Perturbations(**changes)


def weather(rows: list[tuple[int, float, float]], lat: float = 51.5) -> pa.Table:
    """Hourly weather at one point: (hour offset, temperature °C, wind m/s)."""
    t0 = dt.datetime(2024, 7, 1, tzinfo=UTC)
    n = len(rows)
    cols: dict[str, Any] = {c: pa.nulls(n, pa.float64()) for c in WEATHER_SCHEMA.names}
    cols["latitude"] = pa.array([lat] * n)
    cols["longitude"] = pa.array([0.0] * n)
    cols["ts"] = pa.array(
        [t0 + dt.timedelta(hours=h) for h, _, _ in rows], WEATHER_SCHEMA.field("ts").type
    )
    cols["temperature_c"] = pa.array([x for _, x, _ in rows], pa.float64())
    cols["wind_speed_m_s"] = pa.array([w for _, _, w in rows], pa.float64())
    return pa.table(cols, schema=WEATHER_SCHEMA)


@pytest.mark.parametrize(
    ("rows", "want"),
    [
        pytest.param([(0, 20, 3), (1, 25, 3)], [], id="mild"),
        pytest.param(
            [(0, 30, 3), (1, 36, 3), (2, 37.5, 3), (3, 34, 3)],
            [("heat", 1, 3, 37.5)],
            id="heat_two_hours",
        ),
        pytest.param([(0, 35.0, 3)], [], id="threshold_not_beyond"),
        pytest.param(
            [(0, 36, 3), (1, 30, 3), (2, 36.5, 3)],
            [("heat", 0, 1, 36.0), ("heat", 2, 3, 36.5)],
            id="two_episodes",
        ),
        pytest.param(
            [(0, 36, 3), (2, 36.5, 3)],
            [("heat", 0, 1, 36.0), ("heat", 2, 3, 36.5)],
            id="missing_hour_splits",
        ),
        pytest.param([(0, -12, 3), (1, -11, 3)], [("cold", 0, 2, -12.0)], id="cold"),
        pytest.param([(0, 10, 15.0), (1, 10, 20.0)], [("wind", 0, 2, 20.0)], id="gale"),
        pytest.param([(0, 10, float("nan"))], [], id="missing_value"),
    ],
)
def test_weather_alerts_are_episodes_beyond_the_rule(
    rows: list[tuple[int, float, float]], want: list[tuple[str, int, int, float]]
) -> None:
    t0 = dt.datetime(2024, 7, 1, tzinfo=UTC)
    got = outgoing.weather_alerts(weather(rows), outgoing.AlertRules())
    peak = {
        "heat": "peak_temperature_c",
        "cold": "peak_temperature_c",
        "wind": "peak_wind_speed_m_s",
    }
    assert [
        (
            a["kind"],
            int((a["starts_at"] - t0).total_seconds() // 3600),  # type: ignore[operator]
            int((a["ends_at"] - t0).total_seconds() // 3600),  # type: ignore[operator]
            a[peak[str(a["kind"])]],
        )
        for a in got
    ] == want


def test_alerts_are_issued_ahead_and_prices_the_day_before() -> None:
    alerts = outgoing.weather_alerts(weather([(10, 36, 3)]), outgoing.AlertRules())
    t0 = int(dt.datetime(2024, 7, 1, tzinfo=UTC).timestamp())
    (a,) = outgoing.weather_alert_messages(alerts, outgoing.AlertRules(), t0, t0 + 86400, NOW)
    assert a[0] == t0 + 4 * 3600 and a[1] == "weather-alerts"  # 10:00 − 6 h lead
    prices = pa.table(
        {
            "zone": ["DE-LU", "DE-LU"],
            "ts": pa.array(
                [dt.datetime(2024, 7, 1, 0, tzinfo=UTC), dt.datetime(2024, 7, 2, 23, tzinfo=UTC)],
                PRICE_SCHEMA.field("ts").type,
            ),
            "price_eur_per_mwh": [80.5, None],
            "price_eur_per_kwh": [0.0805, None],
            "resolution_minutes": pa.array([60, 60], pa.int32()),
            "unit": ["EUR / MWh"] * 2,
        },
        schema=PRICE_SCHEMA,
    )
    msgs = outgoing.price_messages(prices, t0, t0 + 5 * 86400, NOW)
    # Day 1's prices are due before the replay starts: clamped to its start.
    assert [m[0] for m in msgs] == [t0, t0 + 12 * 3600]
    evs = [decode(finish(m[3], STAMP), "spot_price") for m in msgs]
    assert all(isinstance(e, SpotPrice) for e in evs)
    assert [e.price_eur_per_mwh for e in evs] == [80.5, None]  # type: ignore[union-attr]


def test_messages_are_sorted_by_send_time() -> None:
    t = grid(meters=2, n=10)
    sent, _ = perturb.perturb(t, perturb.Perturbations(late=2, seed=1))
    msgs, _ = outgoing.reading_messages(sent, STAMP)
    merged = outgoing.merge_messages([msgs])
    due = merged["due_s"].to_numpy()
    assert np.all(np.diff(due) >= 0) and merged.num_rows == 20
