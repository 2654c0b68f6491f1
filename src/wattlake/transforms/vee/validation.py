"""Validation rules: each takes a table and the profile and adds one or two `r_*` columns."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import column


def check_parsed(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`ts_unparseable` when `ts` is NULL, `value_missing` when `value_num` is NULL."""
    return t.mutate(
        **{column("ts_unparseable"): t.ts.isnull(), column("value_missing"): t.value_num.isnull()}
    )


def physical_limits(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`negative` below 0 kW, `above_max` above `profile.max_kw` (kW)."""
    return t.mutate(
        **{
            column("negative"): (t.kw < 0).fill_null(False),
            column("above_max"): (t.kw > profile.max_kw).fill_null(False),
        }
    )


def arrival_times(t: ir.Table) -> ir.Table:
    """`_ingested_at → _arrived`: each distinct arrival time as a naive UTC timestamp (one
    row per load; converting once per load instead of once per reading is much cheaper)."""
    a = t.select("_ingested_at").distinct()
    return a.select(_a_ingested_at=a._ingested_at, _arrived=a._ingested_at.cast("timestamp"))


def add_arrival(t: ir.Table, arrivals: ir.Table) -> ir.Table:
    """Add `_arrived` (see `arrival_times`) by arrival time."""
    j = t.left_join(arrivals, t._ingested_at == arrivals._a_ingested_at)
    return j.drop("_a_ingested_at")


# `_format` of bronze rows that came from a live stream (`wattlake stream run`): their
# timestamps are judged in live mode, against the arrival time the event carries.
LIVE_FORMATS = ("kafka",)


def live_rows(t: ir.Table, live: bool = False) -> ir.BooleanValue:
    """Whether each row is judged as a live reading: all rows when `live`, else the rows
    whose `_format` is one of `LIVE_FORMATS` (none when the table has no `_format`)."""
    if live:
        return ibis.literal(True)
    if "_format" not in t.columns:
        return ibis.literal(False)
    return t._format.isin(LIVE_FORMATS).fill_null(False)


def timestamp_sanity(t: ir.Table, profile: VeeProfile, live: bool = False) -> ir.Table:
    """`future_timestamp` / `backdated` against the arrival time `_ingested_at` (or its naive
    UTC `_arrived`, see `add_arrival`).

    Files (historical loads): a reading later than its arrival is future; nothing is too old
    (backdating is judged by `duplicate_conflict`, against settled data).
    Live streams (`live=True`, or rows of `LIVE_FORMATS`, whose `_ingested_at` is the
    producer's clock when it sent the reading): a reading must lie within
    ± `live_tolerance_minutes` of its arrival.
    """
    arrived = t._arrived if "_arrived" in t.columns else t._ingested_at.cast("timestamp")
    is_live = live_rows(t, live)
    tol = ibis.interval(minutes=profile.live_tolerance_minutes)
    return t.mutate(
        **{
            column("future_timestamp"): ibis.ifelse(
                is_live, t.ts > arrived + tol, t.ts > arrived
            ).fill_null(False)
        },
        **{column("backdated"): (is_live & (t.ts < arrived - tol)).fill_null(False)},
    )


SETTLE_BLOCKERS = (
    "value_missing",
    "unit_invalid",
    "unit_ambiguous",
    "negative",
    "above_max",
    "future_timestamp",
    "backdated",
)


def settle_candidate(t: ir.Table) -> ir.BooleanValue:
    """Whether a reading can settle its interval: parsed timestamp and no rejecting rule of
    `SETTLE_BLOCKERS` (rows already rejected neither settle nor conflict)."""
    bad = ibis.literal(False)
    for rule in SETTLE_BLOCKERS:
        bad = bad | t[column(rule)]
    return t.ts.notnull() & ~bad


def in_repeated_intervals(t: ir.Table, steps: ir.Table) -> ir.Table:
    """The rows of `t` whose interval (meter, `ts`) has more than one reading
    (`cadence.interval_steps`): the only ones the duplicate rule needs to look at."""
    rep = steps.filter(steps._repeated_ts.notnull())
    rep = rep.select(_m_meter="meter_id", _m_ts="_repeated_ts")
    return t.semi_join(rep, [t.meter_id.identical_to(rep._m_meter), t.ts == rep._m_ts])


def later_readings(t: ir.Table) -> ir.Table:
    """The settle candidates of `t` (column `_cand`, see `settle_candidate`) that are not the
    first to arrive for their interval: `meter_id, ts, _ingested_at, _batch_id, _row_number`
    and `_from_later_load` (arrived after the first one).

    First = earliest by (`_ingested_at`, `_batch_id`, `_row_number`). Give it only the rows
    of repeated intervals (`in_repeated_intervals`): a small table from a few rows.
    """
    c = t.filter(t._cand)
    key = [c.meter_id, c.ts]
    order = [c._ingested_at, c._batch_id, c._row_number]
    rank = ibis.row_number().over(ibis.window(group_by=key, order_by=order))
    first_arrival = c._ingested_at.min().over(ibis.window(group_by=key))
    c = c.mutate(_rank=rank, _from_later_load=c._ingested_at > first_arrival)
    c = c.filter(c._rank > 0)
    return c.select(
        "meter_id", "ts", "_ingested_at", "_batch_id", "_row_number", "_from_later_load"
    ).distinct()


def apply_duplicates(t: ir.Table, later: ir.Table) -> ir.Table:
    """`duplicate_conflict` / `backdated` from `later_readings`.

    A second reading for an interval that already has one (same meter, same UTC `ts`): the
    first to arrive settles it. A later one from a later load is `backdated` (an attempt to
    rewrite settled data); one from the same load is a `duplicate_conflict`. Exact re-sends
    never get here (bronze keeps one row per `_record_id`).
    """
    keys = ["meter_id", "ts", "_ingested_at", "_batch_id", "_row_number"]
    lr = later.rename(**{f"_l{k}": k for k in [*keys, "_from_later_load"]})
    j = t.left_join(lr, [t[k].identical_to(lr[f"_l{k}"]) for k in keys])
    is_later = j._cand & j._l_from_later_load.notnull()
    from_later = j._l_from_later_load.fill_null(False)
    return j.mutate(
        **{
            column("duplicate_conflict"): is_later & ~from_later,
            column("backdated"): j[column("backdated")] | (is_later & from_later),
        }
    ).drop(*[f"_l{k}" for k in keys], "_l_from_later_load")


def duplicate_conflict(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`duplicate_conflict` / `backdated` on `t` alone (see `apply_duplicates`)."""
    from wattlake.transforms.vee.cadence import interval_steps

    t = t.mutate(_cand=settle_candidate(t))
    later = later_readings(in_repeated_intervals(t, interval_steps(t, profile)))
    return apply_duplicates(t, later).drop("_cand")


def rate_of_change(nb: ir.Table, profile: VeeProfile) -> dict[str, ir.BooleanValue]:
    """`_spike` / `_drop`: power vs the meter's previous reading, from `faults.neighbours`
    columns (`_prev_kw`, `_adj_prev`) of readings that survived the rejecting rules.

    Compared only when the previous reading is exactly the meter's interval earlier and at
    least `roc_min_base_kw`; spike when kW > prev × (1 + spike%/100), drop when
    kW < prev × (1 − drop%/100).
    """
    prev_kw = nb._prev_kw
    base = nb._adj_prev & (prev_kw >= profile.roc_min_base_kw)
    spike = base & (nb.kw > prev_kw * (1 + profile.roc_spike_pct / 100.0))
    drop = base & (nb.kw < prev_kw * (1 - profile.roc_drop_pct / 100.0))
    return {"_spike": spike.fill_null(False), "_drop": drop.fill_null(False)}


def previous_within_limits(rows: ir.Table, ok: ir.Table) -> ir.Table:
    """For readings `rows` whose previous reading is out of physical limits, the previous
    reading within limits (`ok`) as `faults.neighbours` would give it in `ok` alone:
    `_prev_kw` and `_adj_prev` (both for `rate_of_change`). Both tables: `meter_id`, `kw`,
    `_sec`, `_step` (`faults.with_seconds`); `ok` has one reading per interval.

    Only readings within one interval before matter (anything earlier is not adjacent), so
    this is a join of a few rows on the meter and a short time range.
    """
    o = ok.select(_o_meter="meter_id", _o_sec="_sec", _o_kw="kw")
    j = rows.join(
        o,
        [
            rows.meter_id.identical_to(o._o_meter),
            o._o_sec >= rows._sec - rows._step,
            o._o_sec < rows._sec,
        ],
    )
    at_step = j._o_sec == j._sec - j._step
    p = j.group_by(["meter_id", "ts", "kw", "_sec", "_step"]).aggregate(
        _last=j._o_sec.max(), _prev_kw=ibis.ifelse(at_step, j._o_kw, ibis.null("float64")).max()
    )
    return p.mutate(_adj_prev=p._last == p._sec - p._step).drop("_last")
