"""wattlake's Kafka topics: names, keys, partitions, and idempotent creation.

- `energy-meters`: `meter_reading` events, key meter_id (a meter's events stay ordered in
  one partition), `partitions` partitions;
- `energy-meters-dlq`: messages of `energy-meters` that failed validation, with the reason;
  the original key; `partitions` partitions; kept 30 days;
- `spot-prices`: `spot_price` events, key zone, 1 partition;
- `weather-alerts`: `weather_alert` events, key `kind|latitude|longitude`, 1 partition;
- `dashboard-updates`: final 5-minute aggregates (stream runner), key household;
- `anomalies`: anomaly alerts (stream runner), key meter_id.

Every name can carry a prefix (`prefixed`; setting `kafka_topic_prefix`, e.g. `site1.`), so
several pipelines or test runs share one cluster without reading each other's events.

`ensure_topics` creates the missing ones and leaves existing ones as they are (a topic with
fewer partitions than asked is reported, not changed: adding partitions would move keys to
other partitions and break a meter's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wattlake.stream.clients import KafkaUnavailableError, _kafka_reason, admin_client
from wattlake.stream.events import METER_READING, SPOT_PRICE, WEATHER_ALERT

ENERGY_METERS = "energy-meters"
ENERGY_METERS_DLQ = "energy-meters-dlq"
SPOT_PRICES = "spot-prices"
WEATHER_ALERTS = "weather-alerts"
DASHBOARD_UPDATES = "dashboard-updates"
ANOMALIES = "anomalies"

# Which event type each input topic carries (`events.decode(..., expected_type=...)`).
TOPIC_TYPES = {ENERGY_METERS: METER_READING, SPOT_PRICES: SPOT_PRICE, WEATHER_ALERTS: WEATHER_ALERT}
DEFAULT_PARTITIONS = 4
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000  # dead letters wait 30 days for a look


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: name, partitions, what its key is, topic-level configs."""

    name: str
    partitions: int
    key: str
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicStatus:
    """Outcome of `ensure_topics` for one topic: `created` or `exists` (with the partitions
    it has; `wanted` is what the spec asked for)."""

    name: str
    status: str
    partitions: int
    wanted: int


def prefixed(name: str, prefix: str = "") -> str:
    """The topic `name` under `prefix` (`""`: the name itself)."""
    return f"{prefix}{name}"


def topic_specs(partitions: int = DEFAULT_PARTITIONS, prefix: str = "") -> list[TopicSpec]:
    """All topics (names under `prefix`); `partitions` for the per-meter/per-household
    topics (>= 1)."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ValueError(f"partitions must be an integer >= 1, got {partitions!r}")
    p = prefix
    return [
        TopicSpec(prefixed(ENERGY_METERS, p), partitions, "meter_id"),
        TopicSpec(
            prefixed(ENERGY_METERS_DLQ, p),
            partitions,
            "meter_id",
            {"retention.ms": str(DLQ_RETENTION_MS)},
        ),
        TopicSpec(prefixed(SPOT_PRICES, p), 1, "zone"),
        TopicSpec(prefixed(WEATHER_ALERTS, p), 1, "kind|latitude|longitude"),
        TopicSpec(prefixed(DASHBOARD_UPDATES, p), partitions, "household_id"),
        TopicSpec(prefixed(ANOMALIES, p), partitions, "meter_id"),
    ]


def list_topics(bootstrap: str, timeout_s: float = 15.0) -> dict[str, int]:
    """Topic name → partition count, internal topics (`__…`) left out."""
    admin = admin_client(bootstrap, timeout_s)
    meta = admin.list_topics(timeout=timeout_s)
    return {
        name: len(t.partitions)
        for name, t in sorted(meta.topics.items())
        if not name.startswith("__")
    }


def ensure_topics(
    bootstrap: str, specs: list[TopicSpec] | None = None, timeout_s: float = 30.0
) -> list[TopicStatus]:
    """Create the topics of `specs` (default `topic_specs()`) that do not exist yet.

    Idempotent: existing topics are reported as `exists`, never changed. A topic created
    concurrently by another client counts as `exists`. `KafkaUnavailableError` when the broker
    cannot be reached or refuses a creation.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    specs = topic_specs() if specs is None else specs
    admin = admin_client(bootstrap, timeout_s)
    existing = admin.list_topics(timeout=timeout_s).topics
    out: dict[str, TopicStatus] = {}
    new = []
    for s in specs:
        if s.name in existing:
            n = len(existing[s.name].partitions)
            out[s.name] = TopicStatus(s.name, "exists", n, s.partitions)
        else:
            new.append(
                NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=s.config)
            )
    if new:
        futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
        for name, fut in futures.items():
            wanted = next(s.partitions for s in specs if s.name == name)
            try:
                fut.result()
                out[name] = TopicStatus(name, "created", wanted, wanted)
            except KafkaException as exc:
                if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    meta = admin.list_topics(topic=name, timeout=timeout_s).topics[name]
                    out[name] = TopicStatus(name, "exists", len(meta.partitions), wanted)
                else:
                    raise KafkaUnavailableError(
                        f"creating topic {name}: {_kafka_reason(exc)}"
                    ) from None
    created = [name for name, st in out.items() if st.status == "created"]
    if created:
        wait_for_leaders(admin, created, timeout_s)
    return [out[s.name] for s in specs]


def wait_for_leaders(admin: object, names: list[str], timeout_s: float = 30.0) -> None:
    """Return once every partition of `names` has a leader (a topic just created may not
    have one yet; producing to it or reading its offsets would fail with "not leader");
    `KafkaUnavailableError` after `timeout_s` seconds."""
    import time

    deadline = time.monotonic() + timeout_s
    pending = list(names)
    while pending:
        meta = admin.list_topics(timeout=timeout_s).topics  # type: ignore[attr-defined]
        pending = [
            n
            for n in pending
            if n not in meta
            or meta[n].error is not None
            or not meta[n].partitions
            or any(p.leader < 0 or p.error is not None for p in meta[n].partitions.values())
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise KafkaUnavailableError(
                f"topics without a partition leader after {timeout_s:.0f} s: {', '.join(pending)}"
            )
        time.sleep(0.1)


__all__ = [
    "ANOMALIES",
    "DASHBOARD_UPDATES",
    "ENERGY_METERS",
    "ENERGY_METERS_DLQ",
    "SPOT_PRICES",
    "TOPIC_TYPES",
    "WEATHER_ALERTS",
    "TopicSpec",
    "TopicStatus",
    "ensure_topics",
    "list_topics",
    "prefixed",
    "topic_specs",
    "wait_for_leaders",
]
