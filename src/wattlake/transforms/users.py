"""User-profile history: bronze text → typed `silver.user_profiles`."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

# The two channels of a user's meters (`meter_channels`).
CHANNEL_CONSUMPTION = "consumption"
CHANNEL_PRODUCTION = "production"

_FLOATS = ("panel_kwp", "panel_tilt_deg", "panel_azimuth_deg", "latitude", "longitude")


def typed_profiles(bronze: ir.Table) -> ir.Table:
    """One row per (user_id, effective_date): the latest-ingested version wins.

    Numbers were checked at ingestion (bad rows are dead letters), so casts here succeed;
    empty text becomes NULL.
    """
    b = bronze
    w = ibis.window(
        group_by=[b.user_id, b.effective_date],
        order_by=[ibis.desc(b._ingested_at), ibis.desc(b._batch_id), ibis.desc(b._row_number)],
    )
    b = b.mutate(_rank=ibis.row_number().over(w))
    b = b.filter(b._rank == 0)

    def text(c: ir.StringValue) -> ir.StringValue:
        return ibis.ifelse(c.strip() == "", ibis.null("string"), c.strip())

    return b.select(
        user_id=b.user_id.strip(),
        meter_id=text(b.meter_id),
        pv_meter_id=text(b.pv_meter_id),
        user_type=text(b.user_type),
        **{c: b[c].strip().try_cast("float64") for c in _FLOATS},
        tariff=text(b.tariff),
        acorn_group=text(b.acorn_group),
        effective_date=b.effective_date.strip().try_cast("date"),
        _batch_id=b._batch_id,
        _record_id=b._record_id,
    )


def latest_user_location(users: ir.Table) -> ir.Table:
    """`user_id → (latitude, longitude)` of the latest profile version that has one."""
    u = users.filter(users.latitude.notnull() & users.longitude.notnull())
    order = [ibis.desc(u.effective_date)] if "effective_date" in u.columns else []
    w = ibis.window(group_by=u.user_id, order_by=[*order, u.latitude, u.longitude])
    u = u.mutate(_rank=ibis.row_number().over(w))
    return u.filter(u._rank == 0).select("user_id", "latitude", "longitude")


def meter_channels(users: ir.Table) -> ir.Table:
    """`meter_id → (user_id, channel)` from the profile history (all versions)."""
    cons = users.select(
        meter_id=users.meter_id, user_id=users.user_id, channel=ibis.literal(CHANNEL_CONSUMPTION)
    )
    pv = users.filter(users.pv_meter_id.notnull() & (users.pv_meter_id != "")).select(
        meter_id=users.pv_meter_id, user_id=users.user_id, channel=ibis.literal(CHANNEL_PRODUCTION)
    )
    return cons.union(pv).distinct()
