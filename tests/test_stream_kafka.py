"""The simulator against a real Kafka broker (scripts/kafka.sh): topics, what a consumer
reads back compared with the source files and the labels, pacing, and a broker restart."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import services
from wattlake.cli import app
from wattlake.stream import inputs, outgoing, perturb
from wattlake.stream import simulate as sim
from wattlake.stream.events import Invalid, MeterReading, SpotPrice, WeatherAlert, decode
from wattlake.stream.topics import (
    ENERGY_METERS,
    SPOT_PRICES,
    WEATHER_ALERTS,
    ensure_topics,
    list_topics,
    topic_specs,
)

UTC = dt.UTC
ALL_TOPICS = {s.name for s in topic_specs()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 households × 3 days of meter-csv readings with the generator's file faults, plus
    synthetic weather and prices."""
    out = tmp_path_factory.mktemp("gen")
    return inputs.generate_data(
        out, 4, 3, seed=5, fmt="meter-csv", faults=True, start=dt.date(2024, 3, 1), zone="DE-LU"
    )


def test_topics_are_created_once(kafka: services.Service) -> None:
    first = ensure_topics(kafka.address)
    again = ensure_topics(kafka.address)
    assert {s.name for s in first} == ALL_TOPICS
    assert all(s.status == "exists" for s in again)
    assert [(s.name, s.partitions) for s in again] == [(s.name, s.partitions) for s in first]
    assert set(list_topics(kafka.address)) >= ALL_TOPICS


def source_rows(data_dir: Path) -> tuple[list[dict[str, str]], int]:
    """The reading rows of the generated CSV files, read with the csv module (an oracle
    independent of the simulator), and the number of lines that are not a row."""
    rows, bad = [], 0
    for f in sorted(data_dir.glob("meters_*.csv")):
        with f.open(newline="") as fh:
            for rec in csv.reader(fh):
                if rec == ["meter_id", "timestamp", "value", "unit"]:
                    continue
                if len(rec) != 4 or not rec[0].strip():
                    bad += 1
                    continue
                rows.append(dict(zip(("meter_id", "timestamp", "value", "unit"), rec, strict=True)))
    return rows, bad


WIND_ALERT_M_S = 7.0


def wind_episodes(data_dir: Path, above: float) -> int:
    """Runs of consecutive hours with wind above `above` in the Open-Meteo bodies (an
    oracle for the alert count; the bodies are hourly without gaps)."""
    n = 0
    for f in data_dir.glob("open_meteo_*.json"):
        wind = json.loads(f.read_text())["hourly"]["wind_speed_10m"]
        n += sum(1 for i, w in enumerate(wind) if w > above and (i == 0 or wind[i - 1] <= above))
    return n


PERTURB = perturb.Perturbations(
    stuck=1,
    zero=1,
    spikes=2,
    dropouts=2,
    duplicates=3,
    out_of_order=2,
    late=2,
    malformed=5,
    stuck_readings=12,
    zero_readings=12,
    dropout_readings=3,
    seed=11,
)


@pytest.fixture(scope="module")
def replayed(kafka: services.Service, generated: Path, tmp_path_factory: pytest.TempPathFactory):
    """Simulate the generated set as fast as possible; the report, the labels and what a
    consumer reads back from each topic."""
    ensure_topics(kafka.address)
    before = {t: services.high_watermarks(kafka.address, t) for t in ALL_TOPICS}
    labels_file = tmp_path_factory.mktemp("labels") / "labels.csv"
    report = sim.simulate(
        kafka.address,
        [generated],
        zone="DE-LU",
        perturbations=PERTURB,
        rules=outgoing.AlertRules(wind_above_m_s=WIND_ALERT_M_S),
        pacing=sim.Pacing("fast", 0.0),
        labels_file=labels_file,
    )
    read = {t: services.consume_range(kafka.address, t, before[t]) for t in ALL_TOPICS}
    return report, sim.read_labels(labels_file), read


def test_counts_per_topic_and_meter_match_the_source(replayed: Any, generated: Path) -> None:
    report, labels, read = replayed
    rows, bad_lines = source_rows(generated)
    kinds = Counter(lb["perturbation"] for lb in labels)
    # Every topic got what the report says was acknowledged, nothing else.
    assert {t: len(m) for t, m in read.items() if m} == report.sent.delivered
    assert report.sent.failed == {}
    # energy-meters: every source row once, minus dropouts, plus re-sends, plus the lines
    # that are not rows (sent raw, without a key).
    msgs = read[ENERGY_METERS]
    assert kinds["dropout"] == 2 * 3 and kinds["duplicate"] == 3 * 2
    assert len(msgs) == len(rows) - kinds["dropout"] + kinds["duplicate"] // 2 + bad_lines
    assert kinds["source_dead_letter"] == bad_lines > 0
    want = Counter(r["meter_id"].strip() for r in rows)
    for lb in labels:
        if lb["perturbation"] == "dropout":
            want[lb["meter_id"]] -= 1
        elif lb["perturbation"] == "duplicate" and lb["detail"] == "the re-send":
            want[lb["meter_id"]] += 1
    got = Counter(m["key"].decode() for m in msgs if m["key"] is not None)
    assert got == +want
    # A meter's events are in one partition.
    parts: dict[bytes, set[int]] = {}
    for m in msgs:
        parts.setdefault(m["key"], set()).add(m["partition"])
    assert all(len(p) == 1 for k, p in parts.items() if k is not None)
    # Spot prices: one event per hour of the generated days; weather alerts: as planned.
    prices = [decode(m["value"], "spot_price") for m in read[SPOT_PRICES]]
    assert len(prices) == 3 * 24 and all(isinstance(p, SpotPrice) for p in prices)
    alerts = [decode(m["value"], "weather_alert") for m in read[WEATHER_ALERTS]]
    assert len(alerts) == wind_episodes(generated, WIND_ALERT_M_S) > 0
    assert all(isinstance(a, WeatherAlert) and a.kind == "wind" for a in alerts)


def utc(text: str) -> dt.datetime | None:
    """An ISO timestamp as UTC (naive = UTC), None when it does not parse."""
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def test_read_back_events_match_the_labels(replayed: Any, generated: Path) -> None:
    _report, labels, read = replayed
    rows, _ = source_rows(generated)
    source: dict[tuple[str, dt.datetime | None], list[float]] = {}
    for r in rows:  # the generator's faults may give a key two rows (a re-send, bad text)
        try:
            v = float(r["value"])
        except ValueError:
            continue
        source.setdefault((r["meter_id"].strip(), utc(r["timestamp"])), []).append(v)
    msgs = read[ENERGY_METERS]
    events = [(m, decode(m["value"], "meter_reading")) for m in msgs]
    good = [(m, e) for m, e in events if isinstance(e, MeterReading)]
    by_id: dict[str, list[tuple[dict[str, Any], MeterReading]]] = {}
    for m, e in good:
        by_id.setdefault(e.event_id, []).append((m, e))
    lab: dict[str, list[dict[str, str]]] = {}
    for lb in labels:
        lab.setdefault(lb["perturbation"], []).append(lb)

    def one(lb: dict[str, str]) -> MeterReading:
        found = by_id[lb["event_id"]]
        assert len(found) == 1, lb
        return found[0][1]

    def source_has(e: MeterReading, factor: float = 1.0) -> bool:
        return any(e.value == pytest.approx(v * factor) for v in source[(e.meter_id, e.ts)])

    for lb in lab["dropout"]:
        assert lb["event_id"] not in by_id
    for lb in lab["zero"]:
        assert one(lb).value == 0
    for lb in lab["spike"]:
        assert source_has(one(lb), 10.0)
    stuck = sorted((one(lb) for lb in lab["stuck"]), key=lambda e: e.ts)
    assert len({e.value for e in stuck}) == 1  # one value repeated for the whole run
    for lb in lab["duplicate"]:
        if lb["detail"] == "the re-send":
            (m1, e1), (m2, e2) = by_id[lb["event_id"]]
            assert m1["partition"] == m2["partition"] and m1["offset"] < m2["offset"]
            assert e2.sim_clock - e1.sim_clock == dt.timedelta(minutes=30)
    for lb in lab["late"]:
        e = one(lb)
        assert e.sim_clock - e.ts == dt.timedelta(hours=3, minutes=30)  # beyond ±1 h
    for lb in lab["out_of_order"]:
        (m, e) = by_id[lb["event_id"]][0]
        earlier = [
            x for mm, x in good if mm["partition"] == m["partition"] and mm["offset"] < m["offset"]
        ]
        assert any(x.meter_id == e.meter_id and x.ts > e.ts for x in earlier)
    # Every other reading: the source's value, sent when its interval was over.
    labelled = {lb["event_id"] for lb in labels}
    plain = [e for _, e in good if e.event_id not in labelled]
    assert len(plain) > 500
    for e in plain:
        assert source_has(e)
        assert e.sim_clock - e.ts == dt.timedelta(minutes=30)


def test_bad_events_are_classified_with_the_labelled_reasons(replayed: Any) -> None:
    _report, labels, read = replayed
    invalid = [
        decode(m["value"], "meter_reading")
        for m in read[ENERGY_METERS]
        if isinstance(decode(m["value"], "meter_reading"), Invalid)
    ]
    reasons = Counter(i.reason for i in invalid)  # type: ignore[union-attr]
    malformed = [lb for lb in labels if lb["perturbation"] == "malformed"]
    from_source = [lb for lb in labels if lb["perturbation"] == "source_invalid"]
    dead_lines = [lb for lb in labels if lb["perturbation"] == "source_dead_letter"]
    assert len(malformed) == 5
    assert sum(reasons.values()) == len(malformed) + len(from_source) + len(dead_lines)
    want = Counter(lb["detail"].split(": ", 1)[1] for lb in malformed)
    want += Counter(lb["detail"].split(": ", 1)[1] for lb in from_source)
    not_json = [r for r in reasons if r.startswith("not JSON")]
    # Malformed and source-invalid reasons are exactly the labelled ones; raw dead lines
    # (not JSON at all) are the rest.
    assert reasons - Counter({r: reasons[r] for r in not_json}) == want - Counter(
        {r: want[r] for r in list(want) if r.startswith("not JSON")}
    )
    assert sum(reasons[r] for r in not_json) == len(dead_lines) + sum(
        1 for lb in malformed if lb["detail"].startswith("not_json")
    )


def test_accelerated_time_and_fixed_rate(kafka: services.Service, tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    start = dt.datetime(2024, 3, 1)
    lines = ["meter_id,timestamp,value,unit"] + [
        f"M{m},{start + dt.timedelta(minutes=30 * i):%Y-%m-%dT%H:%M:%S},1.0,kW"
        for m in range(2)
        for i in range(97)  # 2 days of simulated time from the first send to the last
    ]
    f.write_text("\n".join(lines) + "\n")
    # 2 simulated days at 86,400× take 2 s of wall time.
    r = sim.simulate(kafka.address, [f], zone="DE-LU", pacing=sim.Pacing("speedup", 86400.0))
    assert r.plan.end_s - r.plan.start_s == 2 * 86400
    assert 1.9 <= r.sent.seconds <= 20.0, r.sent.seconds  # never ahead of the clock
    # 194 messages at 100 msg/s take about 1.9 s.
    r = sim.simulate(kafka.address, [f], zone="DE-LU", pacing=sim.Pacing("rate", 100.0))
    assert r.sent.total == 194 and 1.9 <= r.sent.seconds <= 20.0, r.sent.seconds


def wl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wattlake.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_cli_simulate_and_topics(kafka: services.Service, tmp_path: Path) -> None:
    before = services.high_watermarks(kafka.address, ENERGY_METERS)
    labels = tmp_path / "labels.csv"
    res = wl(
        "stream",
        "simulate",
        "--home",
        str(tmp_path / "home"),
        "--bootstrap",
        kafka.address,
        "--households",
        "2",
        "--days",
        "1",
        "--fast",
        "--duplicates",
        "2",
        "--labels",
        str(labels),
    )
    assert res.returncode == 0, res.stderr
    assert "energy-meters" in res.stdout and "duplicate 2/2" in res.stdout
    got = services.consume_range(kafka.address, ENERGY_METERS, before)
    readings = [decode(m["value"]) for m in got]
    assert all(isinstance(e, MeterReading) for e in readings)
    ids = Counter(e.event_id for e in readings)  # type: ignore[union-attr]
    assert sorted(ids.values()).count(2) == 2
    assert {lb["event_id"] for lb in sim.read_labels(labels)} == {
        i for i, n in ids.items() if n == 2
    }
    res = wl("stream", "topics", "--list", "--bootstrap", kafka.address)
    assert res.returncode == 0 and "energy-meters\t4" in res.stdout
    # Bad input: one line on stderr, exit 1, nothing sent.
    res = wl("stream", "simulate", "--home", str(tmp_path / "h"), "--fast", "--rate", "5")
    assert res.returncode == 1
    assert res.stderr.strip() == "error: give one of --speedup, --rate, --fast (got --rate, --fast)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--fast", "--rate", "5"], "give one of --speedup, --rate, --fast", id="two_pacings"
        ),
        pytest.param(["--rate", "0"], "rate must be > 0", id="zero_rate"),
        pytest.param(["--stuck", "-1"], "--stuck must be >= 0", id="negative_count"),
        pytest.param(["--gen-format", "xml"], "unknown --gen-format 'xml'", id="bad_format"),
    ],
)
def test_cli_simulate_rejects_bad_options(args: list[str], message: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["stream", "simulate", "--home", str(tmp_path), "--bootstrap", "127.0.0.1:1", *args]
    )
    assert res.exit_code != 0 and message in str(res.exception or res.output)


def test_unreachable_broker_is_one_clear_error(tmp_path: Path) -> None:
    from wattlake.stream.clients import KafkaUnavailableError

    with pytest.raises(KafkaUnavailableError, match=r"Kafka at 127\.0\.0\.1:1 is not reachable"):
        ensure_topics("127.0.0.1:1", timeout_s=2)


def test_script_start_is_idempotent_and_stop_only_stops_its_own(
    kafka: services.Service, tmp_path: Path
) -> None:
    if kafka.run_dir is None:
        pytest.skip("a broker of the environment (no state directory of ours)")
    t0 = time.monotonic()
    assert services.run_script(services.KAFKA_SH, "start", kafka.run_dir) == kafka.address
    assert time.monotonic() - t0 < 10  # already running: nothing started
    services.run_script(services.KAFKA_SH, "stop", tmp_path / "another-run")
    assert services.port_open(kafka.address)
    services.run_script(services.KAFKA_SH, "status", kafka.run_dir)


def test_broker_restart_keeps_topics_and_messages(
    kafka: services.Service, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Stop and start the broker on the same state directory: topics, messages and a
    consumer group's committed offsets are still there, at the same address."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    svc = kafka
    if svc.run_dir is None:  # a broker we may not restart: use a private one
        svc = services.kafka_service(tmp_path_factory.mktemp("kafka-restart"))
    address = svc.address
    topic = "wattlake-test-restart"
    ensure_topics(address, [replay_spec(topic)])
    p = Producer({"bootstrap.servers": address, "acks": "all", "enable.idempotence": True})
    values = [json.dumps({"n": i}).encode() for i in range(100)]
    for v in values:
        p.produce(topic, v, b"k")
    assert p.flush(30) == 0
    c = Consumer(
        {"bootstrap.servers": address, "group.id": "restart-test", "enable.auto.commit": False}
    )
    c.assign([TopicPartition(topic, 0, 0)])
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < 40 and time.monotonic() < deadline:
        for m in c.consume(40 - len(seen), timeout=1):
            seen.append(m.value())
    c.commit(offsets=[TopicPartition(topic, 0, 40)], asynchronous=False)
    c.close()
    before = services.consume_range(address, topic, {})

    svc.stop()
    assert not services.port_open(address)
    assert svc.start() == address

    assert topic in list_topics(address)
    after = services.consume_range(address, topic, {})
    assert [m["value"] for m in after] == [m["value"] for m in before] == values
    c = Consumer({"bootstrap.servers": address, "group.id": "restart-test"})
    (committed,) = c.committed([TopicPartition(topic, 0)], timeout=30)
    c.close()
    assert committed.offset == 40
    if svc is not kafka:
        svc.stop()


def replay_spec(name: str) -> Any:
    from wattlake.stream.topics import TopicSpec

    return TopicSpec(name, 1, "test")
