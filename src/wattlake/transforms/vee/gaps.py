"""Gaps: missing intervals between a meter's readings, classified and (when short)
estimated by linear interpolation.

Gaps are looked for between consecutive accepted readings of a meter, at the meter's own
cadence. A gap needs a reading on both sides: nothing is estimated before a meter's first
or after its last reading (one-sided gaps at the edges are left open on purpose).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.parse import round_half_up
from wattlake.transforms.vee.profile import VeeProfile

MAX_INTERPOLATED = 4 * 24 * 12  # readings: generous bound for the integer helper table


def find_gaps(readings: ir.Table, profile: VeeProfile) -> ir.Table:
    """One row per gap: meter_id, prev_ts, prev_kw, next_ts, next_kw, interval_minutes,
    missing_intervals, gap_hours (missing time, hours), gap_class.

    `readings` has meter_id, ts, kw, interval_minutes (accepted readings, plus any earlier
    reading of the meter that bounds the first gap).
    """
    w = ibis.window(group_by=readings.meter_id, order_by=readings.ts)
    t = readings.mutate(prev_ts=readings.ts.lag().over(w), prev_kw=readings.kw.lag().over(w))
    step_min = (t.ts.epoch_seconds() - t.prev_ts.epoch_seconds()) / 60.0
    missing = (step_min / t.interval_minutes).floor().cast("int64") - 1
    t = t.mutate(missing_intervals=missing)
    t = t.filter(t.prev_ts.notnull() & (t.missing_intervals >= 1))
    hours = t.missing_intervals * t.interval_minutes / 60.0
    interp = (
        hours <= profile.interp_max_hours
        if profile.interp_max_inclusive
        else (hours < profile.interp_max_hours)
    )
    cls = ibis.cases(
        (interp, "interpolated"),
        (hours >= profile.missing_extended_hours, "missing_extended"),
        else_="missing_short",
    )
    return t.select(
        meter_id=t.meter_id,
        gap_start=t.prev_ts + t.interval_minutes.as_interval("m"),
        prev_ts=t.prev_ts,
        prev_kw=t.prev_kw,
        next_ts=t.ts,
        next_kw=t.kw,
        interval_minutes=t.interval_minutes,
        missing_intervals=t.missing_intervals,
        gap_hours=hours,
        gap_class=cls,
    )


def interpolate(gaps: ir.Table, profile: VeeProfile) -> ir.Table:
    """Linear estimates for `interpolated` gaps: meter_id, ts, kw, kwh, interval_minutes.

    kW at step k of n missing: prev + (next − prev) × k / (n + 1).
    """
    g = gaps.filter(gaps.gap_class == "interpolated")
    ks = ibis.memtable({"k": list(range(1, MAX_INTERPOLATED + 1))})
    j = g.join(ks, ks.k <= g.missing_intervals)
    kw = j.prev_kw + (j.next_kw - j.prev_kw) * j.k / (j.missing_intervals + 1)
    return j.select(
        meter_id=j.meter_id,
        ts=j.prev_ts + (j.k * j.interval_minutes).as_interval("m"),
        kw=round_half_up(kw, profile.decimals),
        kwh=round_half_up(kw * j.interval_minutes / 60.0, profile.decimals),
        interval_minutes=j.interval_minutes,
        gap_next_ts=j.next_ts,
    )
