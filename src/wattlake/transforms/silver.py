"""Bronze → silver: validation, estimation and editing (VEE) as one Ibis expression graph.

`classify` gives every bronze row its rule columns, score, grade and `quarantined`; every
bronze row ends in exactly one of `silver_rows` (provenance `actual` or `edited`) and
`quarantine_rows`. `find_gaps` over the accepted readings gives `silver.gaps`, and
`estimated_rows` the linear estimates (provenance `estimated`) that fill short gaps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from wattlake.transforms.calendar import add_calendar
from wattlake.transforms.parse import parse_number, parse_timestamp_utc
from wattlake.transforms.vee import validation as v
from wattlake.transforms.vee.cadence import add_cadence
from wattlake.transforms.vee.faults import low_variance, run_faults
from wattlake.transforms.vee.gaps import find_gaps, interpolate
from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import FAULT_RULES, ROC_RULES, SCORE_RULE, column
from wattlake.transforms.vee.scoring import score
from wattlake.transforms.vee.units import standardise_units

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
    """Typed columns from bronze text: `ts` (UTC), `value_num` (float)."""
    return bronze.mutate(
        meter_id=bronze.meter_id.strip(),
        ts=parse_timestamp_utc(bronze.timestamp),
        value_num=parse_number(bronze.value),
    )


def _any(t: ir.Table, rules: tuple[str, ...]) -> ir.BooleanValue:
    out = ibis.literal(False)
    for r in rules:
        out = out | t[column(r)]
    return out


def _false(t: ir.Table, rules: tuple[str, ...]) -> ir.Table:
    return t.mutate(**{column(r): ibis.literal(False) for r in rules})


def known_meter(t: ir.Table, registry: list[str] | None) -> ir.Table:
    """`unknown_meter` when a registry is loaded and the meter is not in it (else off)."""
    unknown = ~t.meter_id.isin(registry) if registry else ibis.literal(False)
    return t.mutate(**{column("unknown_meter"): unknown})


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
    """
    keep = checkpoint or (lambda x: x)
    t = parse_bronze(bronze)
    t = add_cadence(t, profile)
    t = standardise_units(t, profile)
    t = v.check_parsed(t, profile)
    t = known_meter(t, registry)
    t = v.physical_limits(t, profile)
    t = v.timestamp_sanity(t, profile, live)
    t = v.duplicate_conflict(t, profile)
    t = keep(t.mutate(_measured=~_any(t, NOT_MEASURED)))

    measured = keep(run_faults(t.filter(t._measured), profile, vacant))
    ok = measured.filter(~_any(measured, PHYSICAL))
    ok = v.rate_of_change(low_variance(ok, profile), profile)
    off_range = _false(
        measured.filter(_any(measured, PHYSICAL)), ("fault_low_variance", *ROC_RULES)
    )
    unmeasured = _false(t.filter(~t._measured), (*FAULT_RULES, *ROC_RULES))
    cols = ok.columns
    t = ok.union(off_range.select(cols)).union(unmeasured.select(cols)).drop("_measured")

    if released is not None:
        rel = released.select(_rel_id=released._record_id).distinct()
        t = t.left_join(rel, t._record_id == rel._rel_id)
        t = t.mutate(**{column("released"): t._rel_id.notnull()}).drop("_rel_id")
    t = score(t, profile)
    return add_calendar(t.mutate(ts=t.ts.cast("timestamp")), profile, holidays)


def _silver_select(t: ir.Table, run_id: str, provenance: ir.StringValue) -> ir.Table:
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


def silver_rows(classified: ir.Table, run_id: str) -> ir.Table:
    """Accepted readings in the `silver.meter_readings` layout (`actual` or `edited`)."""
    t = classified.filter(~classified.quarantined)
    edited = t[column("released")] if column("released") in t.columns else ibis.literal(False)
    return _silver_select(t, run_id, ibis.ifelse(edited, "edited", "actual"))


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
    return _silver_select(e, run_id, ibis.literal("estimated"))
