"""Meter cadence: the interval length a meter reports at (15-minute, 30-minute, ...)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.vee.profile import VeeProfile


def meter_cadence(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`meter_id → interval_minutes`: the most common step between a meter's distinct
    timestamps, among `profile.cadences_minutes` (ties → the shorter step)."""
    d = t.filter(t.ts.notnull()).select("meter_id", "ts").distinct()
    w = ibis.window(group_by=d.meter_id, order_by=d.ts)
    secs = (d.ts.epoch_seconds() - d.ts.lag().over(w).epoch_seconds()).cast("int64")
    steps = d.mutate(secs=secs)
    # Whole minutes only: engines round or truncate fractional minutes differently.
    steps = steps.filter((steps.secs % 60) == 0).mutate(step=steps.secs // 60)
    steps = steps.filter(steps.step.isin(list(profile.cadences_minutes)))
    counts = steps.group_by(["meter_id", "step"]).aggregate(n=steps.count())
    rank = ibis.row_number().over(
        ibis.window(group_by=counts.meter_id, order_by=[ibis.desc(counts.n), counts.step])
    )
    best = counts.mutate(rank=rank)
    best = best.filter(best.rank == 0)
    return best.select(meter_id=best.meter_id, interval_minutes=best.step.cast("int32"))


def add_cadence(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """Add `interval_minutes` per row: the meter's cadence, or the profile default."""
    cad = meter_cadence(t, profile).rename(_cad_meter="meter_id")
    j = t.left_join(cad, t.meter_id == cad._cad_meter)
    return j.mutate(
        interval_minutes=j.interval_minutes.fill_null(profile.interval_minutes).cast("int32")
    ).drop("_cad_meter")
