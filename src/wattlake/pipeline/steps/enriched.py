"""Enriched-readings step: `gold.readings_enriched` for the gold plan's dates.

Every silver reading of those dates with its hour's weather at its user's nearest
`silver.weather` grid point (within `WEATHER_MAX_DISTANCE_KM`) and its interval's spot price
in `settings.price_zone` (`transforms.enrich`, pure Ibis); NULL weather or price where there
is none, no reading dropped. Runs before the gold step, whose peak analysis leaves out the
extreme-weather hours it marks.
"""

from __future__ import annotations

import datetime as dt
import time

import ibis
import ibis.expr.types as ir

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.lake.predicates import sql_dates_in
from wattlake.pipeline.runner import Run, StepResult
from wattlake.pipeline.steps.gold import GoldPlan
from wattlake.tables import Tables
from wattlake.transforms import enrich
from wattlake.transforms.enrich import WEATHER_MAX_DISTANCE_KM

STEP = "enriched"


def _span(dates: list[dt.date]) -> tuple[dt.datetime, dt.datetime]:
    """Naive UTC [first date 00:00, last date + 1 day) of `dates`."""
    lo = dt.datetime.combine(min(dates), dt.time())
    return lo, dt.datetime.combine(max(dates), dt.time()) + dt.timedelta(days=1)


def _in_span(t: ir.Table, lo: dt.datetime, hi: dt.datetime) -> ir.Table:
    ts = t.ts.cast("timestamp")
    return t.filter((ts >= ibis.literal(lo)) & (ts < ibis.literal(hi)))


def weather_for(tables: Tables, dates: list[dt.date]) -> ir.Table:
    """`silver.weather` rows labelled within the dates plus one hour (radiation labels)."""
    lo, hi = _span(dates)
    return _in_span(tables.read(cat.SILVER_WEATHER), lo, hi + dt.timedelta(hours=1))


def prices_for(tables: Tables, dates: list[dt.date], zone: str) -> ir.Table:
    """`silver.prices` rows of `zone` starting within the dates (a price starts in the hour
    of the readings it covers)."""
    lo, hi = _span(dates)
    p = tables.read(cat.SILVER_PRICES)
    return _in_span(p.filter(p.zone == zone), lo, hi)


# -- gold.readings_enriched -------------------------------------------------------------------


def enriched_readings(
    tables: Tables,
    silver: ir.Table,
    users: ir.Table,
    dates: list[dt.date],
    zone: str,
    *,
    max_distance_km: float = WEATHER_MAX_DISTANCE_KM,
) -> ir.Table:
    """`gold.readings_enriched` rows of `silver` (already restricted to `dates`)."""
    e = enrich.enrich_readings(
        silver,
        users,
        weather_for(tables, dates),
        prices_for(tables, dates, zone),
        zone,
        max_distance_km=max_distance_km,
    )
    e = e.mutate(price_zone=ibis.literal(zone))
    return e.select(*cat.GOLD_READINGS_ENRICHED.column_names)


def build(ctx: Context, run: Run, p: GoldPlan) -> StepResult:
    """Write `gold.readings_enriched` for the plan's dates."""
    t0 = time.perf_counter()
    res = StepResult(STEP)
    if p.dates:
        silver = ctx.tables.read(cat.SILVER_READINGS)
        users = ctx.tables.read(cat.SILVER_USERS)
        expr = enriched_readings(
            ctx.tables,
            silver.filter(silver.date.isin(p.dates)),
            users,
            p.dates,
            ctx.settings.price_zone,
        )
        out = ctx.tables.replace_where(cat.GOLD_READINGS_ENRICHED, expr, sql_dates_in(p.dates))
        res.rows_out = out.rows
    res.message = f"{len(p.dates)} date(s)"
    res.seconds = time.perf_counter() - t0
    return res
