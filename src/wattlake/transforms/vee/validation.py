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


def timestamp_sanity(t: ir.Table, profile: VeeProfile, live: bool = False) -> ir.Table:
    """`future_timestamp` / `backdated` against the arrival time `_ingested_at`.

    Files (`live=False`, historical loads): a reading later than its arrival is future;
    nothing is too old (backdating is judged by `duplicate_conflict`, against settled data).
    Live streams: a reading must lie within ± `live_tolerance_minutes` of its arrival.
    """
    arrived = t._ingested_at.cast("timestamp")
    if not live:
        return t.mutate(
            **{column("future_timestamp"): (t.ts > arrived).fill_null(False)},
            **{column("backdated"): ibis.literal(False)},
        )
    tol = ibis.interval(minutes=profile.live_tolerance_minutes)
    return t.mutate(
        **{column("future_timestamp"): (t.ts > arrived + tol).fill_null(False)},
        **{column("backdated"): (t.ts < arrived - tol).fill_null(False)},
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


def duplicate_conflict(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """A second reading for an interval that already has one (same meter, same UTC `ts`).

    The first to arrive (by `_ingested_at`, `_batch_id`, `_row_number`) is settled. A later
    one from a later load is `backdated` (an attempt to rewrite settled data); one from the
    same load is a `duplicate_conflict`. Exact re-sends never get here (bronze keeps one row
    per `_record_id`).
    """
    # Only a usable reading settles an interval: rows already rejected (no value, bad unit,
    # out of range, future) neither settle nor conflict.
    bad = ibis.literal(False)
    for rule in SETTLE_BLOCKERS:
        bad = bad | t[column(rule)]
    t = t.mutate(_cand=t.ts.notnull() & ~bad)
    key = [t.meter_id, t.ts, t._cand]
    w = ibis.window(group_by=key, order_by=[t._ingested_at, t._batch_id, t._row_number])
    later = t._cand & (ibis.row_number().over(w) > 0)
    first_arrival = t._ingested_at.min().over(ibis.window(group_by=key))
    from_later_load = t._ingested_at > first_arrival
    return t.mutate(
        **{
            column("duplicate_conflict"): later & ~from_later_load,
            column("backdated"): t[column("backdated")] | (later & from_later_load),
        }
    ).drop("_cand")


def rate_of_change(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`rate_of_change_spike`/`_drop`: power vs the meter's previous interval.

    Compared only when the previous interval (exactly the meter's `interval_minutes` earlier) has a
    reading of at least `roc_min_base_kw`; spike when kW > prev × (1 + spike%/100), drop when
    kW < prev × (1 − drop%/100). Apply to rows that survived the rejecting rules.
    """
    w = ibis.window(group_by=t.meter_id, order_by=t.ts)
    prev_kw = t.kw.lag().over(w)
    prev_ts = t.ts.lag().over(w)
    adjacent = prev_ts == t.ts - t.interval_minutes.as_interval("m")
    base = adjacent & (prev_kw >= profile.roc_min_base_kw)
    spike = base & (t.kw > prev_kw * (1 + profile.roc_spike_pct / 100.0))
    drop = base & (t.kw < prev_kw * (1 - profile.roc_drop_pct / 100.0))
    return t.mutate(
        **{
            column("rate_of_change_spike"): spike.fill_null(False),
            column("rate_of_change_drop"): drop.fill_null(False),
        }
    )
