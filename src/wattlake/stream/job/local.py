"""`wattlake stream run --engine duckdb`: a Kafka consumer loop feeding micro-batches to the
`StreamProcessor`, with the silver step beside it (`settle.Settler`).

- Every partition of the topic is assigned to the runner (one runner per lake; no group
  membership, so a restarted runner never waits for a killed one to leave a group) and
  positioned at the offset the lake holds (`ops.stream_offsets`); a partition the lake has
  never seen starts at the beginning of the topic (`start="earliest"`) or at its end
  (`"latest"`). No auto-commit, `isolation.level=read_committed`; the consumer group
  `StreamConfig.group` (default `wattlake-stream`) names the offsets in the lake and in Kafka.
- A micro-batch is what arrives until `max_messages` messages or `max_wait_ms` after its
  first message. After the processor's commit the offsets are also committed to Kafka
  (asynchronously: for lag monitoring by other tools; the lake's offsets are the truth).
- A micro-batch that fails (Kafka or the lake unavailable, e.g. a broker restart) is
  retried as it is, with growing waits, up to `retries` times; then the runner stops with
  the error (nothing of the batch is committed).
- Stops on SIGTERM/SIGINT (`stop` event): the micro-batch in hand is finished and
  committed, then silver is settled once more; with `until_idle_s`, when no message came for
  that long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattlake.context import Context
from wattlake.errors import WattlakeError
from wattlake.logs import get_logger
from wattlake.stream import outputs
from wattlake.stream.clients import KafkaUnavailableError, client_config
from wattlake.stream.decode import messages_table
from wattlake.stream.job.micro import BatchReport, StreamConfig, StreamProcessor
from wattlake.stream.job.settle import Settler, refresh, users_ready
from wattlake.stream.topics import ensure_topics, topic_specs


@dataclass(frozen=True)
class RunOptions:
    """How the local runner batches, stops and settles."""

    max_messages: int = 200_000
    max_wait_ms: int = 250
    until_idle_s: float | None = None
    settle_every_s: float = 10.0
    start: str = "earliest"  # where a partition unknown to the lake starts
    retries: int = 8
    partitions: int = 4  # of topics created when missing


@dataclass
class RunSummary:
    """What a run did."""

    batches: int = 0
    messages: int = 0
    readings: int = 0
    landed: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    windows_final: int = 0
    alerts: int = 0
    seconds: float = 0.0
    settles: int = 0
    stopped_by: str = ""
    reports: list[BatchReport] = field(default_factory=list)

    def add(self, r: BatchReport) -> None:
        self.batches += 1
        self.messages += r.messages
        self.readings += r.readings
        self.landed += r.landed
        self.duplicates += r.duplicates
        self.dead_letters += r.dead_letters
        self.windows_final += r.windows_final
        self.alerts += r.alerts


def consumer_config(bootstrap: str, group: str, start: str) -> dict[str, Any]:
    """librdkafka settings of the stream consumer."""
    return client_config(
        bootstrap,
        **{
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest" if start == "earliest" else "latest",
            "enable.partition.eof": False,
            "fetch.min.bytes": 1,
            "fetch.wait.max.ms": 50,
            "queued.max.messages.kbytes": 262_144,
        },
    )


def _retrying(fn: Callable[[], Any], seconds: float = 120.0) -> Any:
    """`fn()`, tried again while Kafka answers with an error (a broker that just started,
    or a partition whose leader is moving: "not leader") for up to `seconds`."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(f"Kafka did not answer: {exc}") from None
            time.sleep(0.5)


def _assignment(consumer: Any, topic: str, proc: StreamProcessor, start: str) -> list[Any]:
    """Every partition of `topic`, at the offset the lake holds (else `start`). The runner
    assigns partitions itself rather than joining a group: there is one runner per lake, and
    a restarted runner must not wait for the group to give up a killed member."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

    meta = _retrying(lambda: consumer.list_topics(topic, timeout=30).topics[topic])
    out = []
    for p in sorted(meta.partitions):
        known = proc.offsets.parts.get(p)
        if known is not None:
            offset = known.next_offset
        else:
            offset = OFFSET_BEGINNING if start == "earliest" else OFFSET_END
        out.append(TopicPartition(topic, p, offset))
    return out


def _with_messages(consumer: Any, assignment: list[Any]) -> set[int]:
    """The assigned partitions that have messages after their starting offset."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END

    def ends(tp: Any) -> tuple[int, int]:
        return _retrying(lambda: consumer.get_watermark_offsets(tp, timeout=30))

    out = set()
    for tp in assignment:
        low, high = ends(tp)
        start = {OFFSET_BEGINNING: low, OFFSET_END: high}.get(tp.offset, tp.offset)
        if high > start:
            out.add(tp.partition)
    return out


def _collect(consumer: Any, opts: RunOptions, stop: threading.Event) -> list[Any]:
    """Messages until `max_messages`, or `max_wait_ms` after the first one (or stop)."""
    got: list[Any] = []
    deadline: float | None = None
    while len(got) < opts.max_messages and not stop.is_set():
        wait = 0.5 if deadline is None else max(0.0, deadline - time.monotonic())
        msgs = consumer.consume(min(opts.max_messages - len(got), 50_000), timeout=wait)
        for m in msgs:
            if m.error() is None:
                got.append(m)
        if got and deadline is None:
            deadline = time.monotonic() + opts.max_wait_ms / 1000
        if deadline is not None and time.monotonic() >= deadline:
            break
        if not got and not msgs:
            break  # nothing within half a second: let the caller look at idleness
    return got


def start_processor(
    ctx: Context,
    config: StreamConfig,
    opts: RunOptions,
    on_settled: Callable[[list[str], float], None] | None = None,
) -> tuple[StreamProcessor, Settler]:
    """What both runners start with: the topics, the processor with its publisher (and Redis
    state when `WATTLAKE_REDIS_URL` is set) primed from the lake, and the silver step beside
    it (not started yet) handing its refreshed state to the processor."""
    bootstrap = ctx.settings.kafka_bootstrap
    ensure_topics(bootstrap, topic_specs(opts.partitions, config.prefix))
    redis = (
        outputs.RedisState(ctx.settings.redis_url, f"wattlake:{config.prefix}")
        if ctx.settings.redis_url
        else None
    )
    proc = StreamProcessor(ctx, config, publisher=outputs.Publisher(bootstrap), redis=redis)
    users_ready(ctx)
    proc.start(refresh(ctx))

    def hand_over(r: Any) -> None:
        proc.pending = r

    return proc, Settler(ctx.settings, opts.settle_every_s, hand_over, on_settled)


def run_local(
    ctx: Context,
    config: StreamConfig,
    opts: RunOptions,
    *,
    stop: threading.Event | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
    on_settled: Callable[[list[str], float], None] | None = None,
    keep_reports: bool = False,
) -> RunSummary:
    """Consume `config.topic` until stopped (module doc)."""
    from confluent_kafka import Consumer, TopicPartition

    stop = stop or threading.Event()
    log = get_logger(component="stream", group=config.group, topic=config.topic)
    bootstrap = ctx.settings.kafka_bootstrap
    proc, settler = start_processor(ctx, config, opts, on_settled)
    consumer = Consumer(consumer_config(bootstrap, config.group, opts.start))

    assignment = _assignment(consumer, config.topic, proc, opts.start)
    consumer.assign(assignment)
    proc.waiting = _with_messages(consumer, assignment)
    summary = RunSummary()
    t0 = time.monotonic()
    idle_since = time.monotonic()
    settler.start()
    try:
        while not stop.is_set():
            settler.poll()
            if settler.error is not None:
                raise WattlakeError(f"the silver step failed: {settler.error}")
            msgs = _collect(consumer, opts, stop)
            if not msgs:
                if opts.until_idle_s is not None and (
                    time.monotonic() - idle_since >= opts.until_idle_s
                ):
                    summary.stopped_by = "idle"
                    break
                continue
            idle_since = time.monotonic()
            table = messages_table(
                [m.partition() for m in msgs],
                [m.offset() for m in msgs],
                [m.key() for m in msgs],
                [m.value() for m in msgs],
            )
            report = _process_with_retries(proc, table, opts.retries, log)
            summary.add(report)
            if keep_reports:
                summary.reports.append(report)
            if on_batch is not None:
                on_batch(report)
            if report.readings:
                settler.landed()
            offsets = [
                TopicPartition(config.topic, p, s.next_offset)
                for p, s in proc.offsets.parts.items()
            ]
            try:
                consumer.commit(offsets=offsets, asynchronous=True)
            except Exception as exc:  # the lake holds the truth; Kafka's copy is for tools
                log.warning("kafka_commit_failed", error=repr(exc))
            log.info(
                "batch",
                batch=report.batch_ids[:1],
                messages=report.messages,
                landed=report.landed,
                seconds=round(report.seconds, 3),
            )
        else:
            summary.stopped_by = summary.stopped_by or "signal"
    finally:
        consumer.close()
        settler.stop(final=True)
        summary.settles = settler.passes
        proc.close()
        if proc.redis is not None:
            proc.redis.close()
    summary.seconds = time.monotonic() - t0
    return summary


def _process_with_retries(proc: StreamProcessor, table: Any, retries: int, log: Any) -> BatchReport:
    """`proc.process(table)`, retried after 1, 2, 4 … 30 s on an error (idempotent)."""
    for attempt in range(retries + 1):
        try:
            return proc.process(table)
        except (KafkaUnavailableError, OSError, RuntimeError) as exc:
            if attempt == retries:
                raise
            wait = min(30.0, 2.0**attempt)
            log.warning("batch_retry", error=repr(exc), attempt=attempt + 1, in_s=wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


__all__ = ["RunOptions", "RunSummary", "consumer_config", "run_local"]
