"""Stream anomalies (UC4 job 2) and the Redis sink, against a real broker and redis-server:
impossible values, a statistical outlier above the meter's P99.9 from its silver history and
a silent meter reach `ops.alerts` and the `anomalies` topic; Redis holds the latest 5-minute
aggregate per household and channel and the latest anomaly."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

import services
from stream_support import new_prefix, rows, run_stream, stream_settings, with_profiles
from wattlake.stream.events import MeterReading, encode
from wattlake.stream.topics import ensure_topics, prefixed, topic_specs

UTC = dt.UTC
START = dt.datetime(2024, 3, 1, tzinfo=UTC)
HISTORY = 8 * 48  # half hours: more than the 336 the outlier rule wants


def _reading(meter: str, i: int, kwh: float) -> bytes:
    ts = START + dt.timedelta(minutes=30 * i)
    return encode(
        MeterReading(
            event_id=f"{meter}-{i}",
            meter_id=meter,
            ts=ts,
            value=kwh,
            unit="kWh",
            sim_clock=ts + dt.timedelta(minutes=30),
            produced_at=dt.datetime.now(UTC),
        )
    )


def _consumption(i: int) -> float:
    return round(0.3 + 0.2 * math.sin(i / 7.0) + 0.05 * ((i * 37) % 11) / 11, 4)


def _send(bootstrap: str, topic: str, messages: list[tuple[str, bytes]]) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for key, value in messages:
        p.produce(topic, value, key.encode())
    assert p.flush(30) == 0


def _users(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    head = (
        "user_id,meter_id,pv_meter_id,user_type,panel_kwp,panel_tilt_deg,panel_azimuth_deg,"
        "latitude,longitude,tariff,acorn_group,effective_date\n"
    )
    (path / "users.csv").write_text(
        head
        + "U1,M1,PV1,prosumer,4.0,30,180,51.5,-0.1,Std,Affluent,2024-01-01\n"
        + "U2,M2,,consumer,,,,51.6,-0.2,Std,Affluent,2024-01-01\n"
    )
    return path


@pytest.fixture(scope="module")
def anomalies_run(
    kafka: services.Service,
    redis_server: services.Service,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    import redis

    work = tmp_path_factory.mktemp("anomalies")
    prefix = new_prefix()
    # one partition: the meters share a stream clock, so M2's silence does not hold the
    # watermark (a partition's clock is its latest reading's)
    ensure_topics(kafka.address, topic_specs(1, prefix))
    topic = prefixed("energy-meters", prefix)
    history = []
    for i in range(HISTORY):
        history += [("M1", _reading("M1", i, _consumption(i))), ("M2", _reading("M2", i, 0.2))]
        pv = max(0.0, round(math.sin((i % 48 - 12) / 24 * math.pi), 4))
        history.append(("PV1", _reading("PV1", i, pv)))
    _send(kafka.address, topic, history)
    home = work / "home"
    s = stream_settings(home, kafka.address, redis_url=redis_server.address)
    with_profiles(s, _users(work / "data"))
    run_stream(s, prefix)  # the history reaches silver: M1 gets its P99.9

    n = HISTORY
    later = [
        ("M1", _reading("M1", n, 5.0)),  # valid (10 kW) but far above its history
        ("PV1", _reading("PV1", n, -0.5)),  # production below zero
        ("M2", _reading("M2", n, 0.2)),  # M2's last reading
        ("M1", _reading("M1", n + 1, 60.0)),  # 60 kWh in half an hour
        ("PV1", _reading("PV1", n + 1, 0.1)),
    ]
    for i in range(n + 2, n + 12):  # five more hours without M2
        later += [("M1", _reading("M1", i, 0.3)), ("PV1", _reading("PV1", i, 0.1))]
    _send(kafka.address, topic, later)
    summary = run_stream(s, prefix)
    r = redis.Redis.from_url(redis_server.address)
    keys = r.keys(f"wattlake:{prefix}*")
    state = {k.decode().removeprefix(f"wattlake:{prefix}"): r.hgetall(k) for k in keys}
    r.close()
    return {"home": home, "prefix": prefix, "summary": summary, "redis": state, "kafka": kafka}


def test_anomalies_reach_ops_alerts_and_the_topic(anomalies_run: dict[str, Any]) -> None:
    home, prefix = anomalies_run["home"], anomalies_run["prefix"]
    alerts = rows(home, "SELECT rule, meter_id, severity, message FROM ops.alerts")
    got = {(rule, meter) for rule, meter, _, _ in alerts if rule in STREAM_RULES}
    assert got == {
        ("statistical_outlier", "M1"),
        ("impossible_production", "PV1"),
        ("impossible_consumption", "M1"),
        ("silent_meter", "M2"),
    }
    by_rule = {rule: (sev, msg) for rule, _, sev, msg in alerts if rule in STREAM_RULES}
    assert by_rule["silent_meter"][1] == "no reading after 2024-03-09 00:00 UTC"
    assert by_rule["impossible_production"][0] == "critical"
    assert "5.0000 kWh above the meter's P99.9" in by_rule["statistical_outlier"][1]
    msgs = services.consume_range(anomalies_run["kafka"].address, prefixed("anomalies", prefix), {})
    docs = [json.loads(m["value"]) for m in msgs]
    assert {(d["rule"], d["meter_id"]) for d in docs} == got
    assert all(m["key"] == json.loads(m["value"])["meter_id"].encode() for m in msgs)
    assert len({d["anomaly_id"] for d in docs}) == len(docs) == 4


STREAM_RULES = {
    "statistical_outlier",
    "impossible_production",
    "impossible_consumption",
    "silent_meter",
}


def test_redis_holds_the_latest_aggregates_and_anomaly(anomalies_run: dict[str, Any]) -> None:
    home, state = anomalies_run["home"], anomalies_run["redis"]
    latest = rows(
        home,
        """SELECT household_id, channel, epoch(max(window_start)) FROM stream.aggregates_5min
           WHERE readings > 0 GROUP BY ALL""",
    )
    assert len(latest) == 3  # U1 consumption, U1 production, U2 consumption
    for household, channel, at in latest:
        h = state[f"aggregate5:{household}:{channel}"]
        assert float(h[b"at"]) == at
        doc = json.loads(h[b"json"])
        assert doc["household_id"] == household and doc["channel"] == channel
    (kwh,) = rows(
        home,
        """SELECT kwh_sum FROM stream.aggregates_5min WHERE household_id = 'U1'
           AND channel = 'consumption' ORDER BY window_start DESC LIMIT 1""",
    )[0]
    assert json.loads(state["aggregate5:U1:consumption"][b"json"])["kwh_sum"] == kwh
    # the latest anomaly by reading time: M2 went silent after 2024-03-09 00:00, but the
    # newest reading-time among the anomalies is M1's 60 kWh at 00:30
    last = json.loads(state["anomaly:latest"][b"json"])
    assert (last["rule"], last["meter_id"]) == ("impossible_consumption", "M1")
    assert json.loads(state["anomaly:meter:PV1"][b"json"])["rule"] == ("impossible_production")
    assert json.loads(state["anomaly:meter:M2"][b"json"])["rule"] == "silent_meter"
