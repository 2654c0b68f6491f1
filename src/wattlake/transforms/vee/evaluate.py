"""Estimation accuracy: hide real readings, estimate them, measure the error.

For each gap length L (readings), every `every`-th actual reading of each meter starts a
hidden run of L readings whose neighbours on both sides are real and contiguous. Each hidden
reading is estimated by
- `linear`: interpolation between the readings either side of the run (what VEE does), and
- `like_day`: the mean of the same meter's readings at the same weekday and time 7 days
  before, 7 days after and 14 days before (those that exist),
and the errors (kWh per interval) are summarised as MAE and RMSE per method and gap length.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

METHODS = ("linear", "like_day")


def numbered(silver: ir.Table) -> ir.Table:
    """Actual silver readings numbered per meter in time order (`rn` from 0)."""
    s = silver.filter(silver.provenance == "actual").select(
        "meter_id", "ts", "kwh", "interval_minutes"
    )
    s = s.mutate(ts=s.ts.cast("timestamp"))
    w = ibis.window(group_by=s.meter_id, order_by=s.ts)
    return s.mutate(rn=ibis.row_number().over(w))


def holdout_errors(
    n: ir.Table,
    gap_readings: int,
    every: int,
    checkpoint: Callable[[ir.Table], ir.Table] | None = None,
) -> ir.Table:
    """One row per hidden reading: meter_id, ts, actual, linear, like_day (kWh).

    `n` is `numbered(silver)` (compute it once and reuse it for every gap length)."""
    if every < gap_readings + 2:
        raise ValueError("every must be at least gap_readings + 2 so runs do not overlap")
    offset = (n.rn - 1) % every
    h = n.filter(offset < gap_readings).mutate(a_rn=n.rn - offset)
    prev = n.select(p_meter=n.meter_id, p_rn=n.rn, p_ts=n.ts, p_kwh=n.kwh)
    nxt = n.select(n_meter=n.meter_id, n_rn=n.rn, n_ts=n.ts, n_kwh=n.kwh)
    j = h.join(prev, (h.meter_id == prev.p_meter) & (prev.p_rn == h.a_rn - 1))
    j = j.join(nxt, (j.meter_id == nxt.n_meter) & (nxt.n_rn == j.a_rn + gap_readings))
    j = j.mutate(h_rn=j.rn, h_ts=j.ts, actual=j.kwh, step=j.interval_minutes)
    span_s = j.n_ts.epoch_seconds() - j.p_ts.epoch_seconds()
    j = j.filter(span_s == (gap_readings + 1) * j.step * 60)
    k = j.h_rn - j.a_rn + 1
    linear = j.p_kwh + (j.n_kwh - j.p_kwh) * k / (gap_readings + 1)
    est = j.select(meter_id=j.meter_id, ts=j.h_ts, actual=j.actual, linear=linear)
    if checkpoint is not None:
        est = checkpoint(est)

    def shifted(days: int, name: str) -> ir.Table:
        o = n.select(_m=n.meter_id, _ts=n.ts, **{name: n.kwh})
        return o.mutate(_ts=o._ts - ibis.interval(days=days))

    for days, name in ((7, "d_m7"), (-7, "d_p7"), (14, "d_m14")):
        # a reading `days` earlier: its ts + days == the hidden ts
        o = shifted(-days, name)
        est = est.left_join(o, (est.meter_id == o._m) & (est.ts == o._ts)).drop("_m", "_ts")
    parts = [est.d_m7, est.d_p7, est.d_m14]
    count = sum(ibis.ifelse(p.notnull(), 1, 0) for p in parts)
    total = sum(p.fill_null(0.0) for p in parts)
    like_day = ibis.ifelse(count > 0, total / count, ibis.null("float64"))
    return est.select("meter_id", "ts", "actual", "linear", like_day=like_day)


def summarise(errors: ir.Table, gap_readings: int) -> ir.Table:
    """Per method: readings estimated, MAE and RMSE (kWh per interval), mean actual."""
    rows = []
    for m in METHODS:
        e = errors.filter(errors[m].notnull())
        d = e[m] - e.actual
        rows.append(
            e.aggregate(
                readings=e.count(),
                mae_kwh=d.abs().mean(),
                rmse_kwh=(d * d).mean().sqrt(),
                mean_actual_kwh=e.actual.mean(),
            ).mutate(method=ibis.literal(m), gap_readings=ibis.literal(gap_readings))
        )
    return rows[0].union(rows[1])
