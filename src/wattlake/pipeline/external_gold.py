"""Gold from external data: enriched readings, modelled PV, the peak analysis' hours.

The I/O edge between the lake and the pure parts (`transforms.enrich` in Ibis,
`pv.model` in pandas + pvlib) for `wattlake run`'s gold step, on the dates it recomputes:

- `gold.readings_enriched`: `enrich.enrich_readings` of the silver readings with
  `silver.weather` (nearest grid point within `WEATHER_MAX_DISTANCE_KM`) and the prices of
  `Settings.price_zone`; NULL weather/price where there is none, no reading dropped.
- `gold.pv_modelled_hourly`: pvlib-modelled production per prosumer and hour from
  `silver.weather`; for user-hours without weather, from `silver.pv_potential` (PVGIS
  plane-of-array irradiance turned back into horizontal irradiance,
  `pv.pv_potential_as_weather`); next to the metered production of
  `gold.energy_flow_hourly` (`enrich.modelled_vs_metered_pv`).
- Peak analysis: `exclude_extreme_weather` drops the hours with extreme weather
  (> 35 °C or < −10 °C at any meter's grid point) before `gold.peak_hours` ranks them.

Recompute after new weather or prices: every successful external ingest marks its silver
batch in `ops.checkpoints` (step `silver_external`, run id = the ingest's run).
`pending_external` lists the marks whose ingest run the gold step has not applied yet;
`external_dates` turns their batches into the reading dates they affect:
weather labelled `ts` → the dates of `ts` and `ts − 1 h` (Open-Meteo radiation is the mean
over the hour before its label), prices and PV potential → the date of `ts`. Only dates with
silver readings count.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.engine import Engine
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.spec import UTC_TS, conform
from wattlake.pipeline.external import EXTERNAL_STEP
from wattlake.pv.model import modelled_production_for_users, pv_potential_as_weather
from wattlake.transforms import enrich

WEATHER_MAX_DISTANCE_KM = 50.0
"""Readings and prosumers farther than this (km) from every weather grid point get none."""

MODEL_INPUT_WEATHER = "weather"
MODEL_INPUT_PV_POTENTIAL = "pv_potential"


# -- what to recompute ----------------------------------------------------------------------


def pending_external(lake: Lake, done: set[str]) -> dict[str, list[str]]:
    """External ingest runs not yet applied to gold: `{run_id: [silver batch ids]}`.

    `done`: the run ids already checkpointed by the gold step."""
    ck = lake.read(cat.OPS_CHECKPOINTS)
    marks = ck.filter(pc.equal(ck["step"], EXTERNAL_STEP)).to_pylist()
    out: dict[str, list[str]] = {}
    for m in marks:
        if m["run_id"] not in done:
            out.setdefault(m["run_id"], []).append(m["batch_id"])
    return out


def _utc_date(ts: ir.TimestampValue) -> ir.DateValue:
    return ts.cast("timestamp").date()


def external_dates(
    engine: Engine, lake: Lake, silver: ir.Table, batch_ids: list[str]
) -> list[dt.date]:
    """Dates with silver readings whose weather, price or PV potential rows are in
    `batch_ids` (module doc for the alignment)."""
    if not batch_ids:
        return []
    w = engine.read(lake, cat.SILVER_WEATHER)
    w = w.filter(w._batch_id.isin(batch_ids))
    p = engine.read(lake, cat.SILVER_PRICES)
    p = p.filter(p._batch_id.isin(batch_ids))
    v = engine.read(lake, cat.SILVER_PV_POTENTIAL)
    v = v.filter(v._batch_id.isin(batch_ids))
    touched = ibis.union(
        w.select(date=_utc_date(w.ts)),
        w.select(date=_utc_date(w.ts - ibis.interval(hours=1))),
        p.select(date=_utc_date(p.ts)),
        v.select(date=_utc_date(v.ts)),
    ).distinct()
    have = silver.select("date").distinct()
    hit = have.semi_join(touched, have.date == touched.date)
    return sorted(d for d in engine.to_arrow(hit)["date"].to_pylist() if d)


# -- inputs for a set of dates ----------------------------------------------------------------


def _span(dates: list[dt.date]) -> tuple[dt.datetime, dt.datetime]:
    """Naive UTC [first date 00:00, last date + 1 day) of `dates`."""
    lo = dt.datetime.combine(min(dates), dt.time())
    return lo, dt.datetime.combine(max(dates), dt.time()) + dt.timedelta(days=1)


def _in_span(t: ir.Table, lo: dt.datetime, hi: dt.datetime) -> ir.Table:
    ts = t.ts.cast("timestamp")
    return t.filter((ts >= ibis.literal(lo)) & (ts < ibis.literal(hi)))


def weather_for(engine: Engine, lake: Lake, dates: list[dt.date]) -> ir.Table:
    """`silver.weather` rows labelled within the dates plus one hour (radiation labels)."""
    lo, hi = _span(dates)
    return _in_span(engine.read(lake, cat.SILVER_WEATHER), lo, hi + dt.timedelta(hours=1))


def prices_for(engine: Engine, lake: Lake, dates: list[dt.date], zone: str) -> ir.Table:
    """`silver.prices` rows of `zone` starting within the dates (a price starts in the hour
    of the readings it covers)."""
    lo, hi = _span(dates)
    p = engine.read(lake, cat.SILVER_PRICES)
    return _in_span(p.filter(p.zone == zone), lo, hi)


# -- gold.readings_enriched -------------------------------------------------------------------


def enriched_readings(
    engine: Engine,
    lake: Lake,
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
        weather_for(engine, lake, dates),
        prices_for(engine, lake, dates, zone),
        zone,
        max_distance_km=max_distance_km,
    )
    e = e.mutate(price_zone=ibis.literal(zone))
    return e.select(*cat.GOLD_READINGS_ENRICHED.column_names)


def without_extreme_weather(silver: ir.Table, enriched: ir.Table) -> ir.Table:
    """`silver` without the hours that had extreme weather (the peak analysis' input)."""
    return enrich.exclude_extreme_weather(silver, enriched)


# -- gold.pv_modelled_hourly ------------------------------------------------------------------

_MODELLED_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("ts", UTC_TS), ("modelled_kwh", pa.float64())]
)


def _hours_on(modelled: pd.DataFrame, dates: list[dt.date]) -> pd.DataFrame:
    if modelled.empty:
        return modelled
    ts = pd.DatetimeIndex(modelled["ts"])
    return modelled[pd.Index(ts.floor("h").date).isin(dates)]


def modelled_production(
    engine: Engine,
    lake: Lake,
    users: ir.Table,
    dates: list[dt.date],
    *,
    max_distance_km: float = WEATHER_MAX_DISTANCE_KM,
) -> dict[str, pa.Table]:
    """Modelled PV (`user_id`, `ts` = period start, `modelled_kwh`) per model input.

    `weather`: from `silver.weather` (Open-Meteo labels: period end); `pv_potential`: from
    `silver.pv_potential` for the user-hours the weather does not cover."""
    prof = engine.to_arrow(users).to_pandas()
    # Every version of users who ever had panels: a later version without them ends the PV.
    has_pv = pd.to_numeric(prof["panel_kwp"], errors="coerce") > 0
    prof = prof[prof["user_id"].isin(prof.loc[has_pv, "user_id"])]
    out: dict[str, pa.Table] = {}
    if prof.empty:
        return out
    weather = engine.to_arrow(weather_for(engine, lake, dates)).to_pandas()
    from_weather = _hours_on(
        modelled_production_for_users(prof, weather, max_distance_km=max_distance_km), dates
    )
    lo, hi = _span(dates)
    pot = engine.to_arrow(_in_span(engine.read(lake, cat.SILVER_PV_POTENTIAL), lo, hi))
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
    engine: Engine,
    lake: Lake,
    users: ir.Table,
    dates: list[dt.date],
    *,
    max_distance_km: float = WEATHER_MAX_DISTANCE_KM,
) -> pa.Table:
    """`gold.pv_modelled_hourly` for `dates`: modelled next to metered (the gold flow of
    those dates, read from the lake: call after writing `gold.energy_flow_hourly`)."""
    modelled = modelled_production(engine, lake, users, dates, max_distance_km=max_distance_km)
    if not modelled:
        return cat.GOLD_PV_MODELLED.arrow_schema.empty_table()
    flow = engine.read(lake, cat.GOLD_FLOW_HOURLY)
    flow = flow.filter(flow.date.isin(dates))
    parts = [
        enrich.modelled_vs_metered_pv(engine.materialize(ibis.memtable(data)), flow).mutate(
            model_input=ibis.literal(name)
        )
        for name, data in modelled.items()
    ]
    expr = parts[0] if len(parts) == 1 else ibis.union(*parts)
    return conform(engine.to_arrow(expr), cat.GOLD_PV_MODELLED)


__all__ = [
    "WEATHER_MAX_DISTANCE_KM",
    "enriched_readings",
    "external_dates",
    "modelled_production",
    "pending_external",
    "prices_for",
    "pv_modelled_hourly",
    "weather_for",
    "without_extreme_weather",
]
