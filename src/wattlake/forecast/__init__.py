"""Forecasting: day-ahead consumption, solar and price forecasts with P10/P50/P90 intervals.

Modules (pure first, I/O edges last):

- `timeline` — the regular time grid of a forecast problem with its calendar (UTC and
  Europe/London local hour, weekday, UK holidays, DST), issue times and horizon blocks.
- `features` — engine-agnostic Ibis: lags that respect the issue time, rolling 7-day
  statistics, same-slot means, weather and price covariates (DuckDB and Spark alike).
- `series` — the lake's hourly series (households, prosumers, communities, portfolio, spot
  price) with quality weights from the silver quality score, as Ibis over `ctx.engine`.
- `baselines` — persistence (same time yesterday / last week) and like-day.
- `metrics` — MAE, rMAE, RMSE, R², MAPE, bias, interval coverage, pinball loss, PSI.
- `models` — XGBoost quantile regression (P10/P50/P90) on a scale-free target, with a
  conformal widening of the interval and sorted quantiles.
- `cv` — rolling-origin cross-validation and a bounded-in-time parameter search.
- `registry` — MLflow (SQLite store under the home): runs, versions, `champion` alias, cards.
- `service` — train / predict / evaluate as functions of a `Context` (what a DAG calls).
- `advice` — per-user trading advice from the forecasts.
- `monitor` — `gold.forecast_accuracy` and feature drift (PSI).
- `byo` — bring-your-own-series backtest on a wide CSV.
"""
