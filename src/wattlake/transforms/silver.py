"""Bronze → silver: validation, estimation and editing (VEE) as one Ibis expression graph.

`classify` gives every bronze row its rule columns, score, grade and `quarantined`; every
bronze row ends in exactly one of `silver_rows` (provenance `actual` or `edited`) and
`quarantine_rows`. `find_gaps` over the accepted readings gives `silver.gaps`, and
`estimated_rows` the linear estimates (provenance `estimated`) that fill short gaps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from wattlake.transforms.calendar import add_calendar
from wattlake.transforms.parse import (
    WHITESPACE,
    parse_number,
    parse_timestamp_utc,
    strip_fast,
)
from wattlake.transforms.vee import faults as f
from wattlake.transforms.vee import validation as v
from wattlake.transforms.vee.cadence import (
    add_meter_key,
    cadence_from_steps,
    interval_steps,
    meter_keys,
)
from wattlake.transforms.vee.gaps import find_gaps, interpolate
from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import SCORE_RULE, column
from wattlake.transforms.vee.scoring import quality_tier, score
from wattlake.transforms.vee.units import standardise_units, unit_kind

# Rows failing these were never a usable measurement.
NOT_MEASURED = (
    "ts_unparseable",
    "value_missing",
    "unit_invalid",
    "unit_ambiguous",
    "unknown_meter",
    "future_timestamp",
    "backdated",
    "duplicate_conflict",
)
PHYSICAL = ("negative", "above_max")


def parse_bronze(bronze: ir.Table) -> ir.Table:
    """Typed columns from bronze text: `ts` (UTC), `value_num` (float), `_unit` (kind)."""
    return bronze.mutate(
        meter_id=strip_fast(bronze.meter_id),
        ts=parse_timestamp_utc(bronze.timestamp),
        value_num=parse_number(bronze.value),
        _unit=unit_kind(bronze.unit),
    )


def _any(t: ir.Table, rules: tuple[str, ...]) -> ir.BooleanValue:
    out = ibis.literal(False)
    for r in rules:
        out = out | t[column(r)]
    return out


def known_meter(t: ir.Table, registry: list[str] | None) -> ir.Table:
    """`unknown_meter` when a registry is loaded and the meter is not in it (else off)."""
    unknown = ~t.meter_id.isin(registry) if registry else ibis.literal(False)
    return t.mutate(**{column("unknown_meter"): unknown})


def row_rules(
    t: ir.Table,
    keys: ir.Table,
    arrivals: ir.Table,
    profile: VeeProfile,
    registry: list[str] | None,
    live: bool,
) -> ir.Table:
    """The rules that look at one reading (and its meter's cadence, its load's arrival
    time): units, parse checks, registry, physical limits, timestamp sanity; plus `_cand`
    (can settle its interval) and the meter's key `_mk` (`cadence.meter_keys`)."""
    t = v.add_arrival(add_meter_key(t, profile, keys), arrivals)
    t = standardise_units(t, profile)
    t = v.check_parsed(t, profile)
    t = known_meter(t, registry)
    t = v.physical_limits(t, profile)
    t = v.timestamp_sanity(t, profile, live)
    return t.mutate(_cand=v.settle_candidate(t)).drop("_arrived")


def measured(t: ir.Table, later: ir.Table) -> ir.Table:
    """Duplicates (`validation.apply_duplicates`), then `_measured` (no NOT_MEASURED rule:
    a usable measurement) and `_ok` (measured and within physical limits)."""
    t = v.apply_duplicates(t, later).drop("_cand")
    m = ~_any(t, NOT_MEASURED)
    return t.mutate(_measured=m, _ok=m & ~_any(t, PHYSICAL))


def interval_flags(
    m: ir.Table, profile: VeeProfile, keep: Callable[[ir.Table], ir.Table]
) -> ir.Table:
    """`meter_id, ts` → `_zero`, `_stuck`, `_over` (in a long run of that kind), `_spike`,
    `_drop` (rate of change), only for intervals where one of them holds, from measured
    readings `m` (`meter_id`, `ts`, `kw`, `_ok`, `_sec`, `_step`; `meter_id` may be any
    unique key of the meter, such as `_mk`).

    One ordered pass over `m` finds the run ends and the rate of change of readings that
    follow a reading within physical limits; the few that follow one out of range look
    further back with `validation.previous_within_limits`.
    """
    nb = f.neighbours(m)
    roc = v.rate_of_change(nb, profile)
    follows_ok = nb._prev_ok.fill_null(False)
    marks = {
        **f.run_end_flags(nb, profile),
        "_spike": nb._ok & follows_ok & roc["_spike"],
        "_drop": nb._ok & follows_ok & roc["_drop"],
        # The previous reading is out of range: look further back (a few rows).
        "_after_off": nb._ok & nb._prev_ok.notnull() & ~follows_ok,
    }
    # The same rows as OR-ing every mark, cheaper to evaluate on every reading.
    any_mark = f.at_run_end(nb, profile) | (
        nb._ok & ibis.ifelse(follows_ok, roc["_spike"] | roc["_drop"], nb._prev_ok.notnull())
    )
    marked = keep(nb.mutate(**marks).filter(any_mark))
    runs = f.run_fault_intervals(f.long_runs(f.run_ends(marked), profile))
    roc = marked.filter(marked._spike | marked._drop)
    after = marked.filter(marked._after_off).select("meter_id", "ts", "kw", "_sec", "_step")
    after = v.previous_within_limits(after, m.filter(m._ok))
    roc_off = after.mutate(**v.rate_of_change(after, profile))
    roc_off = roc_off.filter(roc_off._spike | roc_off._drop)

    no_run = {flag: ibis.literal(False) for flag in f.KIND_FLAGS.values()}
    no_roc = {"_spike": ibis.literal(False), "_drop": ibis.literal(False)}
    cols = ["meter_id", "ts", *f.KIND_FLAGS.values(), "_spike", "_drop"]
    u = ibis.union(
        runs.mutate(**no_roc).select(cols),
        roc.mutate(**no_run).select(cols),
        roc_off.mutate(**no_run).select(cols),
    )
    return u.group_by(["meter_id", "ts"]).aggregate(**{c: u[c].any() for c in cols[2:]})


def fault_columns(
    t: ir.Table,
    flags: ir.Table,
    low_days: ir.Table,
    profile: VeeProfile,
    vacant: list[str] | None,
) -> ir.Table:
    """The fault and rate-of-change rule columns from `interval_flags` and
    `faults.low_variance_days`: faults on measured readings, low variance and rate of change
    on those also within physical limits; meters in `vacant` are exempt from zero runs.

    `flags` and `low_days` name meters by their key (`meter_id` holds `_mk` of `t`, see
    `cadence.meter_keys`); measured readings always have one. `_mk` is dropped."""
    fl = flags.rename(_f_meter="meter_id", _f_ts="ts")
    j = t.left_join(fl, [t._mk == fl._f_meter, t.ts == fl._f_ts])
    lv = low_days.rename(_lv_meter="meter_id", _lv_day="_day").mutate(_lv=ibis.literal(True))
    j = j.left_join(lv, [j._mk == lv._lv_meter, f.utc_day(j.ts) == lv._lv_day])
    member = f.members(j, profile)
    single = f.single_reading_faults(j, profile)
    run = {k: j._measured & member[k] & (single[k] | j[k].fill_null(False)) for k in member}
    exempt = j.meter_id.isin(vacant) if vacant else ibis.literal(False)
    return j.mutate(
        **{
            column("fault_zero_run"): (run["_zero"] & ~exempt).fill_null(False),
            column("fault_stuck"): run["_stuck"].fill_null(False),
            column("fault_overload"): run["_over"].fill_null(False),
            column("fault_low_variance"): j._ok & j._lv.fill_null(False),
            column("rate_of_change_spike"): j._ok & j._spike.fill_null(False),
            column("rate_of_change_drop"): j._ok & j._drop.fill_null(False),
        }
    ).drop(
        "_f_meter",
        "_f_ts",
        *f.KIND_FLAGS.values(),
        "_spike",
        "_drop",
        "_lv_meter",
        "_lv_day",
        "_lv",
        "_measured",
        "_ok",
        "_mk",
    )


def classify(
    bronze: ir.Table,
    profile: VeeProfile,
    holidays: list[dt.date],
    *,
    registry: list[str] | None = None,
    vacant: list[str] | None = None,
    released: ir.Table | None = None,
    live: bool = False,
    checkpoint: Callable[[ir.Table], ir.Table] | None = None,
) -> ir.Table:
    """All bronze rows with their rule columns, score, grade and `quarantined`.

    `registry`: known meter ids (None → the rule is off); `vacant`: meters exempt from the
    zero-run fault; `released`: a table of `_record_id`s an operator released from
    quarantine; `live`: timestamp sanity for live streams (± tolerance) instead of files;
    `checkpoint`: an engine hook that computes an intermediate table once (the expression is
    the same without it, only slower where it branches).

    The rules that need a meter's history run on narrow tables (timestamps for cadence and
    duplicates, measured kW for runs, rate of change and low variance) and give small tables:
    per meter, per duplicate reading, per flagged interval or day. Every reading passes once
    through the per-row rules and joins those small tables; no wide row is ever sorted, and
    a meter's readings can be classified apart from other meters' (`classify_chunks`).
    """
    keep = checkpoint or (lambda x: x)
    parsed = keep(parse_bronze(bronze))
    steps = keep(interval_steps(parsed, profile))
    keys = keep(meter_keys(steps, cadence_from_steps(steps)))
    arrivals = keep(v.arrival_times(parsed))

    def rules(t: ir.Table) -> ir.Table:
        return row_rules(t, keys, arrivals, profile, registry, live)

    # Duplicates: only readings of intervals with more than one reading need ordering.
    later = keep(v.later_readings(rules(v.in_repeated_intervals(parsed, steps))))
    t = measured(rules(parsed), later)
    # Measured readings by meter key: an integer sorts, groups and joins faster than the id.
    m = t.filter(t._measured)
    m = m.select("ts", "kw", "interval_minutes", "_ok", meter_id=m._mk)
    m = keep(f.with_seconds(m).drop("interval_minutes"))
    flags = interval_flags(m, profile, keep)
    low_days = f.low_variance_days(m.filter(m._ok), profile)
    t = fault_columns(t, flags, low_days, profile, vacant)
    if released is not None:
        rel = released.select(_rel_id=released._record_id).distinct()
        t = t.left_join(rel, t._record_id == rel._rel_id)
        t = t.mutate(**{column("released"): t._rel_id.notnull()}).drop("_rel_id")
    t = score(t, profile)
    return add_calendar(t.mutate(ts=t.ts.cast("timestamp")), profile, holidays)


@dataclass(frozen=True)
class MeterChunk:
    """Whole meters classified together: those whose id, stripped of whitespace, lies in
    `first`..`last` (None: no ids but NULL), plus the NULL ids when `nulls`. `raw_min` and
    `raw_max` bound their ids as stored. `readings`: their number of bronze rows."""

    first: str | None
    last: str | None
    raw_min: str | None
    raw_max: str | None
    nulls: bool
    readings: int

    def rows(self, bronze: ir.Table) -> ir.Table:
        """This chunk's rows of `bronze` (the table the chunks were cut from).

        The stored-id range goes first: an engine pushes it into the scan and skips the
        row groups of other meters by their statistics (bronze is clustered by `meter_id`);
        the stripped-id range makes it exact, as chunks are consecutive in stripped-id order.
        Both are two comparisons per row, where an `isin` of thousands of ids costs a join
        and compiling a literal per id."""
        keep = ibis.literal(False)
        if self.first is not None:
            stored = bronze.meter_id.between(self.raw_min, self.raw_max)
            keep = stored & bronze.meter_id.strip().between(self.first, self.last)
        if self.nulls:
            keep = keep | bronze.meter_id.isnull()
        return bronze.filter(keep)


def meter_chunks(sizes: pa.Table, max_readings: int) -> list[MeterChunk]:
    """Raw meter ids (`meter_id`, readings `n` per id) cut into chunks of at most
    `max_readings` readings, consecutive in stripped-id order; a meter is never split (ids
    equal after stripping whitespace stay together, and so do NULL ids, which come last),
    so a bigger meter is a chunk of its own."""
    raws: dict[str | None, list[str]] = {}
    counts: dict[str | None, int] = {}
    ws = "".join(WHITESPACE)  # what `strip()` removes on every engine
    for raw, n in zip(sizes["meter_id"].to_pylist(), sizes["n"].to_pylist(), strict=True):
        key = None if raw is None else raw.strip(ws)
        stored = raws.setdefault(key, [])
        if raw is not None:
            stored.append(raw)
        counts[key] = counts.get(key, 0) + n
    groups: list[list[str | None]] = []
    size = 0
    for key in sorted(raws, key=lambda k: (k is None, k or "")):
        if not groups or size + counts[key] > max_readings:
            groups.append([])
            size = 0
        groups[-1].append(key)
        size += counts[key]
    chunks = []
    for keys in groups:
        ids = [k for k in keys if k is not None]
        raw_ids = [raw for k in ids for raw in raws[k]]
        chunks.append(
            MeterChunk(
                first=min(ids, default=None),
                last=max(ids, default=None),
                raw_min=min(raw_ids, default=None),
                raw_max=max(raw_ids, default=None),
                nulls=None in keys,
                readings=sum(counts[k] for k in keys),
            )
        )
    return chunks


def _silver_select(
    t: ir.Table, run_id: str, provenance: ir.StringValue, profile: VeeProfile
) -> ir.Table:
    return t.select(
        meter_id=t.meter_id,
        ts=t.ts,
        date=t.date,
        interval_minutes=t.interval_minutes,
        kwh=t.kwh,
        kw=t.kw,
        unit_raw=t.unit,
        value_raw=t.value,
        quality_score=t.quality_score,
        quality_grade=t.quality_grade,
        quality_tier=quality_tier(t.quality_score, profile),
        flags=t.flags,
        is_estimated=provenance == "estimated",
        provenance=provenance,
        estimation_method=ibis.ifelse(provenance == "estimated", "linear", ibis.null("string")),
        hour=t.hour,
        day_of_week=t.day_of_week,
        is_weekend=t.is_weekend,
        is_holiday=t.is_holiday,
        season=t.season,
        is_peak=t.is_peak,
        _record_id=t._record_id,
        _batch_id=t._batch_id,
        _ingested_at=t._ingested_at,
        _run_id=ibis.literal(run_id),
    )


def silver_rows(classified: ir.Table, run_id: str, profile: VeeProfile) -> ir.Table:
    """Accepted readings in the `silver.meter_readings` layout (`actual` or `edited`)."""
    t = classified.filter(~classified.quarantined)
    edited = t[column("released")] if column("released") in t.columns else ibis.literal(False)
    return _silver_select(t, run_id, ibis.ifelse(edited, "edited", "actual"), profile)


def quarantine_rows(classified: ir.Table, run_id: str) -> ir.Table:
    """Held-back readings in the `silver.quarantine` layout, with the rule ids that fired."""
    t = classified.filter(classified.quarantined)
    return t.select(
        meter_id=t.meter_id,
        ts=t.ts,
        timestamp_raw=t.timestamp,
        value_raw=t.value,
        unit_raw=t.unit,
        kwh=t.kwh,
        kw=t.kw,
        quality_score=t.quality_score,
        rules=ibis.cases(
            (t.rejected, t.flags),
            (t.flags == "", SCORE_RULE),
            else_=t.flags + "," + SCORE_RULE,
        ),
        _record_id=t._record_id,
        _batch_id=t._batch_id,
        _source_file=t._source_file,
        _row_number=t._row_number,
        _ingested_at=t._ingested_at,
        _run_id=ibis.literal(run_id),
    )


def accepted_readings(classified: ir.Table) -> ir.Table:
    """meter_id, ts, kw, interval_minutes of the readings that reach silver."""
    t = classified.filter(~classified.quarantined)
    return t.select("meter_id", "ts", "kw", "interval_minutes")


def gaps(readings: ir.Table, profile: VeeProfile, run_id: str) -> ir.Table:
    """`silver.gaps` rows from accepted readings (plus earlier readings that bound gaps)."""
    g = find_gaps(readings, profile)
    return g.mutate(date=g.gap_start.date(), _run_id=ibis.literal(run_id))


def estimated_rows(
    gap_table: ir.Table, profile: VeeProfile, holidays: list[dt.date], run_id: str
) -> ir.Table:
    """Linear estimates for short gaps, scored, in the `silver.meter_readings` layout."""
    e = interpolate(gap_table, profile)
    e = e.mutate(**{column("interpolated"): ibis.literal(True)})
    e = score(e, profile)
    e = add_calendar(e.mutate(ts=e.ts.cast("timestamp")), profile, holidays)
    e = e.mutate(
        unit=ibis.null("string"),
        value=ibis.null("string"),
        _record_id=ibis.null("string"),
        _batch_id=ibis.null("string"),
        _ingested_at=ibis.null("timestamp"),
    )
    return _silver_select(e, run_id, ibis.literal("estimated"), profile)
