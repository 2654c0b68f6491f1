"""`wattlake stream run --engine spark`: Spark Structured Streaming's Kafka source and
`foreachBatch`, calling the same `StreamProcessor` as the local runner, on the Spark engine.

- Source: `spark.readStream.format("kafka")` on the topic (`spark-sql-kafka-0-10_2.13`
  4.0.0, jars from `scripts/jars.sh spark`), `kafka.isolation.level=read_committed`, at most
  `max_messages` per trigger, a trigger every `max_wait_ms`. A new query starts at the
  lake's offsets (`ops.stream_offsets`, else the beginning or end of the topic); Spark's
  checkpoint (`<home>/stream/spark-checkpoint/<group>`) then keeps its position.
- `foreachBatch(df, batch_id)`: the micro-batch's partition, offset, key and value as Arrow
  → `StreamProcessor.process`: landing, the live VEE and the window plans run as Ibis
  expressions on the Spark engine (the same session); Delta is written by the lake layer
  (delta-rs), as in every other part of wattlake. Spark replays a batch whose commit it had
  not recorded with the same data, and `process` is idempotent, so a restart after a crash
  gives the same tables.
- The silver step runs beside it (`settle.Settler`) on the Spark engine too.

Requires PySpark 4.0 and Java 17 (`pip install 'wattlake[spark]'`).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from wattlake.context import Context
from wattlake.errors import WattlakeError
from wattlake.logs import get_logger
from wattlake.stream.job.local import RunOptions, RunSummary, start_processor
from wattlake.stream.job.micro import BatchReport, StreamConfig, StreamProcessor

# Streaming settings of the session (runtime SQL settings; the session itself is the
# engine's: Delta, the Kafka connector and the lake's S3 settings come with its jars).
STREAM_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def starting_offsets(topic: str, partitions: list[int], proc: StreamProcessor, start: str) -> str:
    """`startingOffsets` of a new query (Spark wants every partition): the lake's offsets
    where it has them, else -2 (earliest) or -1 (latest)."""
    default = -2 if start == "earliest" else -1
    known = proc.offsets.parts
    return json.dumps(
        {topic: {str(p): known[p].next_offset if p in known else default for p in partitions}}
    )


def run_spark(
    ctx: Context,
    config: StreamConfig,
    opts: RunOptions,
    *,
    stop: threading.Event | None = None,
    on_batch: Any = None,
    on_settled: Any = None,
) -> RunSummary:
    """Consume `config.topic` with Structured Streaming until stopped (module doc)."""
    stop = stop or threading.Event()
    log = get_logger(component="stream", engine="spark", topic=config.topic)
    bootstrap = ctx.settings.kafka_bootstrap
    if ctx.engine.name != "spark":
        raise WattlakeError("run_spark needs a context whose engine is spark")
    spark = ctx.engine.spark  # type: ignore[attr-defined]  # SparkEngine's session
    for key, value in STREAM_CONF.items():
        spark.conf.set(key, value)
    proc, settler = start_processor(ctx, config, opts, on_settled)
    partitions, proc.waiting = _partitions(bootstrap, config.topic, proc, opts.start)
    summary = RunSummary()
    last_data = [time.monotonic()]
    failure: list[BaseException] = []

    def each(df: Any, batch_id: int) -> None:
        table = df.select("partition", "offset", "key", "value").toArrow()
        if table.num_rows == 0:
            return
        try:
            report: BatchReport = proc.process(table)
        except BaseException as exc:  # surfaces through the query (and is kept for the loop)
            failure.append(exc)
            raise
        last_data[0] = time.monotonic()
        summary.add(report)
        if report.readings:
            settler.landed()
        if on_batch is not None:
            on_batch(report)
        log.info("batch", spark_batch=batch_id, messages=report.messages, seconds=report.seconds)

    checkpoint = ctx.settings.home / "stream" / "spark-checkpoint" / config.group
    source = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", config.topic)
        .option("startingOffsets", starting_offsets(config.topic, partitions, proc, opts.start))
        .option("maxOffsetsPerTrigger", str(opts.max_messages))
        .option("kafka.isolation.level", "read_committed")
        .option("failOnDataLoss", "false")
        .load()
    )
    t0 = time.monotonic()
    settler.start()
    query = (
        source.writeStream.foreachBatch(each)
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime=f"{max(opts.max_wait_ms, 100)} milliseconds")
        .start()
    )
    try:
        while not stop.is_set() and query.isActive:
            settler.poll()
            if settler.error is not None:
                raise WattlakeError(f"the silver step failed: {settler.error}")
            idle = time.monotonic() - last_data[0]
            if (
                opts.until_idle_s is not None
                and idle >= opts.until_idle_s
                and _drained(query, proc)
            ):
                summary.stopped_by = "idle"
                break
            time.sleep(0.2)
        else:
            summary.stopped_by = summary.stopped_by or ("signal" if stop.is_set() else "query")
    finally:
        query.stop()
        settler.stop(final=not failure)
        summary.settles = settler.passes
        proc.close()
        if proc.redis is not None:
            proc.redis.close()
    if failure:
        raise WattlakeError(f"a micro-batch failed: {failure[0]!r}")
    summary.seconds = time.monotonic() - t0
    return summary


def _drained(query: Any, proc: StreamProcessor) -> bool:
    """No batch running and the lake's offsets at the end of every partition Spark saw."""
    progress = query.lastProgress
    if query.status.get("isTriggerActive"):
        return False
    if not progress:
        return True
    for src in progress.get("sources", []):
        latest = src.get("latestOffset") or {}
        for topic_parts in latest.values() if isinstance(latest, dict) else []:
            for p, end in topic_parts.items():
                done = proc.offsets.parts.get(int(p))
                if done is None or done.next_offset < int(end):
                    return False
    return True


def _partitions(
    bootstrap: str, topic: str, proc: StreamProcessor, start: str
) -> tuple[list[int], set[int]]:
    """The topic's partitions, and those with messages after where the runner starts
    (`local._with_messages`)."""
    from confluent_kafka import Consumer, TopicPartition

    from wattlake.stream.clients import client_config

    c = Consumer(client_config(bootstrap, **{"group.id": "wattlake-stream-meta"}))
    try:
        meta = c.list_topics(topic, timeout=30).topics[topic]
        waiting = set()
        for p in meta.partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            known = proc.offsets.parts.get(p)
            begin = known.next_offset if known else (low if start == "earliest" else high)
            if high > begin:
                waiting.add(p)
        return sorted(meta.partitions), waiting
    finally:
        c.close()


__all__ = ["run_spark", "starting_offsets"]
