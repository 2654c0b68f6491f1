"""Bronze → silver: parse, standardise, validate, score, split into silver and quarantine.

Every bronze row ends in exactly one of the two outputs (`quarantined` decides).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from wattlake.transforms.calendar import add_calendar
from wattlake.transforms.parse import parse_number, parse_timestamp_utc
from wattlake.transforms.vee import validation as v
from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import SCORE_RULE, column
from wattlake.transforms.vee.scoring import score
from wattlake.transforms.vee.units import standardise_units

HARD_RULES = (
    "ts_unparseable",
    "value_missing",
    "unit_invalid",
    "unit_ambiguous",
    "negative",
    "above_max",
    "future_timestamp",
    "duplicate_conflict",
)


def parse_bronze(bronze: ir.Table) -> ir.Table:
    """Typed columns from bronze text: `ts` (UTC), `value_num` (float)."""
    return bronze.mutate(
        meter_id=bronze.meter_id.strip(),
        ts=parse_timestamp_utc(bronze.timestamp),
        value_num=parse_number(bronze.value),
    )


def classify(bronze: ir.Table, profile: VeeProfile, holidays: list[dt.date]) -> ir.Table:
    """All bronze rows with their rule columns, score, grade and `quarantined`."""
    t = parse_bronze(bronze)
    t = standardise_units(t, profile)
    t = v.check_parsed(t, profile)
    t = v.physical_limits(t, profile)
    t = v.future_timestamp(t, profile)
    t = v.duplicate_conflict(t, profile)
    hard = ibis.literal(False)
    for rule in HARD_RULES:
        hard = hard | t[column(rule)]
    t = t.mutate(_hard=hard)
    # Rate of change only compares readings that survived the rejecting rules.
    ok = v.rate_of_change(t.filter(~t._hard), profile)
    bad = t.filter(t._hard).mutate(
        **{column("rate_of_change_spike"): False, column("rate_of_change_drop"): False}
    )
    t = ok.union(bad.select(ok.columns))
    t = score(t, profile)
    return add_calendar(t.mutate(ts=t.ts.cast("timestamp")), profile, holidays)


def silver_rows(classified: ir.Table, run_id: str) -> ir.Table:
    """Accepted readings in the `silver.meter_readings` layout."""
    t = classified.filter(~classified.quarantined)
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
        is_estimated=ibis.literal(False),
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
