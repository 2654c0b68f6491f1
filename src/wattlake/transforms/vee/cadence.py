"""Meter cadence: the interval length a meter reports at (15-minute, 30-minute, ...)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.vee.profile import VeeProfile


def interval_steps(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """One ordered pass over the meters' timestamps (`meter_id`, `ts`; NULL `ts` left out),
    summarised as a small table `meter_id, _step, _repeated_ts, n`:

    - `_step` (minutes, one of `profile.cadences_minutes`): how often `n` consecutive distinct
      timestamps of the meter are that far apart (for `cadence_from_steps`);
    - `_repeated_ts`: an interval with more than one reading (for the duplicate rule);
    - both NULL: the meter's first timestamp, so that every meter with a timestamp (NULL
      `meter_id` too) has a row (for `meter_keys`).

    Steps are whole minutes only (engines round or truncate fractional minutes differently).

    The readings are counted per distinct gap in seconds first and the gaps classified
    afterwards, on the few counts: cheaper than classifying every reading. A cadence step
    comes from one gap only, so the counts are those of the steps.
    """
    d = t.filter(t.ts.notnull()).select("meter_id", "ts")
    w = ibis.window(group_by=d.meter_id, order_by=d.ts)
    prev = d.ts.lag().over(w)
    secs = (d.ts.epoch_seconds() - prev.epoch_seconds()).cast("int64")
    repeated = ibis.ifelse(prev == d.ts, d.ts, ibis.null("timestamp"))
    d = d.select("meter_id", _secs=secs, _repeated_ts=repeated)
    g = d.group_by(["meter_id", "_secs", "_repeated_ts"]).aggregate(n=d.count())
    step = ibis.ifelse(
        is_cadence_step(g._secs, profile),
        (g._secs // 60).cast("int32"),
        ibis.null("int32"),
    )
    g = g.mutate(_step=step)
    g = g.filter(g._step.notnull() | g._repeated_ts.notnull() | g._secs.isnull())
    return g.select("meter_id", "_step", "_repeated_ts", "n")


def is_cadence_step(secs: ir.IntegerValue, profile: VeeProfile) -> ir.BooleanValue:
    """Whether `secs` (seconds between two readings) is one of `profile.cadences_minutes`
    (whole minutes). Equalities rather than `isin`: DuckDB turns a list of five or more
    values into a join, several times slower per row than a few integer comparisons."""
    out = ibis.literal(False)
    for minutes in sorted(set(profile.cadences_minutes)):
        out = out | (secs == minutes * 60)
    return out


def cadence_from_steps(steps: ir.Table) -> ir.Table:
    """`meter_id → interval_minutes` from `interval_steps`: the most common step between a
    meter's distinct timestamps (ties → the shorter step)."""
    s = steps.filter(steps._step.notnull())
    counts = s.group_by(["meter_id", "_step"]).aggregate(n=s.n.sum())
    rank = ibis.row_number().over(
        ibis.window(group_by=counts.meter_id, order_by=[ibis.desc(counts.n), counts._step])
    )
    best = counts.mutate(rank=rank)
    best = best.filter(best.rank == 0)
    return best.select(meter_id=best.meter_id, interval_minutes=best._step.cast("int32"))


def meter_keys(steps: ir.Table, cadence: ir.Table) -> ir.Table:
    """`meter_id → _mk, interval_minutes`: every meter of `interval_steps` (the meters with a
    timestamp, NULL `meter_id` included) with a unique integer key `_mk` (int32; cheaper than
    the id text to sort, group and join by) and its cadence (`cadence_from_steps`; NULL when
    it has none, and for the NULL id, which no meter's cadence matches)."""
    ids = steps.select("meter_id").distinct()
    ids = ids.mutate(_mk=ibis.row_number().over(order_by=ids.meter_id).cast("int32"))
    cad = cadence.rename(_cad_meter="meter_id")
    j = ids.left_join(cad, ids.meter_id == cad._cad_meter)
    return j.select("meter_id", "_mk", interval_minutes=j.interval_minutes.cast("int32"))


def add_meter_key(t: ir.Table, profile: VeeProfile, keys: ir.Table) -> ir.Table:
    """Add `_mk` (NULL for a meter without a timestamp) and `interval_minutes` (minutes: the
    meter's cadence or the profile default, as `add_cadence`) from `meter_keys`."""
    k = keys.rename(_k_meter="meter_id")
    j = t.left_join(k, t.meter_id.identical_to(k._k_meter))
    return j.mutate(
        interval_minutes=j.interval_minutes.fill_null(profile.interval_minutes).cast("int32")
    ).drop("_k_meter")


def meter_cadence(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`meter_id → interval_minutes` of the readings in `t` (see `cadence_from_steps`)."""
    return cadence_from_steps(interval_steps(t, profile))


def add_cadence(t: ir.Table, profile: VeeProfile, cadence: ir.Table | None = None) -> ir.Table:
    """Add `interval_minutes` per row: the meter's cadence (`cadence`, by default computed
    from `t`), or the profile default."""
    cad = (meter_cadence(t, profile) if cadence is None else cadence).rename(_cad_meter="meter_id")
    j = t.left_join(cad, t.meter_id == cad._cad_meter)
    return j.mutate(
        interval_minutes=j.interval_minutes.fill_null(profile.interval_minutes).cast("int32")
    ).drop("_cad_meter")
