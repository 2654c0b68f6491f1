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
from wattlake.stream.windows import WINDOW, Timing, is_final

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
OpenWindows = dict[WindowKey, dict[str, Any]]


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


def window_changes(
    open_: OpenWindows,
    recomputed: list[dict[str, Any]],
    prev_mark: dt.datetime | None,
    mark: dt.datetime | None,
    timing: Timing,
    stamp: dict[str, Any],
) -> tuple[OpenWindows, list[dict[str, Any]]]:
    """The rows a micro-batch changes (by key) and those it closes (to publish), without
    touching `open_`: recomputed windows replace their values; every open window the
    watermark `mark` passed becomes final (version 1). A recomputed window already final at
    `prev_mark` was closed by an earlier batch: the table keeps what it published.
    `stamp`: `updated_at` and `_batch_id` of the changed rows."""
    changed: OpenWindows = {}
    for r in recomputed:
        ws = r["window_start"]
        ws = ws.replace(tzinfo=dt.UTC) if ws.tzinfo is None else ws
        if is_final(ws, prev_mark, timing):
            continue
        key = (r["household_id"], r["channel"], ws)
        row = dict(open_.get(key) or new_window(key))
        row.update({c: r[c] for c in AGG_VALUES}, **stamp)
        changed[key] = row
    finals = []
    for key, row in [*open_.items(), *changed.items()]:
        current = changed.get(key, row)
        if not current["is_final"] and is_final(key[2], mark, timing):
            closed = dict(current, is_final=True, final_watermark=mark, published_version=1)
            closed.update(stamp)
            changed[key] = closed
            finals.append(closed)
    return changed, finals


def apply_changes(open_: OpenWindows, changed: OpenWindows) -> None:
    """After the commit: changed windows replace the open ones; final ones leave."""
    for key, row in changed.items():
        if row["is_final"]:
            open_.pop(key, None)
        else:
            open_[key] = row


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


def load_open_windows(lake: Lake) -> dict[WindowKey, dict[str, Any]]:
    """The windows that are not final yet, by key (read once, when the runner starts)."""
    t = lake.read(cat.STREAM_AGGREGATES)
    t = t.filter(pc.invert(pc.fill_null(t["is_final"], False)))
    return {(r["household_id"], r["channel"], r["window_start"]): r for r in t.to_pylist()}


__all__ = [
    "AGG_VALUES",
    "Offsets",
    "OpenWindows",
    "PartitionState",
    "Rate",
    "WindowKey",
    "apply_changes",
    "date_scope",
    "late_rows",
    "load_open_windows",
    "new_window",
    "window_changes",
]
