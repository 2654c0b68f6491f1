"""`wattlake stream status`: where the stream runner is, per partition.

The committed position and counters come from the lake (`ops.stream_offsets`, written with
every micro-batch); the end of each partition and the group's offsets as Kafka knows them
(committed after the lake, for other tools) come from the broker. Lag = end offset − the
lake's committed offset: what the runner has not processed yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.stream.clients import KafkaUnavailableError, client_config


def _epoch(t: dt.datetime | None) -> float | None:
    return None if t is None else t.timestamp()


def kafka_positions(
    bootstrap: str, group: str, topic: str, timeout_s: float = 15.0
) -> dict[int, tuple[int, int | None]]:
    """Partition → (end offset, the group's committed offset in Kafka or None)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer(client_config(bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        try:
            meta = c.list_topics(topic, timeout=timeout_s).topics.get(topic)
        except KafkaException as exc:
            raise KafkaUnavailableError(f"Kafka at {bootstrap} is not reachable ({exc})") from None
        if meta is None or meta.error is not None or not meta.partitions:
            return {}
        parts = sorted(meta.partitions)
        committed = c.committed([TopicPartition(topic, p) for p in parts], timeout=timeout_s)
        out = {}
        for tp in committed:
            end = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout_s)
            out[tp.partition] = (int(end[1]), tp.offset if tp.offset >= 0 else None)
        return out
    finally:
        c.close()


def status_rows(
    lake: Lake,
    group: str,
    topic: str,
    kafka: dict[int, tuple[int, int | None]] | None,
) -> list[dict[str, Any]]:
    """One row per partition (the lake's and Kafka's partitions): offsets, lag, counters,
    throughput, clocks. `kafka`: `kafka_positions` (None: broker not asked)."""
    rows = {
        r["partition"]: r
        for r in lake.read(cat.OPS_STREAM_OFFSETS).to_pylist()
        if r["group_id"] == group and r["topic"] == topic
    }
    out = []
    for p in sorted(set(rows) | set(kafka or {})):
        r = rows.get(p, {})
        end, in_kafka = (kafka or {}).get(p, (None, None))
        nxt = r.get("next_offset")
        out.append(
            {
                "group": group,
                "topic": topic,
                "partition": p,
                "next_offset": nxt,
                "kafka_committed": in_kafka,
                "end_offset": end,
                "lag": None if end is None else end - (nxt or 0),
                "messages_total": r.get("messages_total"),
                "readings_total": r.get("readings_total"),
                "dead_letters_total": r.get("dead_letters_total"),
                "duplicates_total": r.get("duplicates_total"),
                "messages_per_s": r.get("messages_per_s"),
                "batch_seconds": r.get("batch_seconds"),
                "stream_clock": r.get("stream_clock"),
                "stream_clock_s": _epoch(r.get("stream_clock")),
                "committed_at": r.get("committed_at"),
                "committed_at_s": _epoch(r.get("committed_at")),
                "batch_id": r.get("batch_id"),
            }
        )
    return out


__all__ = ["kafka_positions", "status_rows"]
