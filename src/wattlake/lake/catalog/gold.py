"""Gold tables: per user/meter/hour/day aggregates, the P2P market, enriched readings."""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.spec import UTC_TS, table_spec

GOLD_HOURLY_METER = table_spec(
    "gold.hourly_meter_stats",
    [
        ("meter_id", pa.string()),
        ("hour_ts", UTC_TS),
        ("date", pa.date32()),
        ("readings", pa.int64()),
        ("kwh", pa.float64()),
        ("kw_avg", pa.float64()),
        ("kw_min", pa.float64()),
        ("kw_max", pa.float64()),
        ("kw_stddev", pa.float64()),
    ],
    description="per meter and hour: AVG/MIN/MAX/STDDEV of power, energy sum",
)

GOLD_FLOW_HOURLY = table_spec(
    "gold.energy_flow_hourly",
    [
        ("user_id", pa.string()),
        ("hour_ts", UTC_TS),
        ("date", pa.date32()),
        ("production_kwh", pa.float64()),
        ("consumption_kwh", pa.float64()),
        ("self_consumption_kwh", pa.float64()),
        ("surplus_kwh", pa.float64()),
        ("grid_import_kwh", pa.float64()),
        ("grid_export_kwh", pa.float64()),
        ("p2p_import_kwh", pa.float64()),
        ("p2p_export_kwh", pa.float64()),
        ("intervals", pa.int64()),
        ("community_id", pa.int64()),  # the user's market community in this clearing
    ],
    description="per user and hour: production, consumption, P2P trades and the grid balance",
)

GOLD_DAILY_BALANCE = table_spec(
    "gold.daily_energy_balance",
    [
        ("user_id", pa.string()),
        ("date", pa.date32()),
        ("production_kwh", pa.float64()),
        ("consumption_kwh", pa.float64()),
        ("self_consumption_kwh", pa.float64()),
        ("surplus_kwh", pa.float64()),
        ("grid_import_kwh", pa.float64()),
        ("grid_export_kwh", pa.float64()),
        ("p2p_import_kwh", pa.float64()),
        ("p2p_export_kwh", pa.float64()),
        ("intervals", pa.int64()),
    ],
    description="per user and day: the energy balance (sum of the hourly flow)",
)

GOLD_PEAK_HOURS = table_spec(
    "gold.peak_hours",
    [
        ("date", pa.date32()),
        ("hour_ts", UTC_TS),
        ("hour", pa.int32()),
        ("peak_rank", pa.int32()),
        ("total_kwh", pa.float64()),
        ("meters", pa.int64()),
        ("season", pa.string()),
        ("is_holiday", pa.bool_()),
    ],
    description="top-3 consumption hours per day over all consumption meters",
)

GOLD_P2P_TRADES = table_spec(
    "gold.p2p_trades",
    (
        ("ts", UTC_TS),  # interval start (UTC)
        ("date", pa.date32()),
        ("seller_id", pa.string()),
        ("buyer_id", pa.string()),
        ("energy_kwh", pa.float64()),
        ("price_eur_per_kwh", pa.float64()),
        ("amount_eur", pa.float64()),  # energy × price, paid to the seller
        ("grid_fee_eur", pa.float64()),  # energy × network fee, paid by the buyer
        ("distance_km", pa.float64()),
        ("co2_saved_kg", pa.float64()),
        ("buyer_savings_eur", pa.float64()),
        ("seller_premium_eur", pa.float64()),
        ("community_id", pa.int64()),
        ("mechanism", pa.string()),
    ),
    description="P2P trades, one row per (interval, seller, buyer)",
)

_KPI_ENERGY = (
    ("production_kwh", pa.float64()),
    ("consumption_kwh", pa.float64()),
    ("self_consumption_kwh", pa.float64()),
    ("grid_import_kwh", pa.float64()),
    ("grid_export_kwh", pa.float64()),
    ("p2p_import_kwh", pa.float64()),
    ("p2p_export_kwh", pa.float64()),
    ("p2p_revenue_eur", pa.float64()),
    ("p2p_cost_eur", pa.float64()),
    ("grid_revenue_eur", pa.float64()),
    ("revenue_eur", pa.float64()),
    ("savings_eur", pa.float64()),
    ("co2_saved_kg", pa.float64()),
    ("self_sufficiency", pa.float64()),
    ("self_consumption_rate", pa.float64()),
)
ROLLING_KPIS = (
    "revenue_eur",
    "savings_eur",
    "co2_saved_kg",
    "self_sufficiency",
    "self_consumption_rate",
)
ROLLING_DAYS = (7, 30)
_KPI_ROLLING = tuple((f"{k}_avg_{n}d", pa.float64()) for n in ROLLING_DAYS for k in ROLLING_KPIS)

GOLD_USER_KPIS = table_spec(
    "gold.p2p_user_kpis_daily",
    [
        ("user_id", pa.string()),
        ("date", pa.date32()),
        ("community_id", pa.int64()),
        *_KPI_ENERGY,
        *_KPI_ROLLING,
    ],
    description="per user and day: energy, P2P/grid EUR, savings, CO2, rates + rolling means",
)

GOLD_USER_PROFILES = table_spec(
    "gold.p2p_user_profiles",
    [
        ("user_id", pa.string()),
        ("community_id", pa.int64()),  # on the user's last day
        ("first_date", pa.date32()),
        ("last_date", pa.date32()),
        ("days", pa.int64()),
        ("avg_daily_consumption_kwh", pa.float64()),
        ("avg_daily_production_kwh", pa.float64()),
        ("peak_consumption_share", pa.float64()),  # 17:00-21:00 UTC share of consumption
        *_KPI_ENERGY,  # totals over all days; rates over the totals
        ("market_role", pa.string()),  # seller | buyer | none
    ],
    description="per user over all days: averages, totals, rates and P2P market role",
)

GOLD_COMMUNITY_KPIS = table_spec(
    "gold.p2p_community_kpis_daily",
    [
        ("community_id", pa.int64()),
        ("date", pa.date32()),
        ("members", pa.int64()),
        *_KPI_ENERGY,
        *_KPI_ROLLING,
    ],
    description="per market community and day: the user KPIs summed, rates over the sums",
)

GOLD_READINGS_ENRICHED = table_spec(
    "gold.readings_enriched",
    [
        ("meter_id", pa.string()),
        ("ts", UTC_TS),  # interval start (UTC)
        ("date", pa.date32()),
        ("interval_minutes", pa.int32()),
        ("kwh", pa.float64()),
        ("kw", pa.float64()),
        ("quality_score", pa.int32()),
        ("quality_grade", pa.string()),
        ("is_estimated", pa.bool_()),
        ("hour", pa.int32()),
        ("day_of_week", pa.int32()),
        ("is_weekend", pa.bool_()),
        ("is_holiday", pa.bool_()),
        ("season", pa.string()),
        ("is_peak", pa.bool_()),
        ("weather_latitude", pa.float64()),  # nearest silver.weather grid point (degrees)
        ("weather_longitude", pa.float64()),
        ("temperature_c", pa.float64()),
        ("cloud_cover_pct", pa.float64()),
        ("ghi_w_m2", pa.float64()),  # mean over the reading's hour
        ("price_zone", pa.string()),
        ("price_eur_per_kwh", pa.float64()),
        ("cost_eur", pa.float64()),  # kwh × price_eur_per_kwh
        ("is_extreme_weather", pa.bool_()),  # > 35 °C or < −10 °C; NULL without weather
    ],
    description="silver readings with their hour's weather, interval spot price, calendar",
)

GOLD_PV_MODELLED = table_spec(
    "gold.pv_modelled_hourly",
    [
        ("user_id", pa.string()),
        ("hour_ts", UTC_TS),
        ("date", pa.date32()),
        ("modelled_kwh", pa.float64()),  # pvlib ModelChain, the user's kWp/tilt/azimuth
        ("metered_kwh", pa.float64()),  # gold.energy_flow_hourly production_kwh
        ("difference_kwh", pa.float64()),  # metered − modelled
        ("performance_ratio", pa.float64()),  # metered / modelled (NULL below 0.01 kWh)
        ("model_input", pa.string()),  # weather (silver.weather) | pv_potential (PVGIS)
    ],
    description="per prosumer and hour: pvlib-modelled PV next to the metered production",
)
