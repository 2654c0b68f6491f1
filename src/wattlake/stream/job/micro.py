"""One micro-batch of `energy-meters`, processed exactly once in effect.

`StreamProcessor.process(messages)` (the local runner and Spark's `foreachBatch` both call
it):

1. decode (`stream.decode`): readings in bronze's raw layout, invalid messages with reasons;
2. land through the one landing path (`landing.land`): one `Batch` per partition
   (`source` = `kafka://<topic>/<partition>`, `_row_number` = offset, `_ingested_at` = the
   event's `sim_clock`, `_format` = `kafka`, batch id `k<partition>-<first>-<last offset>`),
   de-duplicated on `_record_id` (an exact re-send, or a message read again after a crash,
   is a duplicate); invalid messages become `ops.dead_letter` rows (source = the partition,
   line = the offset, under a batch id per partition so a re-read merges into the same row);
3. judge the readings with the live VEE (`job.live`: silver's rules on the batch and its
   recent context);
4. recompute the 5-minute aggregates of every (household, channel, window) the batch's
   valid, on-time readings touch, from all judged readings of those windows (a replacement,
   never an added partial, so a replay changes nothing); record late readings; advance the
   watermark and close the windows it passed (`stream.windows`);
5. find anomalies (`observability.alerts.stream_anomalies`, `silent_meter_alerts`);
6. publish dead letters, anomalies and the newly final windows, and wait for Kafka's
   acknowledgements;
7. write `stream.late_readings`, `stream.aggregates_5min` (final windows marked published),
   `ops.alerts`, and last `ops.stream_offsets`: that commit is the commit point. A process
   killed before it reads the same messages again and converges to the same tables; what it
   had published is published again with the same identity and version;
8. the latest state to Redis (when configured).

Silver itself is written by the silver step (`job.settle`), which processes the landed
batches like any other bronze batches.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.context import Context
from wattlake.duck import duckdb_connect
from wattlake.engine import Prepared
from wattlake.lake import catalog as cat
from wattlake.landing import land
from wattlake.logs import get_logger
from wattlake.observability.alerts import (
    as_alert,
    silent_meter_alerts,
    stream_anomalies,
    write_alerts,
)
from wattlake.stream import outputs
from wattlake.stream.decode import decode_readings
from wattlake.stream.job.bronze import (
    batch_id_of,
    bronze_rows,
    dead_batch_id,
    landing_batches,
    partitions,
)
from wattlake.stream.job.live import (
    DEFAULT_CONTEXT_HOURS,
    LiveVee,
    engine_table,
    recent_bronze_sql,
)
from wattlake.stream.job.state import (
    AGG_SCHEMA,
    Offsets,
    Rate,
    date_scope,
    late_rows,
    latest_windows,
    load_open_windows,
    new_window,
    window_changes,
)
from wattlake.stream.topics import (
    ANOMALIES,
    DASHBOARD_UPDATES,
    ENERGY_METERS,
    ENERGY_METERS_DLQ,
    prefixed,
)
from wattlake.stream.windows import (
    WINDOW,
    Timing,
    targets_expr,
    touched_aggregates_expr,
    watermark,
)

HOUSEHOLDS_TABLE = "wl_stream_households"


@dataclass(frozen=True)
class StreamConfig:
    """Consumer group, topic prefix, watermark timing, live VEE context."""

    group: str = "wattlake-stream"
    prefix: str = ""
    timing: Timing = field(default_factory=Timing)
    context_hours: float = DEFAULT_CONTEXT_HOURS

    @property
    def topic(self) -> str:
        return prefixed(ENERGY_METERS, self.prefix)

    @property
    def dlq_topic(self) -> str:
        return prefixed(ENERGY_METERS_DLQ, self.prefix)

    @property
    def dashboard_topic(self) -> str:
        return prefixed(DASHBOARD_UPDATES, self.prefix)

    @property
    def anomalies_topic(self) -> str:
        return prefixed(ANOMALIES, self.prefix)


@dataclass
class Refresh:
    """What the silver step's side hands to the live side between batches."""

    households: pa.Table  # meter_id, household_id, channel
    thresholds: dict[str, float]  # meter → P99.9 kWh
    registry: list[str] | None
    vacant: list[str]


@dataclass
class BatchReport:
    """What one micro-batch did (counts; seconds per stage; for latency, the readings'
    `produced_at` and the wall time of the commit)."""

    batch_ids: list[str]
    messages: int = 0
    readings: int = 0
    landed: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    late: int = 0
    windows_updated: int = 0
    windows_final: int = 0
    alerts: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    produced_at: pa.Array | None = None
    committed_at: float = 0.0


class _Stopwatch:
    """Seconds per stage of a batch."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.stages: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.stages[name] = now - self.last
        self.last = now

    @property
    def total(self) -> float:
        return time.perf_counter() - self.start


class StreamProcessor:
    """The stream's state and the per-batch work (module doc)."""

    def __init__(
        self,
        ctx: Context,
        config: StreamConfig,
        *,
        publisher: outputs.Publisher | None = None,
        redis: outputs.RedisState | None = None,
        wall_clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.ctx, self.config = ctx, config
        self.publisher, self.redis = publisher, redis
        self.wall = wall_clock or (lambda: dt.datetime.now(dt.UTC))
        self.log = get_logger(component="stream")
        self.offsets = Offsets(config.group, config.topic)
        self.rate = Rate()
        self.open = AGG_SCHEMA.empty_table()
        self.con = duckdb_connect(extensions=())  # the runner's own small SQL work
        self.last_seen: dict[str, tuple[dt.datetime, int]] = {}
        self.thresholds: dict[str, float] = {}
        # The context must also hold every on-time reading of an open window.
        hours = max(
            config.context_hours, (config.timing.close_after + WINDOW).total_seconds() / 3600 + 0.5
        )
        self.live = LiveVee(ctx.engine, ctx.profile, context_hours=hours)
        self.pending: Refresh | None = None
        # Partitions with messages to read at start and no stream clock yet (`_watermark`).
        self.waiting: set[int] = set()
        self._plans: dict[str, Prepared] = {}
        self._src = "wl_stream_judged"
        self._mapping: ir.Table | None = None

    # ---- start and refresh ------------------------------------------------------------

    def start(self, refresh: Refresh) -> None:
        """Load the committed state: offsets, open windows, the live context; apply
        `refresh` (households, thresholds, registry)."""
        lake = self.ctx.lake
        self.offsets = Offsets.load(lake, self.config.group, self.config.topic)
        self.open = load_open_windows(lake)
        if lake.exists(cat.BRONZE_READINGS):
            sql = recent_bronze_sql(lake.uri(cat.BRONZE_READINGS), self.live.context_hours)
            self.live.load_context(self.ctx.sql().execute(sql).to_arrow_table())
        self._apply(refresh)

    def _apply(self, r: Refresh) -> None:
        self.thresholds = r.thresholds
        self.live.configure(r.registry, r.vacant)
        mapping = r.households.select(["meter_id", "household_id", "channel"])
        self._mapping = engine_table(self.ctx.engine, HOUSEHOLDS_TABLE, mapping)
        for plan in self._plans.values():
            plan.close()
        self._plans = {}

    def _plan(self, name: str, schema: pa.Schema) -> Prepared:
        """The compiled plan `targets` or `aggregates` over judged rows of `schema`."""
        if name not in self._plans:
            assert self._mapping is not None
            mapping, timing = self._mapping, self.config.timing
            build = targets_expr if name == "targets" else touched_aggregates_expr

            def plan(src: ir.Table, _checkpoint: Any) -> ir.Table:
                return build(src, mapping, timing)

            source = engine_table(self.ctx.engine, self._src, schema.empty_table())
            self._plans[name] = self.ctx.engine.prepare(plan, source)
        return self._plans[name]

    def _run_plan(self, name: str, judged: pa.Table) -> pa.Table:
        plan = self._plan(name, judged.schema)
        src = engine_table(self.ctx.engine, self._src, judged)
        return self.ctx.engine.to_arrow(plan.run(src))

    # ---- one micro-batch ----------------------------------------------------------------

    def process(self, messages: pa.Table) -> BatchReport:
        """Process one micro-batch (`decode.MESSAGES_SCHEMA`, offsets in order per partition)
        and commit it (module doc). On an error nothing of the runner's memory has changed
        (the live context aside, which only de-duplicates), so the batch can be retried."""
        if self.pending is not None:
            self._apply(self.pending)
            self.pending = None
        watch = _Stopwatch()
        cfg, lake = self.config, self.ctx.lake
        decoded = decode_readings(messages)
        watch.lap("decode")
        now = self.wall()
        parts = partitions(messages)
        rows = bronze_rows(self.ctx, decoded.readings, cfg.topic, parts, now)
        batches = landing_batches(rows, decoded.invalid, cfg.topic, parts)
        landed = land(self.ctx, batches, now=now)
        watch.lap("land")
        judged = self.live.judge(rows)
        watch.lap("judge")
        judged = judged.append_column("_target", pc.is_in(judged["_record_id"], rows["_record_id"]))
        targets = self._run_plan("targets", judged)
        recomputed = self._run_plan("aggregates", judged)
        watch.lap("aggregate")

        by_id = {x.batch_id: x for x in landed}
        ids = {p: batch_id_of(p, f, la) for p, (f, la, _) in parts.items()}
        offsets = self.offsets.advanced(
            parts,
            decoded.readings,
            {p: by_id[b].duplicates for p, b in ids.items() if b in by_id},
            {
                p: by_id[d].dead_letters
                for p in parts
                if (d := dead_batch_id(cfg.topic, p)) in by_id
            },
            ids,
        )
        prev_mark = self._watermark(self.offsets)
        mark = self._watermark(offsets)
        stamp = {"updated_at": now, "_batch_id": min(ids.values(), default="")}
        late = targets.filter(pc.fill_null(targets["late"], False))
        counts = None
        if late.num_rows:  # rare: recorded first, so the counts include this batch's
            lake.insert_new(cat.STREAM_LATE_READINGS, late_rows(late))
            counts = self._late_counts(late)
        changes = window_changes(
            self.con, self.open, recomputed, prev_mark, mark, cfg.timing, stamp, counts
        )
        last_seen = copy.copy(self.last_seen)
        anomalies = self._anomalies(targets, mark, now, last_seen)
        watch.lap("windows")
        self._publish(decoded.invalid, anomalies, changes.finals)
        watch.lap("publish")
        spec = cat.STREAM_AGGREGATES
        if changes.write.num_rows:
            values = [c for c in spec.column_names if c not in (*spec.merge_keys, "late_readings")]
            scope = date_scope(pc.unique(changes.write["date"]).to_pylist())
            # a final window keeps what was published; one that only late readings had
            # reached (no readings) takes on-time ones that come after all
            when = "t.is_final = false OR t.readings = 0"
            lake.upsert(spec, changes.write, values, when=when, scope=scope)
        if counts is not None:
            rows_ = [
                new_window((r["household_id"], r["channel"], r["window_start"]))
                | stamp
                | {"late_readings": r["n"], "is_final": True}
                for r in counts.to_pylist()
            ]
            data = pa.Table.from_pylist(rows_, schema=spec.arrow_schema)
            scope = date_scope(data["date"].to_pylist())
            lake.upsert(spec, data, ["late_readings"], scope=scope)
        if anomalies:
            write_alerts(lake, [as_alert(a) for a in anomalies])
        rates = self.rate.add(time.time(), {p: n for p, (_, _, n) in parts.items()})
        for p, st in offsets.parts.items():
            st.messages_per_s = rates.get(p, 0.0)
            st.batch_seconds = watch.total
        offsets.commit(lake, self.wall(), self.ctx.engine.name)
        watch.lap("commit")
        # committed: the new state becomes the runner's
        self.offsets, self.last_seen, self.open = offsets, last_seen, changes.open
        if self.redis is not None:
            self.redis.update(latest_windows(changes.write), anomalies)
            watch.lap("redis")
        return BatchReport(
            sorted(ids.values()),
            messages=messages.num_rows,
            readings=rows.num_rows,
            landed=sum(x.landed for x in landed),
            duplicates=sum(x.duplicates for x in landed),
            dead_letters=decoded.invalid.num_rows,
            late=late.num_rows,
            windows_updated=changes.write.num_rows,
            windows_final=changes.finals.num_rows,
            alerts=len(anomalies),
            seconds=watch.total,
            stages=watch.stages,
            produced_at=decoded.readings["produced_at"].combine_chunks(),
            committed_at=time.time(),
        )

    def _watermark(self, offsets: Offsets) -> dt.datetime | None:
        """The watermark of `offsets`' partition clocks; None while a partition that had
        messages to read when the runner started has not delivered a reading yet (its
        readings could otherwise be behind a watermark that never waited for them)."""
        clocks = offsets.clocks()
        if any(p not in clocks for p in self.waiting):
            return None
        return watermark(clocks, self.config.timing)

    def _anomalies(
        self,
        targets: pa.Table,
        mark: dt.datetime | None,
        now: dt.datetime,
        last_seen: dict[str, tuple[dt.datetime, int]],
    ) -> list[dict[str, Any]]:
        """Anomalies of the batch's readings, and silent meters at the watermark
        (`last_seen` is updated in place: a copy the caller commits)."""
        ts = targets["ts"]
        t = targets.set_column(
            targets.schema.get_field_index("ts"),
            "ts",
            pc.assume_timezone(ts, "UTC") if ts.type.tz is None else ts,
        )
        found = stream_anomalies(t, self.thresholds, None, now)
        g = t.group_by("meter_id").aggregate([("ts", "max"), ("interval_minutes", "max")])
        for r in g.to_pylist():
            seen = last_seen.get(r["meter_id"])
            if r["ts_max"] is not None and (seen is None or r["ts_max"] > seen[0]):
                last_seen[r["meter_id"]] = (r["ts_max"], int(r["interval_minutes_max"] or 30))
        if mark is not None:
            silent = silent_meter_alerts(last_seen, mark, None, now)
            for a in silent:
                del last_seen[a["meter_id"]]
            found += silent
        return found

    def _publish(
        self, invalid: pa.Table, anomalies: list[dict[str, Any]], finals: pa.Table
    ) -> None:
        """Dead letters, anomalies and newly final windows to Kafka; waits for the acks."""
        pub, cfg = self.publisher, self.config
        if pub is None:
            return
        for r in invalid.to_pylist():
            headers = outputs.dead_letter_headers(
                cfg.topic, r["partition"], r["offset"], r["reason"]
            )
            pub.send(cfg.dlq_topic, r["key"], r["value"], headers)
        for a in anomalies:
            pub.send(cfg.anomalies_topic, *outputs.anomaly_message(a))
        for key, value, _ in outputs.window_messages(finals):
            pub.send(cfg.dashboard_topic, key, value)
        if invalid.num_rows or anomalies or finals.num_rows:
            pub.flush()

    def _late_counts(self, late: pa.Table) -> pa.Table:
        """(household_id, channel, window_start, n): late readings per window late readings
        of this batch fell into, counted from `stream.late_readings` (a replay counts each
        reading once)."""
        keys = late.select(["household_id", "channel", "window_start"])
        con = self.ctx.sql()
        con.register("wl_late_keys", keys)
        try:
            return con.execute(
                """SELECT l.household_id, l.channel, l.window_start, count(*) AS n
                   FROM stream.late_readings l
                   SEMI JOIN (SELECT DISTINCT * FROM wl_late_keys) k
                     ON l.household_id = k.household_id AND l.channel = k.channel
                    AND l.window_start = k.window_start
                   GROUP BY ALL"""
            ).to_arrow_table()
        finally:
            con.unregister("wl_late_keys")

    def close(self) -> None:
        for plan in self._plans.values():
            plan.close()
        self.live.close()
        self.con.close()


__all__ = ["BatchReport", "Refresh", "StreamConfig", "StreamProcessor"]
