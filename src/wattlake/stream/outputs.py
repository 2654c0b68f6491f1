"""What the stream runner publishes: final window aggregates (`dashboard-updates`), anomalies
(`anomalies`), dead letters (`energy-meters-dlq`), and the latest state in Redis.

Messages are JSON (UTF-8) with `schema_version` 1 and a `type`. Every message carries an
identity and a `version`, so a reader that sees one twice (the runner re-publishes what it
had published but not yet committed when it was killed) keeps one:

- `window_aggregate` (key = household id): identity (household_id, channel, window_start),
  version 1 when the window is final;
- `anomaly` (key = meter id): identity `anomaly_id` (SHA-256 of rule, meter and message),
  version 1;
- dead letters (the original key and value) with headers `wattlake-reason`,
  `wattlake-source-topic`, `wattlake-source-partition`, `wattlake-source-offset`: the source
  position is the identity.

`Publisher` produces them with an idempotent producer and `flush` waits for every
acknowledgement (or raises, so the micro-batch is not committed). `RedisState` keeps the
latest 5-minute aggregate per household and channel and the latest anomaly (global and per
meter), each written only when newer than what Redis holds (a Lua compare-and-set, so a
replay never moves them back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from wattlake.stream.clients import KafkaUnavailableError, producer_config
from wattlake.stream.events import utc_text

SCHEMA_VERSION = 1


def _time(t: dt.datetime | None) -> str | None:
    return None if t is None else utc_text(t)


def _epoch(t: dt.datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


_WINDOW_JSON = """
SELECT household_id, epoch(window_start) AS at, to_json({
    'schema_version': 1, 'type': 'window_aggregate',
    'household_id': household_id, 'channel': channel,
    'window_start': strftime(window_start, '%Y-%m-%dT%H:%M:%SZ'),
    'window_end': strftime(window_end, '%Y-%m-%dT%H:%M:%SZ'),
    'kwh_sum': kwh_sum, 'kwh_avg': kwh_avg, 'kwh_min': kwh_min, 'kwh_max': kwh_max,
    'readings': readings, 'meters': meters, 'late_readings': late_readings,
    'final': coalesce(is_final, false),
    'watermark': strftime(final_watermark, '%Y-%m-%dT%H:%M:%SZ'),
    'version': greatest(coalesce(published_version, 0), 1)
})::VARCHAR AS body
FROM wl_windows
"""


def window_messages(windows: pa.Table) -> list[tuple[bytes, bytes, float]]:
    """(key, value, window start in epoch seconds) of `stream.aggregates_5min` rows as
    `window_aggregate` messages, built column-wise (a micro-batch may close 100,000
    windows)."""
    if windows.num_rows == 0:
        return []
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("wl_windows", windows)
        rows = con.execute(_WINDOW_JSON).fetchall()
    finally:
        con.close()
    return [(str(h).encode(), body.encode(), float(at)) for h, at, body in rows]


def anomaly_id(rule: str, meter_id: str | None, message: str) -> str:
    """The identity of an anomaly: the first 32 hex digits of SHA-256 of rule|meter|message."""
    return hashlib.sha256(f"{rule}|{meter_id or ''}|{message}".encode()).hexdigest()[:32]


def anomaly_message(alert: dict[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) of an anomaly: `alert` = an `ops.alerts` row plus `household_id`, `ts`,
    `kwh`, `sim_clock` (None when not about one reading)."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "type": "anomaly",
        "anomaly_id": anomaly_id(alert["rule"], alert["meter_id"], alert["message"]),
        "version": 1,
        "rule": alert["rule"],
        "severity": alert["severity"],
        "meter_id": alert["meter_id"],
        "household_id": alert.get("household_id"),
        "ts": _time(alert.get("ts")),
        "kwh": alert.get("kwh"),
        "sim_clock": _time(alert.get("sim_clock")),
        "message": alert["message"],
    }
    return (alert["meter_id"] or "").encode(), json.dumps(doc, separators=(",", ":")).encode()


def dead_letter_headers(
    source_topic: str, partition: int, offset: int, reason: str
) -> list[tuple[str, bytes]]:
    """Kafka headers of a dead letter: the reason and the source position (its identity)."""
    return [
        ("wattlake-reason", reason.encode()),
        ("wattlake-source-topic", source_topic.encode()),
        ("wattlake-source-partition", str(partition).encode()),
        ("wattlake-source-offset", str(offset).encode()),
    ]


class Publisher:
    """An idempotent producer for the runner's output topics (module doc)."""

    def __init__(self, bootstrap: str, **config: Any) -> None:
        from confluent_kafka import Producer

        self.bootstrap = bootstrap
        self.failed: list[str] = []

        def on_error(err: Any, msg: Any) -> None:
            if err is not None:
                self.failed.append(f"{msg.topic()}: {err}")

        conf = producer_config(
            bootstrap, **{"linger.ms": 5, "delivery.report.only.error": True, **config}
        )
        conf["on_delivery"] = on_error
        self.producer = Producer(conf)

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any = None) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers)
                return
            except BufferError:  # local queue full: let the broker catch up
                self.producer.poll(0.05)

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until everything sent is acknowledged; `KafkaUnavailableError` otherwise."""
        left = self.producer.flush(timeout_s)
        if left or self.failed:
            why = self.failed[0] if self.failed else f"{left} not acknowledged in {timeout_s} s"
            self.failed = []
            raise KafkaUnavailableError(f"publishing to Kafka at {self.bootstrap} failed: {why}")


# Set KEYS[1] to ARGV[2] unless it holds a newer version (field `at`, a number in ARGV[1]).
_NEWER = """
local cur = redis.call('HGET', KEYS[1], 'at')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'json', ARGV[2])
return 1
"""


class RedisState:
    """The latest stream state in Redis (module doc). Keys (`prefix` = `wattlake:` + the
    topic prefix): `<prefix>aggregate5:<household_id>:<channel>` and `<prefix>anomaly:latest`,
    `<prefix>anomaly:meter:<meter_id>`: hashes with `at` (epoch seconds of the window start /
    the reading's time) and `json` (the message body as on Kafka)."""

    def __init__(self, url: str, prefix: str = "wattlake:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self.prefix = prefix
        self._script = self.client.register_script(_NEWER)

    def update(self, windows: pa.Table, anomalies: Iterable[dict[str, Any]]) -> int:
        """Write each window (`stream.aggregates_5min` rows) and anomaly (as for
        `anomaly_message`) where it is newer; returns how many keys were written."""
        pipe = self.client.pipeline(transaction=False)
        n = 0
        channels = windows["channel"].to_pylist() if windows.num_rows else []
        for (household, body, at), channel in zip(window_messages(windows), channels, strict=True):
            key = f"{self.prefix}aggregate5:{household.decode()}:{channel}"
            self._script(keys=[key], args=[at, body.decode()], client=pipe)
            n += 1
        for a in anomalies:
            text = anomaly_message(a)[1].decode()
            when = _epoch(a.get("ts") or a["alert_ts"])
            self._script(keys=[f"{self.prefix}anomaly:latest"], args=[when, text], client=pipe)
            if a["meter_id"]:
                key = f"{self.prefix}anomaly:meter:{a['meter_id']}"
                self._script(keys=[key], args=[when, text], client=pipe)
            n += 1
        if n:
            pipe.execute()
        return n

    def close(self) -> None:
        self.client.close()


__all__ = [
    "Publisher",
    "RedisState",
    "anomaly_id",
    "anomaly_message",
    "dead_letter_headers",
    "window_messages",
]
