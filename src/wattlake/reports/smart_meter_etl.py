"""The three reports of the smart-meter-etl case (seeds/smart-meter-etl.md), as pure Ibis
expressions (the same on DuckDB and Spark).

Conventions:
- Days are UTC days; a reading belongs to the day of its interval start (`ts`, UTC).
- An agreement is active on day D when `agreement_valid_from <= D` and
  (`agreement_valid_to` is NULL or `D < agreement_valid_to`): `valid_to` is the first day the
  agreement no longer applies, so on a switch day only the new agreement is active.
- Consumption comes from validated readings (`silver.meter_readings`, kWh per interval),
  estimated (interpolated) intervals included and counted; quarantined readings are not.
- Sums are rounded half-up to 4 decimals (kWh), identically on every engine.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from wattlake.transforms.parse import round_half_up

NO_AGREEMENT = "(no active agreement)"
KWH_DECIMALS = 4


def _day(d: dt.date) -> ir.DateScalar:
    return ibis.literal(d, type="date")


def is_active(agreements: ir.Table, day: ir.DateValue) -> ir.BooleanValue:
    """valid_from <= day < valid_to (NULL valid_to: open-ended)."""
    a = agreements
    return (a.agreement_valid_from <= day) & (
        a.agreement_valid_to.isnull() | (day < a.agreement_valid_to)
    )


def active_agreements(
    agreements: ir.Table, products: ir.Table, meterpoints: ir.Table, reference_date: dt.date
) -> ir.Table:
    """Agreements active on `reference_date` with product and meterpoint attributes.

    Columns: reference_date, agreement_id, meterpoint_id, region, product_id, display_name,
    is_variable, agreement_valid_from, agreement_valid_to; ordered by agreement id.
    """
    d = _day(reference_date)
    a = agreements.filter(is_active(agreements, d))
    p = products.select(
        _p_id=products.product_id,
        display_name=products.display_name,
        is_variable=products.is_variable,
    )
    m = meterpoints.select(_m_id=meterpoints.meterpoint_id, region=meterpoints.region)
    j = a.left_join(p, a.product_id == p._p_id).left_join(m, a.meterpoint_id == m._m_id)
    out = j.select(
        reference_date=d,
        agreement_id=j.agreement_id,
        meterpoint_id=j.meterpoint_id,
        region=j.region,
        product_id=j.product_id,
        display_name=j.display_name,
        is_variable=j.is_variable,
        agreement_valid_from=j.agreement_valid_from,
        agreement_valid_to=j.agreement_valid_to,
    )
    return out.order_by([out.agreement_id.length(), out.agreement_id])


def readings_in_range(
    readings: ir.Table, start: dt.date, end: dt.date, meterpoints: ir.Table | None = None
) -> ir.Table:
    """Validated readings with `ts` on UTC days `start`..`end` (inclusive), of the
    meterpoints in `meterpoints` (all meters when None); adds `reference_date`."""
    lo = ibis.literal(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC))
    hi = ibis.literal(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    r = readings.filter((readings.ts >= lo) & (readings.ts < hi))
    if meterpoints is not None:
        r = r.semi_join(meterpoints, r.meter_id == meterpoints.meterpoint_id)
    return r.mutate(reference_date=r.ts.date())


def _totals(t: ir.Table) -> dict[str, ir.Value]:
    return {
        "meterpoint_count": t.meter_id.nunique().cast("int64"),
        "reading_count": t.count().cast("int64"),
        "estimated_count": t.is_estimated.cast("int64").sum().fill_null(0).cast("int64"),
        "total_consumption_kwh": t.kwh.sum(),
    }


def half_hourly(
    readings: ir.Table, start: dt.date, end: dt.date, meterpoints: ir.Table | None = None
) -> ir.Table:
    """Consumption per half hour (UTC interval start) over meters, days `start`..`end`.

    Columns: reference_date, interval_start, meterpoint_count (distinct meters with a
    reading), reading_count, estimated_count (interpolated readings), total_consumption_kwh.
    Readings of shorter cadences fall into the half hour that contains their start.
    """
    r = readings_in_range(readings, start, end, meterpoints)
    r = r.mutate(interval_start=r.ts.truncate("h") + ((r.ts.minute() // 30) * 30).as_interval("m"))
    g = r.group_by(["reference_date", "interval_start"]).aggregate(**_totals(r))
    g = g.mutate(total_consumption_kwh=round_half_up(g.total_consumption_kwh, KWH_DECIMALS))
    return g.order_by("interval_start")


def daily_product(
    readings: ir.Table,
    agreements: ir.Table,
    products: ir.Table,
    start: dt.date,
    end: dt.date,
    meterpoints: ir.Table | None = None,
) -> ir.Table:
    """Consumption per UTC day and product of the agreement active on that day.

    Each reading joins the agreement of its meterpoint active on the reading's day (should
    several be active, the latest-starting one, so nothing counts twice); readings without an
    active agreement are kept under product NULL / `(no active agreement)`, so the products
    of a day sum to the day's consumption. Columns: reference_date, product_id, display_name,
    is_variable, meterpoint_count, reading_count, estimated_count, total_consumption_kwh.
    """
    r = readings_in_range(readings, start, end, meterpoints)
    r = r.select("meter_id", "ts", "kwh", "is_estimated", "reference_date")
    a = agreements.select(
        _a_mp=agreements.meterpoint_id,
        _a_id=agreements.agreement_id,
        _a_product=agreements.product_id,
        agreement_valid_from=agreements.agreement_valid_from,
        agreement_valid_to=agreements.agreement_valid_to,
    )
    j = r.left_join(a, (r.meter_id == a._a_mp) & is_active(a, r.reference_date))
    rank = ibis.row_number().over(
        ibis.window(
            group_by=[j.meter_id, j.ts],
            order_by=[ibis.desc(j.agreement_valid_from), ibis.desc(j._a_id)],
        )
    )
    j = j.mutate(_rank=rank)
    j = j.filter(j._rank == 0)
    p = products.select(
        _p_id=products.product_id,
        _p_name=products.display_name,
        is_variable=products.is_variable,
    )
    k = j.left_join(p, j._a_product == p._p_id)
    k = k.mutate(
        product_id=k._a_product,
        display_name=ibis.ifelse(k._a_product.isnull(), NO_AGREEMENT, k._p_name),
    )
    g = k.group_by(["reference_date", "product_id", "display_name", "is_variable"]).aggregate(
        **_totals(k)
    )
    g = g.mutate(total_consumption_kwh=round_half_up(g.total_consumption_kwh, KWH_DECIMALS))
    return g.order_by(["reference_date", g.product_id.isnull(), "display_name"])
