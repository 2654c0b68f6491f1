"""Kafka client settings (confluent-kafka / librdkafka) shared by the simulator, the topic
admin and the tests.

Producer defaults are tuned for throughput on one small machine (measured with the
simulator, see docs/RUNBOOK.md): lz4 compression, 20 ms linger, batches up to 1 MB,
idempotent delivery (acks=all; the broker drops the producer's own retries, so a re-send
on the topic is always one the simulator meant). Keys are hashed with `murmur2_random`,
the Java client's partitioner, so Spark or any Java producer puts a meter's events in the
same partition as this client does.
"""

from __future__ import annotations

import logging
from typing import Any

from wattlake.errors import WattlakeError

CLIENT_ID = "wattlake"
log = logging.getLogger("wattlake.stream.kafka")

PRODUCER_DEFAULTS: dict[str, Any] = {
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 262_144,
    "enable.idempotence": True,
    "acks": "all",
    "partitioner": "murmur2_random",
    "message.timeout.ms": 120_000,
}


class KafkaUnavailableError(WattlakeError):
    """The broker cannot be reached or refused an operation (one line for the CLI)."""


def client_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """Common settings: bootstrap servers, client id, librdkafka logs through `logging`."""
    return {
        "bootstrap.servers": bootstrap,
        "client.id": CLIENT_ID,
        "logger": log,
        "log.connection.close": False,
        **extra,
    }


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """`client_config` + `PRODUCER_DEFAULTS` (+ `extra`, which wins)."""
    return client_config(bootstrap, **{**PRODUCER_DEFAULTS, **extra})


def admin_client(bootstrap: str, timeout_s: float = 15.0) -> Any:
    """An `AdminClient` on a reachable broker; `KafkaUnavailableError` when none answers within
    `timeout_s` seconds."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(client_config(bootstrap))
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailableError(
            f"Kafka at {bootstrap} is not reachable ({_kafka_reason(exc)}); "
            "start one with scripts/kafka.sh start or set WATTLAKE_KAFKA_BOOTSTRAP"
        ) from None
    return admin


def _kafka_reason(exc: BaseException) -> str:
    err = exc.args[0] if exc.args else exc
    text = err.str() if hasattr(err, "str") else str(err)
    return " ".join(str(text).split())


__all__ = [
    "PRODUCER_DEFAULTS",
    "KafkaUnavailableError",
    "admin_client",
    "client_config",
    "producer_config",
]
