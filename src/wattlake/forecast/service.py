"""Batch inference and monitoring as functions of a `Context` (what the CLI, the demo and a
DAG task call); each runs as a step through `pipeline.runner` so it lands in `ops.runs`.

- `predict(ctx)`: for every model family with a champion, the next 24 h after the issue
  time (default: midnight UTC after the last actual) per series with P10/P50/P90 →
  `gold.forecasts` (replacing that issue's rows) → `dw.fact_forecasts`; then the trading
  advice (`gold.trading_advice`) from the household consumption and prosumer solar forecasts.
- `evaluate(ctx)`: forecasts whose hours now have actuals → `gold.forecast_accuracy` per
  model, version, target, level and day, and the feature drift (PSI, training window vs the
  last 7 days) of each champion → `gold.forecast_drift`; then the alert rules
  (`observability.alerts.forecast_alerts`) on those tables.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.forecast import dataset as ds
from wattlake.forecast.advice import advise, p2p_price
from wattlake.forecast.registry import Registry, model_name
from wattlake.forecast.series import QualityWeights
from wattlake.forecast.timeline import as_utc, day_start
from wattlake.forecast.train import drift
from wattlake.lake import catalog as cat
from wattlake.lake.predicates import sql_dates_in, sql_in, sql_str, sql_ts
from wattlake.observability.alerts import forecast_alerts, notify_all, write_alerts
from wattlake.warehouse.forecasts import load_forecasts

HORIZON = dt.timedelta(hours=24)
DRIFT_DAYS = 7


@dataclass
class PredictResult:
    issued_at: dt.datetime | None
    rows: dict[str, int] = field(default_factory=dict)  # per model family
    versions: dict[str, int] = field(default_factory=dict)
    advice_rows: int = 0
    warehouse_rows: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # family → why


def _ts(x: dt.datetime) -> str:
    return sql_ts(as_utc(x))


def default_issue(ctx: Context, fam: ds.Family) -> dt.datetime:
    """Midnight UTC after the family's last actual."""
    _, hi = ds.span(ctx, fam, QualityWeights())
    return day_start(hi) + dt.timedelta(days=1)


def forecast_family(
    ctx: Context,
    reg: Registry,
    fam: ds.Family,
    issued_at: dt.datetime | None,
    version: int | None = None,
) -> pd.DataFrame:
    """`gold.forecasts` rows of one family's champion (or `version`) for one issue."""
    model, v = reg.load(fam.name, version)
    issued = as_utc(issued_at) if issued_at else default_issue(ctx, fam)
    f = ds.frame(ctx, fam, issued, issued + HORIZON, QualityWeights(), actuals_before=issued)
    f = f[f["roll7_count"] > 0]  # series with actuals in the week before the issue
    if f.empty:
        return pd.DataFrame()
    pred = model.predict(f)
    ts = pd.to_datetime(f["ts"], utc=True)
    return pd.DataFrame(
        {
            "model": fam.name,
            "model_version": v.version,
            "target": fam.target,
            "level": f["level"].to_numpy(),
            "key": f["key"].to_numpy(),
            "issued_at": pd.Timestamp(issued),
            "date": issued.date(),
            "ts": ts.to_numpy(),
            "lead_hours": ((ts - pd.Timestamp(issued)) // pd.Timedelta(hours=1)).astype("int32"),
            "p10": pred["p10"].to_numpy(),
            "p50": pred["p50"].to_numpy(),
            "p90": pred["p90"].to_numpy(),
            "unit": fam.unit,
            "created_at": pd.Timestamp(ctx.clock()),
        }
    )


def predict(
    ctx: Context,
    families: list[str] | None = None,
    issued_at: dt.datetime | None = None,
    version: int | None = None,
) -> PredictResult:
    """Forecast the next 24 h with every champion (module doc)."""
    reg = Registry(ctx.settings.home)
    names = families or [f for f in ds.FAMILIES if reg.champion_version(model_name(f))]
    out = PredictResult(as_utc(issued_at) if issued_at else None)
    frames: dict[str, pd.DataFrame] = {}
    for name in names:
        fam = ds.family(name)
        try:
            rows = forecast_family(ctx, reg, fam, issued_at, version)
        except InputError as exc:
            if families:
                raise
            out.skipped[name] = str(exc)
            continue
        if rows.empty:
            out.skipped[name] = "no series with actuals in the week before the issue time"
            continue
        issued = rows["issued_at"].iloc[0].to_pydatetime()
        ctx.lake.replace_where(
            cat.GOLD_FORECASTS,
            pa.Table.from_pandas(rows, preserve_index=False),
            f"model = {sql_str(name)} AND issued_at = {_ts(issued)}",
        )
        frames[name] = rows
        out.rows[name] = len(rows)
        out.versions[name] = int(rows["model_version"].iloc[0])
        out.issued_at = out.issued_at or issued
    if frames:
        with ctx.warehouse() as t:
            dates = sorted({r["date"].iloc[0] for r in frames.values()})
            out.warehouse_rows = load_forecasts(t, dates, list(frames))
    cons = frames.get("consumption-household")
    if cons is not None:
        prod = frames.get("solar-prosumer", cons.iloc[:0])
        s = ctx.settings
        price = p2p_price(
            s.grid_sell_eur_per_kwh, s.grid_buy_eur_per_kwh, s.market_grid_fee_eur_per_kwh
        )
        adv = advise(cons, prod, price)
        issued_set = sorted({as_utc(x.to_pydatetime()) for x in cons["issued_at"]})
        pred = " OR ".join(f"issued_at = {_ts(i)}" for i in issued_set)
        ctx.lake.replace_where(
            cat.GOLD_TRADING_ADVICE, pa.Table.from_pandas(adv, preserve_index=False), pred
        )
        out.advice_rows = len(adv)
    return out


# -- monitoring ----------------------------------------------------------------------


@dataclass
class EvaluateResult:
    accuracy_rows: int = 0
    drift_rows: int = 0
    alerts: int = 0


def _accuracy(ctx: Context, fc: pd.DataFrame, reg: Registry) -> pd.DataFrame:
    rows = []
    for (name, version), g in fc.groupby(["model", "model_version"]):
        fam = ds.family(str(name))
        lo = pd.Timestamp(g["ts"].min()).to_pydatetime()
        hi = pd.Timestamp(g["ts"].max()).to_pydatetime() + dt.timedelta(hours=1)
        act = ds.frame(ctx, fam, lo, hi, QualityWeights(), keys=sorted(g["key"].unique()))
        act = act[["key", "ts", "y", "lag_1d", "lag_7d"]]
        act["ts"] = pd.to_datetime(act["ts"], utc=True)
        j = g.assign(ts=pd.to_datetime(g["ts"], utc=True)).merge(act, on=["key", "ts"])
        j = j[j["y"].notna()]
        if j.empty:
            continue
        try:
            ref = reg.version(model_name(str(name)), int(version)).metrics
        except InputError:
            ref = {}
        j["day"] = j["ts"].dt.date
        for (level, day), d in j.groupby(["level", "day"]):
            err = d["p50"] - d["y"]
            span = d.groupby("key")["y"].agg(lambda y: y.max() - y.min())
            kmae = d.assign(e=err.abs()).groupby("key")["e"].mean()
            ok = span > 0
            pers = [
                float(np.nanmean(np.abs(d[c] - d["y"])))
                for c in ("lag_1d", "lag_7d")
                if d[c].notna().any()
            ]
            rows.append(
                {
                    "model": name,
                    "model_version": int(version),
                    "target": fam.target,
                    "level": level,
                    "date": day,
                    "n": len(d),
                    "keys": d["key"].nunique(),
                    "mae": float(err.abs().mean()),
                    "rmae": float((kmae[ok] / span[ok]).mean()) if ok.any() else np.nan,
                    "rmse": float(np.sqrt((err**2).mean())),
                    "bias": float(err.mean()),
                    "coverage": float(((d["y"] >= d["p10"]) & (d["y"] <= d["p90"])).mean()),
                    "persistence_mae": min(pers) if pers else np.nan,
                    "reference_mae": ref.get(f"{level}_mae", np.nan),
                    "evaluated_at": pd.Timestamp(ctx.clock()),
                }
            )
    return pd.DataFrame(rows)


def evaluate(ctx: Context) -> EvaluateResult:
    """Accuracy of the stored forecasts, drift of the champions, alerts (module doc)."""
    out = EvaluateResult()
    fc = ctx.lake.read(cat.GOLD_FORECASTS).to_pandas()
    reg = Registry(ctx.settings.home)
    if not fc.empty:
        acc = _accuracy(ctx, fc, reg)
        if not acc.empty:
            dates = sorted(set(acc["date"]))
            models = sorted(set(acc["model"]))
            pred = f"{sql_dates_in(dates)} AND model IN {sql_in(models)}"
            ctx.lake.replace_where(
                cat.GOLD_FORECAST_ACCURACY, pa.Table.from_pandas(acc, preserve_index=False), pred
            )
            out.accuracy_rows = len(acc)
    drift_rows = []
    for name in ds.FAMILIES:
        v = reg.champion_version(model_name(name))
        if v is None:
            continue
        fam = ds.family(name)
        ref = json.loads(
            reg.artifact(reg.version(model_name(name), v).run_id, "model_card.json")
        ).get("drift_reference", {})
        _, hi = ds.span(ctx, fam, QualityWeights())
        lo = day_start(hi) - dt.timedelta(days=DRIFT_DAYS - 1)
        rows = ds.frame(ctx, fam, lo, hi + dt.timedelta(hours=1), QualityWeights())
        for feat, value in drift(ref, rows).items():
            drift_rows.append(
                {
                    "model": name,
                    "model_version": v,
                    "feature": feat,
                    "psi": value,
                    "window_start": pd.Timestamp(lo),
                    "window_end": pd.Timestamp(hi),
                    "computed_at": pd.Timestamp(ctx.clock()),
                }
            )
    if drift_rows:
        ctx.lake.replace_where(cat.GOLD_FORECAST_DRIFT, pa.Table.from_pylist(drift_rows), None)
        out.drift_rows = len(drift_rows)
    new = write_alerts(ctx.lake, forecast_alerts(ctx.sql(), now=ctx.clock()))
    if new:
        notify_all(new, ctx.notifiers)
    out.alerts = len(new)
    return out
