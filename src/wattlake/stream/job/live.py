"""The live VEE: silver's rules (`transforms.silver.classify`) on each micro-batch and the
recent bronze rows of the stream, for the verdicts the stream needs at once.

The stream needs, per reading and within a second: kWh, and whether a rejecting rule holds it
back (units, physical limits, live timestamp sanity, a second reading for an interval). These
rules look at one reading, its meter's cadence and the earlier readings of its interval, all
within the last hours. So each micro-batch is classified together with the bronze rows that
arrived within `context_hours` (stream clock) before it, kept in memory (loaded from bronze at
start), by the same `classify` a `wattlake run` uses, compiled once (DuckDB) and run per
batch. The rules that need days of history (runs, 7-day variance, neighbours) and the gaps
come with the silver step itself (`job.settle`), which judges the same rows again with
their full history and writes silver; it gives the same rejecting verdicts except where a
meter's cadence is not yet known from its first readings (see DATA_DICTIONARY).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.engine import DuckDBEngine, Engine, Prepared
from wattlake.lake import catalog as cat
from wattlake.lake.spec import conform
from wattlake.transforms.calendar import uk_holidays
from wattlake.transforms.silver import classify
from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import column

# What the stream keeps of each judged reading.
JUDGED_COLUMNS = (
    "meter_id",
    "ts",
    "kwh",
    "kw",
    "interval_minutes",
    "rejected",
    "negative",
    "quality_score",
    "_record_id",
    "_batch_id",
    "_ingested_at",
)
# Enough for every rejecting verdict: a reading not already too old for the live timestamp
# sanity (± 60 min) has any earlier reading of its interval, and its meter's last steps,
# within the last two hours of arrivals; so are all on-time readings of its 5-minute window
# (they arrive within window end + watermark delay + allowed lateness, 70 minutes).
DEFAULT_CONTEXT_HOURS = 2.0
_ids = itertools.count(1)


def _judged(t: ir.Table) -> ir.Table:
    return t.select(
        meter_id=t.meter_id,
        ts=t.ts,
        kwh=t.kwh,
        kw=t.kw,
        interval_minutes=t.interval_minutes,
        rejected=t.rejected,
        negative=t[column("negative")],
        quality_score=t.quality_score,
        _record_id=t._record_id,
        _batch_id=t._batch_id,
        _ingested_at=t._ingested_at,
    )


def engine_table(engine: Engine, name: str, data: pa.Table) -> ir.Table:
    """`data` as a table of `engine` named `name` (replacing an earlier one)."""
    if isinstance(engine, DuckDBEngine):
        engine.con.con.register(name, data)
        return engine.con.table(name)
    return engine.con.create_view(name, ibis.memtable(data), overwrite=True)


class LiveVee:
    """Classifies micro-batches with their recent context (module doc)."""

    def __init__(
        self,
        engine: Engine,
        profile: VeeProfile,
        *,
        context_hours: float = DEFAULT_CONTEXT_HOURS,
        registry: list[str] | None = None,
        vacant: list[str] | None = None,
    ) -> None:
        self.engine, self.profile = engine, profile
        self.context_hours = context_hours
        self.registry, self.vacant = registry, vacant
        self.context = self._empty()
        self._name = f"wl_live_{next(_ids)}"
        self._plan: Prepared | None = None
        self._years: tuple[int, int] | None = None

    @staticmethod
    def _empty() -> pa.Table:
        return conform(cat.BRONZE_READINGS.arrow_schema.empty_table(), cat.BRONZE_READINGS)

    def configure(self, registry: list[str] | None, vacant: list[str] | None) -> None:
        """New registry / vacant lists (the plan is compiled again on the next batch)."""
        if (registry, vacant) != (self.registry, self.vacant):
            self.registry, self.vacant = registry, vacant
            self._close_plan()

    def _close_plan(self) -> None:
        if self._plan is not None:
            self._plan.close()
        self._plan = None

    def _plan_for(self, years: tuple[int, int]) -> Prepared:
        if (
            self._plan is None
            or self._years is None
            or not (self._years[0] <= years[0] and years[1] <= self._years[1])
        ):
            self._close_plan()
            self._years = (years[0] - 1, years[1] + 1)
            holidays = uk_holidays(*self._years)
            source = engine_table(self.engine, self._name, self._empty())

            def build(src: ir.Table, checkpoint: Any) -> ir.Table:
                return _judged(
                    classify(
                        src,
                        self.profile,
                        holidays,
                        registry=self.registry,
                        vacant=self.vacant,
                        checkpoint=checkpoint,
                    )
                )

            self._plan = self.engine.prepare(build, source)
        return self._plan

    def load_context(self, bronze: pa.Table) -> None:
        """Start from these bronze rows (the recent arrivals, `recent_bronze_sql`)."""
        self.context = conform(bronze, cat.BRONZE_READINGS)
        self._evict()

    def _evict(self, before: dt.datetime | None = None) -> None:
        """Drop context rows that arrived more than `context_hours` before `before` (default:
        the latest arrival in the context)."""
        if self.context.num_rows == 0:
            return
        latest = before or pc.max(self.context["_ingested_at"]).as_py()
        if latest is None:
            return
        keep_from = latest - dt.timedelta(hours=self.context_hours)
        mask = pc.fill_null(pc.greater_equal(self.context["_ingested_at"], keep_from), False)
        self.context = self.context.filter(mask)

    def judge(self, rows: pa.Table) -> pa.Table:
        """Judge bronze rows (`bronze.meter_readings` layout, with lineage and `_record_id`)
        with the context; returns `JUDGED_COLUMNS` of the context and the new rows (a record
        already in the context keeps its stored version), `ts` naive UTC. The new rows join
        the context; rows older than `context_hours` before the latest arrival leave it."""
        rows = conform(rows, cat.BRONZE_READINGS)
        if self.context.num_rows:
            known = pc.is_in(rows["_record_id"], self.context["_record_id"])
            rows = rows.filter(pc.invert(known))
        if rows.num_rows:
            ids = rows["_record_id"].combine_chunks()
            rows = rows.take(pc.index_in(pc.unique(ids), ids))  # unique keeps first ones
            self._evict(pc.min(rows["_ingested_at"]).as_py())
        self.context = pa.concat_tables([self.context, rows]).combine_chunks()
        if self.context.num_rows == 0:
            return pa.table({c: [] for c in JUDGED_COLUMNS})
        last = pc.max(self.context["_ingested_at"]).as_py()
        first = pc.min(self.context["_ingested_at"]).as_py()
        plan = self._plan_for((first.year, last.year))
        out = self.engine.to_arrow(plan.run(engine_table(self.engine, self._name, self.context)))
        self._evict()
        return out

    def close(self) -> None:
        self._close_plan()


def recent_bronze_sql(path: str, hours: float) -> str:
    """SQL of the bronze rows that arrived (stream clock) within `hours` of the latest
    stream arrival (`_format` = kafka), for `LiveVee.load_context`."""
    return f"""
        WITH b AS (SELECT * FROM delta_scan('{path}') WHERE _format = 'kafka')
        SELECT * FROM b
        WHERE _ingested_at >= (SELECT max(_ingested_at) FROM b)
            - INTERVAL '{round(hours * 3600)} seconds'
    """
