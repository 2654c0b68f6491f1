"""Modelled-PV step: `gold.pv_modelled_hourly` for the gold plan's dates.

pvlib-modelled production per prosumer and hour from `silver.weather`; for user-hours
without weather, from `silver.pv_potential` (PVGIS plane-of-array irradiance turned back
into horizontal irradiance, `pv.pv_potential_as_weather`); next to the metered production
of `gold.energy_flow_hourly` (`enrich.modelled_vs_metered_pv`), so it runs after the gold
step. pandas + pvlib at this edge (`pv.model`, on the driver: its inputs are the profiles
and the external weather, not the readings), Ibis for the join on the engine.
"""

from __future__ import annotations

import datetime as dt
import time

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.lake.predicates import sql_dates_in
from wattlake.lake.spec import UTC_TS
from wattlake.pipeline.runner import Run, StepResult
from wattlake.pipeline.steps.enriched import _in_span, _span, weather_for
from wattlake.pipeline.steps.gold import GoldPlan
from wattlake.pv.fleet import modelled_production_for_users, pv_potential_as_weather
from wattlake.tables import Tables
from wattlake.transforms import enrich
from wattlake.transforms.enrich import WEATHER_MAX_DISTANCE_KM

STEP = "pv_modelled"
MODEL_INPUT_WEATHER = "weather"
MODEL_INPUT_PV_POTENTIAL = "pv_potential"

_MODELLED_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("ts", UTC_TS), ("modelled_kwh", pa.float64())]
)


def _hours_on(modelled: pd.DataFrame, dates: list[dt.date]) -> pd.DataFrame:
    if modelled.empty:
        return modelled
    ts = pd.DatetimeIndex(modelled["ts"])
    return modelled[pd.Index(ts.floor("h").date).isin(dates)]


def modelled_production(
    tables: Tables,
    users: ir.Table,
    dates: list[dt.date],
    *,
    max_distance_km: float = WEATHER_MAX_DISTANCE_KM,
) -> dict[str, pa.Table]:
    """Modelled PV (`user_id`, `ts` = period start, `modelled_kwh`) per model input.

    `weather`: from `silver.weather` (Open-Meteo labels: period end); `pv_potential`: from
    `silver.pv_potential` for the user-hours the weather does not cover."""
    engine = tables.engine
    prof = engine.to_arrow(users).to_pandas()
    # Every version of users who ever had panels: a later version without them ends the PV.
    has_pv = pd.to_numeric(prof["panel_kwp"], errors="coerce") > 0
    prof = prof[prof["user_id"].isin(prof.loc[has_pv, "user_id"])]
    out: dict[str, pa.Table] = {}
    if prof.empty:
        return out
    weather = engine.to_arrow(weather_for(tables, dates)).to_pandas()
    from_weather = _hours_on(
        modelled_production_for_users(prof, weather, max_distance_km=max_distance_km), dates
    )
    lo, hi = _span(dates)
    pot = engine.to_arrow(_in_span(tables.read(cat.SILVER_PV_POTENTIAL), lo, hi))
    from_pot = pd.DataFrame()
    if pot.num_rows:
        as_weather = pv_potential_as_weather(pot.to_pandas())
        from_pot = _hours_on(
            modelled_production_for_users(
                prof, as_weather, label="instant", max_distance_km=max_distance_km
            ),
            dates,
        )
        if not from_pot.empty and not from_weather.empty:
            hour = pd.DatetimeIndex(from_pot["ts"]).floor("h")
            covered = pd.MultiIndex.from_arrays(
                [from_weather["user_id"], pd.DatetimeIndex(from_weather["ts"]).floor("h")]
            )
            from_pot = from_pot[
                ~pd.MultiIndex.from_arrays([from_pot["user_id"], hour]).isin(covered)
            ]
    for name, frame in ((MODEL_INPUT_WEATHER, from_weather), (MODEL_INPUT_PV_POTENTIAL, from_pot)):
        if not frame.empty:
            out[name] = pa.Table.from_pandas(
                frame[["user_id", "ts"]].assign(modelled_kwh=frame["modelled_kwh"]),
                schema=_MODELLED_SCHEMA,
                preserve_index=False,
            )
    return out


def pv_modelled_hourly(
    tables: Tables,
    users: ir.Table,
    dates: list[dt.date],
    *,
    max_distance_km: float = WEATHER_MAX_DISTANCE_KM,
) -> ir.Table:
    """`gold.pv_modelled_hourly` rows for `dates` (an engine table): modelled next to
    metered (the gold flow of those dates, read from the lake: call after writing
    `gold.energy_flow_hourly`)."""
    engine = tables.engine
    modelled = modelled_production(tables, users, dates, max_distance_km=max_distance_km)
    if not modelled:
        return engine.materialize(ibis.memtable(cat.GOLD_PV_MODELLED.arrow_schema.empty_table()))
    flow = tables.read(cat.GOLD_FLOW_HOURLY)
    flow = flow.filter(flow.date.isin(dates))
    parts = [
        enrich.modelled_vs_metered_pv(engine.materialize(ibis.memtable(data)), flow).mutate(
            model_input=ibis.literal(name)
        )
        for name, data in modelled.items()
    ]
    return parts[0] if len(parts) == 1 else ibis.union(*parts)


def build(ctx: Context, run: Run, p: GoldPlan) -> StepResult:
    """Write `gold.pv_modelled_hourly` for the plan's dates."""
    t0 = time.perf_counter()
    res = StepResult(STEP)
    if p.dates:
        users = ctx.tables.read(cat.SILVER_USERS)
        out = pv_modelled_hourly(ctx.tables, users, p.dates)
        written = ctx.tables.replace_where(cat.GOLD_PV_MODELLED, out, sql_dates_in(p.dates))
        res.rows_out = written.rows
    res.message = f"{len(p.dates)} date(s)"
    res.seconds = time.perf_counter() - t0
    return res
