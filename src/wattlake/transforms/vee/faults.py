"""Meter faults: runs of zeros, stuck values, overloads, and low variance over days.

Runs are found with the portable "island" pattern: a row starts a new run unless the
previous row is the adjacent interval and continues the run; a running sum of starts numbers
the runs; a windowed count sizes them.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import column


def _by_meter(t: ir.Table) -> ibis.expr.builders.LegacyWindowBuilder:
    return ibis.window(group_by=t.meter_id, order_by=t.ts)


def run_faults(t: ir.Table, profile: VeeProfile, vacant: list[str] | None = None) -> ir.Table:
    """`fault_zero_run`, `fault_stuck`, `fault_overload` on measured rows (kW, meter cadence).

    - zero: exactly 0 kW for >= `zero_run_hours` (meters in `vacant` are exempt);
    - stuck: the same non-zero value for >= `stuck_run_hours`;
    - overload: > `max_kw` for >= `overload_run_readings` consecutive readings.
    A gap (a missing interval) ends a run. The three run kinds share each window pass.
    """
    w = _by_meter(t)
    prev_kw = t.kw.lag().over(w)
    adjacent = (t.ts.lag().over(w) == t.ts - t.interval_minutes.as_interval("m")).fill_null(False)
    t = t.mutate(_prev_kw=prev_kw, _adj=adjacent)
    kinds = {
        "zero": (t.kw == 0, t._prev_kw == 0),
        "stuck": (t.kw > 0, t.kw == t._prev_kw),
        "over": (t.kw > profile.max_kw, t._prev_kw > profile.max_kw),
    }
    t = t.mutate(
        **{f"_m_{k}": member for k, (member, _) in kinds.items()},
        **{
            f"_s_{k}": (member & ~(t._adj & cont).fill_null(False)).cast("int64")
            for k, (member, cont) in kinds.items()
        },
    )
    w2 = ibis.window(group_by=t.meter_id, order_by=t.ts, preceding=None, following=0)
    t = t.mutate(**{f"_r_{k}": t[f"_s_{k}"].sum().over(w2) for k in kinds})
    t = t.mutate(
        **{
            f"_n_{k}": ibis.ifelse(
                t[f"_m_{k}"],
                t[f"_m_{k}"]
                .cast("int64")
                .sum()
                .over(ibis.window(group_by=[t.meter_id, t[f"_r_{k}"]])),
                0,
            )
            for k in kinds
        }
    )
    hours = t.interval_minutes / 60.0
    exempt = t.meter_id.isin(vacant) if vacant else ibis.literal(False)
    helper = [c for c in t.columns if c.startswith(("_m_", "_s_", "_r_", "_n_"))]
    return t.mutate(
        **{
            column("fault_zero_run"): (t._n_zero * hours >= profile.zero_run_hours) & ~exempt,
            column("fault_stuck"): t._n_stuck * hours >= profile.stuck_run_hours,
            column("fault_overload"): t._n_over >= profile.overload_run_readings,
        }
    ).drop("_prev_kw", "_adj", *helper)


def low_variance(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`fault_low_variance`: CV (sample stddev / mean of kW) over the day and the
    `low_cv_days − 1` days before it is below `low_cv_threshold`.

    Needs data on `low_cv_days` consecutive days; all-zero windows are left to the zero rule.
    """
    day = (t.ts.epoch_seconds() / 86400).floor().cast("int64")
    t = t.mutate(_day=day)
    daily = t.group_by(["meter_id", "_day"]).aggregate(
        _n=t.count(), _s=t.kw.sum(), _ss=(t.kw * t.kw).sum()
    )
    frame = ibis.window(
        group_by=daily.meter_id,
        order_by=daily._day,
        preceding=profile.low_cv_days - 1,
        following=0,
    )
    n = daily._n.sum().over(frame)
    s = daily._s.sum().over(frame)
    ss = daily._ss.sum().over(frame)
    first = daily._day.min().over(frame)
    days = daily._day.count().over(frame)
    full = (days == profile.low_cv_days) & (first == daily._day - (profile.low_cv_days - 1))
    mean = s / n
    var = ibis.greatest((ss - s * s / n) / (n - 1), 0.0)
    low = full & (n > 1) & (mean > 0) & (var.sqrt() / mean < profile.low_cv_threshold)
    flagged = daily.mutate(_low=low.fill_null(False)).select("meter_id", "_day", "_low")
    flagged = flagged.rename(_lv_meter="meter_id", _lv_day="_day")
    j = t.left_join(flagged, (t.meter_id == flagged._lv_meter) & (t._day == flagged._lv_day))
    return j.mutate(**{column("fault_low_variance"): j._low.fill_null(False)}).drop(
        "_day", "_low", "_lv_meter", "_lv_day"
    )
