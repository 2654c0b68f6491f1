"""Meter faults: runs of zeros, stuck values, overloads, and low variance over days.

Runs are found from their ends, in one ordered pass over a meter's measured readings: a
reading starts a run unless the previous reading is the adjacent interval and continues it,
and ends one unless the next reading continues it. Readings in a run are exactly one
interval apart, so a run's length is (end − start) / interval + 1 readings, and pairing each
start with the next end of the same kind gives every run without a running count. Only the
runs long enough to be a fault are expanded back into their intervals, as a small table of
`(meter_id, ts)` flags that `silver.classify` joins to the readings.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.vee.profile import VeeProfile

# Run kinds (`kind` column of `run_ends` / `long_runs`).
ZERO, STUCK, OVER = 1, 2, 3
KIND_FLAGS = {ZERO: "_zero", STUCK: "_stuck", OVER: "_over"}


def _members(kw: ir.FloatingValue, profile: VeeProfile) -> dict[int, ir.BooleanValue]:
    return {ZERO: kw == 0, STUCK: kw > 0, OVER: kw > profile.max_kw}


def _continues(
    kind: int, kw: ir.FloatingValue, other_kw: ir.FloatingValue, profile: VeeProfile
) -> ir.BooleanValue:
    """Whether the adjacent reading `other_kw` is in the same run as `kw` (a member)."""
    if kind == ZERO:
        return other_kw == 0
    if kind == STUCK:
        return other_kw == kw
    return other_kw > profile.max_kw


def with_seconds(t: ir.Table) -> ir.Table:
    """Add `_sec` (epoch seconds of `ts`) and `_step` (the meter's interval in seconds), so
    that ordered passes compare integers instead of timestamps and intervals (timestamps
    here are whole seconds: `parse_timestamp_utc` drops fractions)."""
    return t.mutate(
        _sec=t.ts.epoch_seconds().cast("int64"),
        _step=t.interval_minutes.cast("int64") * 60,
    )


def neighbours(m: ir.Table) -> ir.Table:
    """Add the previous and next reading of the same meter (`_prev_kw`, `_next_kw`), whether
    each is the adjacent interval (`_adj_prev`, `_adj_next`) and whether the previous one is
    within physical limits (`_prev_ok`): one ordered pass over `m` (`meter_id`, `ts`, `kw`,
    `_ok`, `_sec`, `_step`; see `with_seconds`).

    Ordered by time, then kW, so that two readings of the same interval have a fixed order.
    """
    w = ibis.window(group_by=m.meter_id, order_by=[m._sec, m.kw])
    return m.mutate(
        _prev_kw=m.kw.lag().over(w),
        _next_kw=m.kw.lead().over(w),
        _adj_prev=(m._sec.lag().over(w) == m._sec - m._step).fill_null(False),
        _adj_next=(m._sec.lead().over(w) == m._sec + m._step).fill_null(False),
        _prev_ok=m._ok.lag().over(w),
    )


def run_end_flags(nb: ir.Table, profile: VeeProfile) -> dict[str, ir.BooleanValue]:
    """Per kind, `_s<kind>` (starts a multi-reading run) and `_e<kind>` (ends one) of the
    readings in `nb` (`neighbours`).

    A reading starts a run of its kind unless the previous reading is the adjacent interval
    and continues it, and ends one unless the next does. A missing interval ends a run; so
    do two readings for the same interval (the one ordered first ends a run, the other starts
    one). Single-reading runs (start and end) are left out.
    """
    cols = {}
    for kind, (member, back, ahead) in _run_links(nb, profile).items():
        cols[f"_s{kind}"] = member & ~back & ahead
        cols[f"_e{kind}"] = member & back & ~ahead
    return cols


def at_run_end(nb: ir.Table, profile: VeeProfile) -> ir.BooleanValue:
    """True exactly where one of the `run_end_flags` columns is (NULL or false elsewhere):
    a member of a kind linked to only one of its neighbours. Cheaper to evaluate as a
    filter than the six flags."""
    out = ibis.literal(False)
    for member, back, ahead in _run_links(nb, profile).values():
        out = out | (member & (back != ahead))
    return out


def _run_links(
    nb: ir.Table, profile: VeeProfile
) -> dict[int, tuple[ir.BooleanValue, ir.BooleanValue, ir.BooleanValue]]:
    """Per kind: (member, back, ahead) — whether the reading is of the kind, whether the
    previous reading is adjacent and continues its run, whether the next one does (never
    NULL)."""
    links = {}
    for kind, member in _members(nb.kw, profile).items():
        back = (nb._adj_prev & _continues(kind, nb.kw, nb._prev_kw, profile)).fill_null(False)
        ahead = (nb._adj_next & _continues(kind, nb.kw, nb._next_kw, profile)).fill_null(False)
        links[kind] = (member, back, ahead)
    return links


def run_ends(marked: ir.Table) -> ir.Table:
    """Starts and ends of multi-reading runs from the `run_end_flags` columns of `marked`:
    `meter_id`, `ts`, `_sec`, `_step`, `kind` (ZERO: exactly 0 kW, STUCK: the same non-zero
    kW, OVER: above `max_kw`) and `is_start`."""
    parts = []
    for kind in KIND_FLAGS:
        s, e = marked[f"_s{kind}"], marked[f"_e{kind}"]
        k = marked.filter(s | e)
        parts.append(
            k.select(
                "meter_id",
                "ts",
                "_sec",
                "_step",
                kind=ibis.literal(kind, "int8"),
                is_start=k[f"_s{kind}"],
            )
        )
    return ibis.union(*parts)


def long_runs(ends: ir.Table, profile: VeeProfile) -> ir.Table:
    """Runs from `run_ends` long enough to be a fault: `meter_id`, `kind`, `start_ts`,
    `n_readings`, `interval_minutes`.

    Zero: >= `zero_run_hours`; stuck: >= `stuck_run_hours`; overload: >=
    `overload_run_readings` consecutive readings. A start's end is the next end of the same
    kind (at a shared interval, the end is ordered first).
    """
    w = ibis.window(group_by=[ends.meter_id, ends.kind], order_by=[ends.ts, ends.is_start])
    r = ends.mutate(_end=ends._sec.lead().over(w))
    r = r.filter(r.is_start)
    n = (r._end - r._sec) // r._step + 1
    hours = n * ((r._step // 60) / 60.0)  # readings × hours per reading, as the rule says
    long = ibis.cases(
        (r.kind == ZERO, hours >= profile.zero_run_hours),
        (r.kind == STUCK, hours >= profile.stuck_run_hours),
        else_=n >= profile.overload_run_readings,
    )
    r = r.mutate(n_readings=n).filter(long)
    return r.select(
        "meter_id",
        "kind",
        start_ts=r.ts,
        n_readings=r.n_readings,
        interval_minutes=(r._step // 60).cast("int32"),
    )


def run_fault_intervals(runs: ir.Table) -> ir.Table:
    """`meter_id, ts` with `_zero`, `_stuck`, `_over`: every interval of the `long_runs`."""
    r = runs.mutate(_k=ibis.range(0, runs.n_readings)).unnest("_k")
    r = r.select(
        "meter_id",
        ts=r.start_ts + (r._k * r.interval_minutes).as_interval("m"),
        **{flag: r.kind == kind for kind, flag in KIND_FLAGS.items()},
    )
    return r


def single_reading_faults(t: ir.Table, profile: VeeProfile) -> dict[str, ir.BooleanValue]:
    """Per kind (`_zero`, `_stuck`, `_over`), whether one reading of `t` already meets the
    fault threshold (only with unusually short thresholds), so every member is a fault."""
    hours = t.interval_minutes / 60.0
    return {
        "_zero": hours >= profile.zero_run_hours,
        "_stuck": hours >= profile.stuck_run_hours,
        "_over": ibis.literal(profile.overload_run_readings <= 1),
    }


def members(t: ir.Table, profile: VeeProfile) -> dict[str, ir.BooleanValue]:
    """Per kind (`_zero`, `_stuck`, `_over`), whether a reading of `t` (kW) can be in such a
    run."""
    return {KIND_FLAGS[k]: v for k, v in _members(t.kw, profile).items()}


def low_variance_days(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`meter_id, _day` (UTC days since epoch) whose CV (sample stddev / mean of kW) over the
    day and the `low_cv_days − 1` days before it is below `low_cv_threshold`.

    Needs data on `low_cv_days` consecutive days; all-zero windows are left to the zero rule.
    """
    t = t.mutate(_day=utc_day(t.ts))
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
    flagged = daily.mutate(_low=low.fill_null(False))
    return flagged.filter(flagged._low).select("meter_id", "_day")


def utc_day(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Days since 1970-01-01 (UTC) of `ts`, as `low_variance_days` numbers them."""
    return (ts.epoch_seconds() / 86400).floor().cast("int64")
