"""The stream runner's state kept in the lake: offsets per partition (`ops.stream_offsets`,
the commit point) and the open 5-minute windows (`stream.aggregates_5min`, not final).

The functions here compute the next state without changing the current one, so a
micro-batch that fails half-way leaves the runner's memory as it was and can be retried."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.predicates import sql_str
from wattlake.stream.windows import WINDOW, Timing

WindowKey = tuple[str, str, dt.datetime]  # household_id, channel, window_start (UTC)


@dataclass
class PartitionState:
    """One partition's committed position and counters."""

    partition: int
    next_offset: int
    stream_clock: dt.datetime | None = None
    batch_id: str = ""
    messages_total: int = 0
    readings_total: int = 0
    dead_letters_total: int = 0
    duplicates_total: int = 0
    messages_per_s: float = 0.0
    batch_seconds: float = 0.0


class Rate:
    """Messages per second per partition over the last `window_s` seconds (wall clock)."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self.seen: list[tuple[float, dict[int, int]]] = []

    def add(self, now: float, counts: dict[int, int]) -> dict[int, float]:
        """Record a batch's messages per partition committed at `now` (s); the rates over
        the batches since the oldest one kept (empty after the first batch)."""
        self.seen = [(t, c) for t, c in self.seen if t >= now - self.window_s]
        self.seen.append((now, counts))
        if len(self.seen) < 2 or now <= self.seen[0][0]:
            return {}
        total: dict[int, int] = {}
        for _, c in self.seen[1:]:
            for p, n in c.items():
                total[p] = total.get(p, 0) + n
        return {p: n / (now - self.seen[0][0]) for p, n in total.items()}


@dataclass
class Offsets:
    """`ops.stream_offsets` rows of one consumer group and topic."""

    group: str
    topic: str
    parts: dict[int, PartitionState] = field(default_factory=dict)

    @classmethod
    def load(cls, lake: Lake, group: str, topic: str) -> Offsets:
        rows = lake.read(cat.OPS_STREAM_OFFSETS).to_pylist()
        out = cls(group, topic)
        for r in rows:
            if r["group_id"] == group and r["topic"] == topic:
                out.parts[r["partition"]] = PartitionState(
                    r["partition"],
                    r["next_offset"],
                    r["stream_clock"],
                    r["batch_id"] or "",
                    r["messages_total"] or 0,
                    r["readings_total"] or 0,
                    r["dead_letters_total"] or 0,
                    r["duplicates_total"] or 0,
                    r["messages_per_s"] or 0.0,
                    r["batch_seconds"] or 0.0,
                )
        return out

    def advanced(
        self,
        parts: dict[int, tuple[int, int, int]],
        readings: pa.Table,
        duplicates: dict[int, int],
        dead_letters: dict[int, int],
        batch_ids: dict[int, str],
    ) -> Offsets:
        """A copy moved past a micro-batch: `parts` partition → (first, last offset,
        messages); `readings` with `partition` and `sim_clock`; counts per partition."""
        out = Offsets(self.group, self.topic, {p: copy.copy(s) for p, s in self.parts.items()})
        clocks: dict[int, dt.datetime] = {}
        counts: dict[int, int] = {}
        if readings.num_rows:
            g = readings.group_by("partition").aggregate(
                [("sim_clock", "max"), ("sim_clock", "count")]
            )
            for r in g.to_pylist():
                clocks[r["partition"]] = r["sim_clock_max"]
                counts[r["partition"]] = r["sim_clock_count"]
        for p, (first, last, n) in parts.items():
            s = out.parts.setdefault(p, PartitionState(p, first))
            s.next_offset = max(s.next_offset, last + 1)
            s.batch_id = batch_ids[p]
            if p in clocks and (s.stream_clock is None or clocks[p] > s.stream_clock):
                s.stream_clock = clocks[p]
            s.messages_total += n
            s.readings_total += counts.get(p, 0)
            s.duplicates_total += duplicates.get(p, 0)
            s.dead_letters_total += dead_letters.get(p, 0)
        return out

    def clocks(self) -> dict[int, dt.datetime]:
        """Partition → latest stream clock, of the partitions that have had readings."""
        return {p: s.stream_clock for p, s in self.parts.items() if s.stream_clock is not None}

    def commit(self, lake: Lake, now: dt.datetime, engine: str) -> None:
        """Write the positions (one Delta commit): the micro-batch is done."""
        rows = [
            {
                "group_id": self.group,
                "topic": self.topic,
                "partition": s.partition,
                "next_offset": s.next_offset,
                "batch_id": s.batch_id,
                "stream_clock": s.stream_clock,
                "committed_at": now,
                "messages_total": s.messages_total,
                "readings_total": s.readings_total,
                "dead_letters_total": s.dead_letters_total,
                "duplicates_total": s.duplicates_total,
                "messages_per_s": s.messages_per_s,
                "batch_seconds": s.batch_seconds,
                "engine": engine,
            }
            for s in sorted(self.parts.values(), key=lambda s: s.partition)
        ]
        data = pa.Table.from_pylist(rows, schema=cat.OPS_STREAM_OFFSETS.arrow_schema)
        where = f"group_id = {sql_str(self.group)} AND topic = {sql_str(self.topic)}"
        lake.replace_where(cat.OPS_STREAM_OFFSETS, data, where)


AGG_VALUES = ("kwh_sum", "kwh_avg", "kwh_min", "kwh_max", "readings", "meters")
AGG_SCHEMA = cat.STREAM_AGGREGATES.arrow_schema
KEYS = ("household_id", "channel", "window_start")


def new_window(key: WindowKey) -> dict[str, Any]:
    """A `stream.aggregates_5min` row for a window seen for the first time."""
    ws = key[2]
    return {
        "household_id": key[0],
        "channel": key[1],
        "window_start": ws,
        "window_end": ws + WINDOW,
        "date": ws.date(),
        "readings": 0,
        "meters": 0,
        "late_readings": 0,
        "is_final": False,
        "final_watermark": None,
        "published_version": 0,
    }


def _utc(a: Any) -> Any:
    a = pc.cast(a, pa.timestamp("us", a.type.tz))
    return pc.assume_timezone(a, "UTC") if a.type.tz is None else a


def _cut(mark: dt.datetime | None, timing: Timing) -> dt.datetime | None:
    """Windows starting at or before this are final at watermark `mark`."""
    return None if mark is None else mark - WINDOW - timing.lateness


_CHANGES_SQL = """
WITH r AS (
    SELECT * FROM wl_recomputed WHERE $prev_cut IS NULL OR window_start > $prev_cut
), touched AS (
    SELECT r.household_id, r.channel, r.window_start,
        r.window_start + INTERVAL 5 MINUTE AS window_end,
        CAST(r.window_start AS DATE) AS date,
        r.kwh_sum, r.kwh_avg, r.kwh_min, r.kwh_max, r.readings, r.meters,
        coalesce(l.n, o.late_readings, 0) AS late_readings, TRUE AS _touched
    FROM r LEFT JOIN wl_open o USING (household_id, channel, window_start)
    LEFT JOIN wl_late l USING (household_id, channel, window_start)
), untouched AS (
    SELECT o.household_id, o.channel, o.window_start, o.window_end, o.date,
        o.kwh_sum, o.kwh_avg, o.kwh_min, o.kwh_max, o.readings, o.meters,
        coalesce(l.n, o.late_readings) AS late_readings, FALSE AS _touched
    FROM wl_open o ANTI JOIN r USING (household_id, channel, window_start)
    LEFT JOIN wl_late l USING (household_id, channel, window_start)
), both_ AS (SELECT * FROM touched UNION ALL SELECT * FROM untouched)
SELECT *, coalesce(window_start <= $cut, FALSE) AS _closing FROM both_
"""


_NO_LATE = pa.table(
    {
        "household_id": pa.array([], pa.string()),
        "channel": pa.array([], pa.string()),
        "window_start": pa.array([], pa.timestamp("us", "UTC")),
        "n": pa.array([], pa.int64()),
    }
)


def latest_windows(rows: pa.Table) -> pa.Table:
    """The rows of the latest window of each household and channel (for Redis)."""
    if rows.num_rows == 0:
        return rows
    last = rows.group_by(["household_id", "channel"]).aggregate([("window_start", "max")])
    last = last.rename_columns(["household_id", "channel", "window_start"])
    return rows.join(last, list(KEYS), join_type="inner")


@dataclass
class WindowChanges:
    """What a micro-batch does to the windows: `write` (rows to MERGE), `finals` (newly
    final, with readings: to publish), `open` (the open windows after the commit)."""

    write: pa.Table
    finals: pa.Table
    open: pa.Table


def window_changes(
    con: Any,
    open_: pa.Table,
    recomputed: pa.Table,
    prev_mark: dt.datetime | None,
    mark: dt.datetime | None,
    timing: Timing,
    stamp: dict[str, Any],
    late_counts: pa.Table | None = None,
) -> WindowChanges:
    """Recomputed windows replace their values; every open window the watermark `mark`
    passed becomes final (version 1). A recomputed window already final at `prev_mark` was
    closed by an earlier batch: the table keeps what it published. Column-wise in DuckDB
    (`con`, any connection); `open_` is not changed. `stamp`: `updated_at` and `_batch_id`
    of the written rows; `late_counts`: (keys, `n`) late readings per window now."""
    rec = recomputed.select([*KEYS, *AGG_VALUES])
    rec = rec.set_column(2, "window_start", _utc(rec["window_start"]))
    late = late_counts if late_counts is not None else _NO_LATE
    con.register("wl_recomputed", rec)
    con.register("wl_open", open_)
    con.register("wl_late", late.set_column(2, "window_start", _utc(late["window_start"])))
    try:
        out = con.execute(
            _CHANGES_SQL,
            {"prev_cut": _cut(prev_mark, timing), "cut": _cut(mark, timing)},
        ).to_arrow_table()
    finally:
        con.unregister("wl_recomputed")
        con.unregister("wl_open")
        con.unregister("wl_late")
    ts = pa.timestamp("us", "UTC")

    def rows_of(t: pa.Table, final: pa.Array, stamped: bool) -> pa.Table:
        k = t.num_rows
        cols = (*KEYS, "window_end", "date", *AGG_VALUES, "late_readings")
        return pa.table(
            {
                **{c: t[c] for c in cols},
                "is_final": final,
                "final_watermark": pc.if_else(final, pa.scalar(mark, ts), pa.nulls(k, ts)),
                "published_version": pc.cast(final, pa.int32()),
                "updated_at": pa.repeat(pa.scalar(stamp["updated_at"] if stamped else None, ts), k),
                "_batch_id": pa.repeat(
                    pa.scalar(stamp["_batch_id"] if stamped else None, pa.string()), k
                ),
            }
        ).cast(AGG_SCHEMA)

    changed = out.filter(pc.or_(out["_touched"], out["_closing"]))
    write = rows_of(changed, changed["_closing"].combine_chunks(), True)
    finals = write.filter(pc.and_(write["is_final"], pc.greater(write["readings"], 0)))
    kept = out.filter(pc.invert(out["_closing"]))
    # the open windows keep their stored stamps out of memory: only values and keys matter
    open_after = rows_of(kept, pa.repeat(pa.scalar(False), kept.num_rows), False)
    return WindowChanges(write, finals, open_after)


def date_scope(dates: list[dt.date]) -> str | None:
    """A MERGE scope on the `date` partitions of `stream.aggregates_5min`."""
    days = sorted({d.isoformat() for d in dates if d is not None})
    return "t.date IN (" + ", ".join(f"'{d}'" for d in days) + ")" if days else None


def late_rows(late: pa.Table) -> pa.Table:
    """`stream.late_readings` rows of late target readings (`windows.targets_expr`)."""

    def utc(a: Any) -> Any:
        a = pc.cast(a, pa.timestamp("us", a.type.tz))
        return pc.assume_timezone(a, "UTC") if a.type.tz is None else a

    ws = utc(late["window_start"])
    sim = utc(late["sim_clock"])  # naive from Spark (its Arrow times carry no zone)
    ends = pc.add(ws, pa.scalar(WINDOW, pa.duration("us")))
    lateness = pc.divide(pc.cast(pc.subtract(sim, ends), pa.int64()), 1e6)
    return pa.table(
        {
            "_record_id": late["_record_id"],
            "meter_id": late["meter_id"],
            "household_id": late["household_id"],
            "channel": late["channel"],
            "ts": utc(late["ts"]),
            "window_start": ws,
            "sim_clock": sim,
            "lateness_s": lateness,
            "_batch_id": late["_batch_id"],
        }
    )


def load_open_windows(lake: Lake) -> pa.Table:
    """The windows that are not final yet (read once, when the runner starts)."""
    t = lake.read(cat.STREAM_AGGREGATES)
    return t.filter(pc.invert(pc.fill_null(t["is_final"], False))).cast(AGG_SCHEMA)


__all__ = [
    "AGG_SCHEMA",
    "AGG_VALUES",
    "Offsets",
    "PartitionState",
    "Rate",
    "WindowChanges",
    "WindowKey",
    "date_scope",
    "late_rows",
    "latest_windows",
    "load_open_windows",
    "new_window",
    "window_changes",
]
