"""Silver step: bronze meter readings → `silver.meter_readings`, `silver.quarantine`,
`silver.gaps` (the VEE rules of `transforms.silver`), incremental and idempotent.

Progress is kept in `ops.checkpoints` (step `silver`: the bronze batches processed). A run
takes the pending batches, plans its window (`pipeline.plan`), classifies the window's
bronze rows meter chunk by meter chunk, adds the neighbourhood correlation fault, finds and
estimates gaps, and replaces exactly the window's rows with one Delta commit per table.
"""

from __future__ import annotations

import datetime as dt
import time

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.datatypes import DataType

from wattlake.context import Context
from wattlake.engine import Engine
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.predicates import sql_in, sql_ts
from wattlake.lake.spec import TableSpec
from wattlake.observability.alerts import Alert, fault_run_alerts, gap_alerts, write_alerts
from wattlake.pipeline.checkpoints import checkpoint, checkpointed
from wattlake.pipeline.plan import SilverWindow, plan_silver_window
from wattlake.pipeline.runner import Run, StepResult
from wattlake.pipeline.vee_chunks import classify_all
from wattlake.tables import Tables
from wattlake.transforms.calendar import uk_holidays
from wattlake.transforms.parse import parse_timestamp_utc
from wattlake.transforms.silver import (
    accepted_readings,
    estimated_rows,
    gaps,
    quarantine_rows,
    silver_rows,
)
from wattlake.transforms.vee import neighbours as nb
from wattlake.transforms.vee.rules import FAULT_RULES, column

STEP = "silver"
# ops.checkpoints step of operator releases applied to silver (batch id = the released
# reading's `_record_id`).
RELEASE_STEP = "silver_release"


def batch_ids(tables: Tables, spec: TableSpec) -> list[str]:
    """Every `_batch_id` of `spec` (a small driver-side read: one row per batch)."""
    ids = tables.engine.to_arrow(tables.read(spec).select("_batch_id").distinct())
    return sorted(b for b in ids["_batch_id"].to_pylist() if b is not None)


def pending_batches(tables: Tables, lake: Lake, spec: TableSpec, step: str) -> list[str]:
    """Batch ids of `spec` that `step` has not processed yet (sorted)."""
    done = checkpointed(lake, step)
    return [b for b in batch_ids(tables, spec) if b not in done]


def pending_releases(lake: Lake) -> pa.Table:
    """`_record_id, meter_id, ts` of released readings silver has not applied yet."""
    rel = lake.read(cat.OPS_RELEASES, ["_record_id", "meter_id", "ts"])
    done = pa.array(sorted(checkpointed(lake, RELEASE_STEP)), pa.string())
    return rel.filter(pc.invert(pc.is_in(rel["_record_id"], done)))


def _firsts(new: ibis.Table, released: pa.Table, engine: Engine) -> dict[str, dt.datetime]:
    """Meter id → earliest interval to re-judge: of the new bronze rows (`new`, with the
    stripped id `_mid` and parsed `_ts`), and of the released readings."""
    rows = engine.to_arrow(
        new.filter(new._ts.notnull()).group_by(meter_id=new._mid).aggregate(first_ts=new._ts.min())
    ).to_pylist()
    firsts = {r["meter_id"]: r["first_ts"] for r in rows}
    for r in released.to_pylist():
        if r["ts"] is not None:
            seen = firsts.get(r["meter_id"])
            firsts[r["meter_id"]] = r["ts"] if seen is None else min(seen, r["ts"])
    return firsts


def registry(lake: Lake) -> tuple[list[str] | None, list[str]]:
    """Known meter ids (None when no registry is loaded) and the vacant allow-list."""
    reg = lake.read(cat.SILVER_REGISTRY)
    if reg.num_rows == 0:
        return None, []
    vacant = reg.filter(pc.fill_null(reg["vacant"], False))["meter_id"].to_pylist()
    return reg["meter_id"].to_pylist(), vacant


def neighbour_pairs(ctx: Context, run: Run) -> pa.Table:
    """`neighbours.neighbour_pairs` of the meters located by `silver.user_profiles`."""
    users = ctx.tables.read(cat.SILVER_USERS)
    return nb.neighbour_pairs(ctx.engine.to_arrow(nb.meter_locations(users)), run.profile)


def build(ctx: Context, run: Run) -> StepResult:
    """Bronze meter readings → silver, quarantine, gaps (module doc)."""
    t0 = time.perf_counter()
    engine, lake, tables = ctx.engine, ctx.lake, ctx.tables
    res = StepResult(STEP)
    pending = pending_batches(tables, lake, cat.BRONZE_READINGS, STEP)
    if run.rebuild:
        pending = batch_ids(tables, cat.BRONZE_READINGS)
    # Released readings re-judge their meters from the release on (not whole batches).
    releases = pending_releases(lake)
    if not pending and releases.num_rows == 0:
        res.message = "no new bronze batches"
        res.seconds = time.perf_counter() - t0
        return res
    bronze = tables.read(cat.BRONZE_READINGS)
    # The raw `meter_id` stays as stored: chunks of meters filter on it, and a filter on
    # a stored column skips row groups (bronze is clustered by it, `cluster_by`).
    b = bronze.mutate(_mid=bronze.meter_id.strip(), _ts=parse_timestamp_utc(bronze.timestamp))
    new = b.filter(b._batch_id.isin(pending))
    pairs = neighbour_pairs(ctx, run)
    window = plan_silver_window(
        _firsts(new, releases, engine),
        dt.timedelta(hours=ctx.settings.lookback_hours),
        pairs,
        run.rebuild,
    )
    meters = window.meters
    run.silver_meters = None if window.write_from is None else meters
    if window.write_from is None:
        scope = b if run.rebuild else new
    else:
        scope = b.filter(
            b._batch_id.isin(pending) | (b._mid.isin(meters) & (b._ts >= window.context_from))
        )
    scope = scope.drop("_mid", "_ts")
    today = ctx.clock().date()
    first_year = (window.since or ctx.clock()).year
    holidays = uk_holidays(min(first_year, today.year) - 1, today.year + 1)
    known, vacant = registry(lake)
    released = (
        tables.read(cat.OPS_RELEASES)
        if lake.read(cat.OPS_RELEASES, ["_record_id"]).num_rows
        else None
    )
    # Meter by meter in chunks (the engine's `chunk_readings`), into one table.
    classified = classify_all(
        engine, scope, run.profile, holidays, registry=known, vacant=vacant, released=released
    )
    classified = _neighbour_fault(ctx, run, classified, pairs, window)
    accepted = accepted_readings(classified)
    if window.write_from is not None:
        accepted = accepted.union(_prior_readings(ctx, window, accepted.ts.type()))
        wf = ibis.literal(window.write_from.replace(tzinfo=None))
        classified = classified.filter(classified._batch_id.isin(pending) | (classified.ts >= wf))
    gap_rows = gaps(accepted, run.profile, run.run_id)
    if window.write_from is not None:
        gap_rows = gap_rows.filter(gap_rows.next_ts >= wf)
    gap_rows = engine.materialize(gap_rows)
    estimates = estimated_rows(gap_rows, run.profile, holidays, run.run_id)
    if window.write_from is not None:
        estimates = estimates.filter(estimates.ts >= wf)

    silver_pred, quarantine_pred, gaps_pred = _predicates(window, pending, run.rebuild)
    # Rows of the pending batches are new to silver; the rest are rewritten.
    new = {"new": lambda t: t._batch_id.isin(pending)}
    silver = tables.replace_where(
        cat.SILVER_READINGS,
        [silver_rows(classified, run.run_id, run.profile), estimates],
        silver_pred,
        tally={**new, "estimated": lambda t: t.is_estimated},
    )
    quarantine = tables.replace_where(
        cat.SILVER_QUARANTINE,
        quarantine_rows(classified, run.run_id),
        quarantine_pred,
        tally=new,
    )
    gaps_written = tables.replace_where(cat.SILVER_GAPS, gap_rows, gaps_pred)
    write_alerts(lake, _alerts(ctx, run, gap_rows, classified))
    checkpoint(lake, STEP, pending, run.run_id, ctx.clock(), replace=run.rebuild)
    applied = releases["_record_id"].to_pylist()
    checkpoint(lake, RELEASE_STEP, applied, run.run_id, ctx.clock())

    res.rows_in = silver["new"] + quarantine["new"]
    res.rows_out = silver.rows
    res.rows_quarantined = quarantine.rows
    what = "all batches (rebuild)" if run.rebuild else f"{len(pending)} new batch(es)"
    if applied:
        what += f" + {len(applied)} released reading(s)"
    res.message = (
        f"{what}, {len(window.new_meters)} meter(s)"
        + (f" from {window.since:%Y-%m-%d %H:%M}" if window.since else "")
        + (f" (+{len(window.rejudged)} neighbour(s) re-judged)" if window.rejudged else "")
        + f"; rewrote {silver.rows} silver ({silver['estimated']} estimated) + "
        f"{quarantine.rows} quarantine rows, {gaps_written.rows} gaps; registry "
        + ("off (none loaded)" if known is None else f"on ({len(known)} meters)")
    )
    res.seconds = time.perf_counter() - t0
    return res


def _predicates(
    window: SilverWindow, pending: list[str], rebuild: bool
) -> tuple[str | None, str | None, str | None]:
    """Replace-where predicates of silver, quarantine and gaps (None: the whole table)."""
    if window.write_from is None:
        if rebuild:
            return None, None, None
        return "false", f"_batch_id IN {sql_in(pending)}", "false"
    meters, since = sql_in(window.meters), sql_ts(window.write_from)
    rewrite = f"meter_id IN {meters} AND ts >= {since}"
    return (
        rewrite,
        f"({rewrite}) OR _batch_id IN {sql_in(pending)}",
        f"meter_id IN {meters} AND next_ts >= {since}",
    )


def _prior_readings(ctx: Context, window: SilverWindow, ts_type: DataType) -> ibis.Table:
    """Each rewritten meter's last stored reading before the context: the left bound of a
    long gap into the new data."""
    assert window.context_from is not None
    s = ctx.tables.read(cat.SILVER_READINGS)
    before = s.filter(
        s.meter_id.isin(window.meters)
        & (s.ts.cast("timestamp") < ibis.literal(window.context_from.replace(tzinfo=None)))
        & (s.provenance != "estimated")
    )
    last = before.group_by("meter_id").aggregate(_last=before.ts.max())
    prior = before.join(last, (before.meter_id == last.meter_id) & (before.ts == last._last))
    return prior.select(
        meter_id=before.meter_id,
        ts=before.ts.cast(ts_type),
        kw=before.kw,
        interval_minutes=before.interval_minutes,
    )


def _neighbour_fault(
    ctx: Context, run: Run, classified: ibis.Table, pairs: pa.Table, window: SilverWindow
) -> ibis.Table:
    """`classified` with the neighbourhood correlation fault (`vee.neighbours`, between
    `pairs`), judged on the weeks of its readings. An incremental run takes the other
    meters' readings of those weeks from silver."""
    engine = ctx.engine
    if pairs.num_rows == 0:
        return nb.without_neighbour_fault(classified)
    own = nb.usable(classified).select("meter_id", "ts", "kw")
    own_h = engine.materialize(nb.binned_kw(own, run.profile))
    others_h = own_h
    if window.context_from is not None:
        # The other meters' periods: theirs alone, so binning them apart is the same.
        history = _neighbour_history(ctx, window.meters, window.context_from, own.ts.type())
        others_h = engine.materialize(own_h.union(nb.binned_kw(history, run.profile)))
    pairs_t = engine.materialize(ibis.memtable(pairs))
    weeks = engine.materialize(nb.low_correlation_weeks(own_h, others_h, pairs_t, run.profile))
    return nb.apply_neighbour_fault(classified, weeks, run.profile)


def _neighbour_history(
    ctx: Context, meters: list[str], since: dt.datetime, ts_type: DataType
) -> ibis.Table:
    """`meter_id, ts, kw` of the stored readings of meters other than `meters` from the
    week before `since` on, that `neighbours.usable` would keep (silver, not estimated,
    and quarantine)."""
    week_before = ibis.literal((since - dt.timedelta(days=7)).replace(tzinfo=None))
    parts = []
    for spec, rules in ((cat.SILVER_READINGS, "flags"), (cat.SILVER_QUARANTINE, "rules")):
        t = ctx.tables.read(spec)
        t = t.mutate(ts=t.ts.cast(ts_type))
        t = t.filter(~t.meter_id.isin(meters) & (t.ts >= week_before) & t.kw.notnull())
        if "provenance" in t.columns:
            t = t.filter(t.provenance != "estimated")
        parts.append(nb.usable_flagged(t, t[rules]).select("meter_id", "ts", "kw"))
    return ibis.union(*parts)


def _alerts(ctx: Context, run: Run, gap_rows: ibis.Table, classified: ibis.Table) -> list[Alert]:
    """The GreenStream alerts of the rows this step wrote: extended gaps and fault runs
    (only those rows and per-meter summaries reach the driver)."""
    now = ctx.clock()
    extended = ctx.engine.to_arrow(gap_rows.filter(gap_rows.gap_class == "missing_extended"))
    runs = {}
    for rule in FAULT_RULES:
        c = classified.filter(classified[column(rule)])
        runs[rule] = ctx.engine.to_arrow(
            c.group_by("meter_id").aggregate(n=c.count(), first=c.ts.min(), last=c.ts.max())
        ).to_pylist()
    return gap_alerts(extended, run.run_id, now) + fault_run_alerts(runs, run.run_id, now)
