"""Forecast tables (gold): forecasts, their accuracy, feature drift, trading advice.

Written by `wattlake forecast predict | evaluate` (`wattlake.forecast.service`); energy in
kWh per hour, prices in EUR/kWh (the `unit` column says which), times UTC.
"""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.spec import UTC_TS, table_spec

GOLD_FORECASTS = table_spec(
    "gold.forecasts",
    [
        ("model", pa.string()),  # family, e.g. consumption-household (wattlake-<model>)
        ("model_version", pa.int64()),  # registry version that made the forecast
        ("target", pa.string()),  # consumption | solar | price
        ("level", pa.string()),  # household | community | portfolio | prosumer | zone
        ("key", pa.string()),  # user id, community-<id>, portfolio, or the price zone
        ("issued_at", UTC_TS),  # issue time: no actual at or after it was used
        ("date", pa.date32()),  # UTC date of issued_at
        ("ts", UTC_TS),  # hour start of the forecast value
        ("lead_hours", pa.int32()),  # hours from issued_at to ts (0-23 day-ahead)
        ("p10", pa.float64()),  # 10 % quantile, in `unit` per hour
        ("p50", pa.float64()),  # median
        ("p90", pa.float64()),  # 90 % quantile
        ("unit", pa.string()),  # kWh | EUR/kWh
        ("created_at", UTC_TS),
    ],
    description="day-ahead forecasts with P10/P50/P90, one row per (model, key, issued_at, ts)",
    merge_keys=("model", "key", "issued_at", "ts"),
)

GOLD_FORECAST_ACCURACY = table_spec(
    "gold.forecast_accuracy",
    [
        ("model", pa.string()),
        ("model_version", pa.int64()),
        ("target", pa.string()),
        ("level", pa.string()),
        ("date", pa.date32()),  # UTC date of the forecast hours
        ("n", pa.int64()),  # forecast hours with an actual
        ("keys", pa.int64()),  # series evaluated
        ("mae", pa.float64()),  # mean |actual − p50|, in unit per hour
        ("rmae", pa.float64()),  # mean over keys of MAE / (max − min of the day's actuals)
        ("rmse", pa.float64()),
        ("bias", pa.float64()),  # mean (p50 − actual): > 0 over-forecast
        ("coverage", pa.float64()),  # share of actuals within [p10, p90] (nominal 0.8)
        ("persistence_mae", pa.float64()),  # best of same time yesterday / last week
        ("reference_mae", pa.float64()),  # the model's backtest MAE at training (level)
        ("evaluated_at", UTC_TS),
    ],
    description="forecast accuracy per model, version, target, level and day",
)

GOLD_FORECAST_DRIFT = table_spec(
    "gold.forecast_drift",
    [
        ("model", pa.string()),
        ("model_version", pa.int64()),
        ("feature", pa.string()),
        ("psi", pa.float64()),  # population stability index: > 0.25 a large shift
        ("window_start", UTC_TS),  # the recent window compared with the training window
        ("window_end", UTC_TS),
        ("computed_at", UTC_TS),
    ],
    description="feature drift (PSI) of a model's key features: training vs the last 7 days",
)

GOLD_TRADING_ADVICE = table_spec(
    "gold.trading_advice",
    [
        ("user_id", pa.string()),
        ("issued_at", UTC_TS),
        ("date", pa.date32()),  # UTC date of issued_at
        ("ts", UTC_TS),  # hour start
        ("production_p50_kwh", pa.float64()),  # expected PV production (0 for consumers)
        ("consumption_p50_kwh", pa.float64()),
        ("surplus_p10_kwh", pa.float64()),  # production P10 − consumption P90 (pessimistic)
        ("surplus_p50_kwh", pa.float64()),  # production P50 − consumption P50 (< 0: deficit)
        ("surplus_p90_kwh", pa.float64()),  # production P90 − consumption P10 (optimistic)
        ("action", pa.string()),  # SELL | BUY | HOLD
        ("price_eur_per_kwh", pa.float64()),  # expected P2P price of the hour
        ("revenue_low_eur", pa.float64()),  # SELL: revenue range; BUY: −cost range
        ("revenue_high_eur", pa.float64()),
        ("confidence", pa.float64()),  # probability that the sign of the surplus holds, 0-1
        ("confidence_label", pa.string()),  # high | medium | low
    ],
    description="per user and forecast hour: expected surplus or deficit and SELL/BUY/HOLD",
)

FORECAST_TABLES = (GOLD_FORECASTS, GOLD_FORECAST_ACCURACY, GOLD_FORECAST_DRIFT, GOLD_TRADING_ADVICE)
