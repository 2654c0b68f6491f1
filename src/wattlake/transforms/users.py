"""User-profile history: bronze text → typed `silver.user_profiles`."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

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
