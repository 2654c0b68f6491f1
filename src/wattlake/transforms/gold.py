"""Silver → gold: hourly meter statistics, the per-user energy flow, daily balance, peaks.

Meters map to users through `silver.user_profiles` (consumption meter and PV generation
meter); a meter with no profile is its own consumption-only user.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.parse import round_half_up
from wattlake.transforms.users import CHANNEL_CONSUMPTION, CHANNEL_PRODUCTION


def hour_start(ts: ir.TimestampValue) -> ir.TimestampValue:
    """Start of the hour containing `ts`."""
    return ts.truncate("h")


def hourly_meter_stats(silver: ir.Table) -> ir.Table:
    """Per meter and hour: readings, kWh sum, AVG/MIN/MAX/STDDEV of kW (sample stddev)."""
    t = silver.mutate(hour_ts=hour_start(silver.ts))
    return t.group_by(["meter_id", "hour_ts"]).aggregate(
        date=t.date.min(),
        readings=t.count(),
        kwh=round_half_up(t.kwh.sum(), 4),
        kw_avg=round_half_up(t.kw.mean(), 4),
        kw_min=t.kw.min(),
        kw_max=t.kw.max(),
        kw_stddev=round_half_up(t.kw.std(how="sample"), 4),
    )


def energy_flow_hourly(silver: ir.Table, channels: ir.Table) -> ir.Table:
    """Per user and hour: production, consumption, self-consumption, surplus, grid flows (kWh).

    Computed per interval, then summed: self = min(P, C); surplus = P − self;
    grid import = C − self; grid export = surplus (no P2P trading yet), so
    production + grid import = consumption + grid export holds for every row.
    """
    j = silver.left_join(channels, silver.meter_id == channels.meter_id)
    j = j.mutate(
        user_id=j.user_id.fill_null(j.meter_id),
        channel=j.channel.fill_null(CHANNEL_CONSUMPTION),
    )
    per_interval = j.group_by(["user_id", "ts"]).aggregate(
        date=j.date.min(),
        p=j.kwh.sum(where=j.channel == CHANNEL_PRODUCTION).fill_null(0.0),
        c=j.kwh.sum(where=j.channel == CHANNEL_CONSUMPTION).fill_null(0.0),
    )
    s = ibis.least(per_interval.p, per_interval.c)
    f = per_interval.mutate(self_kwh=s, surplus=per_interval.p - s, imp=per_interval.c - s)
    f = f.mutate(hour_ts=hour_start(f.ts))
    return f.group_by(["user_id", "hour_ts"]).aggregate(
        date=f.date.min(),
        production_kwh=round_half_up(f.p.sum(), 4),
        consumption_kwh=round_half_up(f.c.sum(), 4),
        self_consumption_kwh=round_half_up(f.self_kwh.sum(), 4),
        surplus_kwh=round_half_up(f.surplus.sum(), 4),
        grid_import_kwh=round_half_up(f.imp.sum(), 4),
        grid_export_kwh=round_half_up(f.surplus.sum(), 4),
        intervals=f.count(),
    )


def daily_energy_balance(flow_hourly: ir.Table) -> ir.Table:
    """Per user and day: the sum of the hourly flow after P2P settlement (kWh)."""
    f = flow_hourly
    measures = [
        "production_kwh",
        "consumption_kwh",
        "self_consumption_kwh",
        "surplus_kwh",
        "grid_import_kwh",
        "grid_export_kwh",
        "p2p_import_kwh",
        "p2p_export_kwh",
    ]
    return f.group_by(["user_id", "date"]).aggregate(
        intervals=f.intervals.sum(), **{m: round_half_up(f[m].sum(), 4) for m in measures}
    )


def peak_hours(silver: ir.Table, channels: ir.Table, top: int = 3) -> ir.Table:
    """Top-`top` hours per day by total consumption over all consumption meters (kWh).

    Public holidays are excluded (GreenStream peak rules); PV generation meters are not load.
    """
    pv = channels.filter(channels.channel == CHANNEL_PRODUCTION)
    load = silver.filter(~silver.is_holiday).anti_join(pv, "meter_id")
    load = load.mutate(hour_ts=hour_start(load.ts))
    hourly = load.group_by(["date", "hour_ts"]).aggregate(
        total_kwh=round_half_up(load.kwh.sum(), 4),
        meters=load.meter_id.nunique(),
        season=load.season.max(),
        is_holiday=load.is_holiday.any(),
    )
    w = ibis.window(group_by=hourly.date, order_by=[ibis.desc(hourly.total_kwh), hourly.hour_ts])
    ranked = hourly.mutate(peak_rank=(ibis.row_number().over(w) + 1).cast("int32"))
    ranked = ranked.filter(ranked.peak_rank <= top)
    return ranked.mutate(hour=ranked.hour_ts.hour().cast("int32"))
