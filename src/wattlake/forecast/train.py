"""Training one forecast model: backtest, tuning, calibration, registry ("register if better").

`train(ctx, family)`:

1. features for every key and hour of the actuals (`dataset.frame`);
2. the last `holdout_days` issue days are the backtest window; the issue days before it
   are the training pool (at most `max_train_days`);
3. rolling-origin CV over the pool picks the parameters (`cv.search`, bounded in time) and
   its out-of-sample predictions set the conformal interval margin;
4. a model fitted on the pool forecasts the backtest window: its metrics per level, next to
   the persistence and like-day baselines on the same rows, are the version's metrics;
5. the current champion forecasts the same window; the new version becomes `champion` only
   if its MAE there is lower (or there is no champion);
6. the registered model is refitted on pool + window (`refit`), same parameters and margin.

Quality weights (`series.QualityWeights`) weigh training rows; metrics are computed on
every actual (`metrics_all`) and on trustworthy actuals only (hour weight ≥ `CLEAN_WEIGHT`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.forecast import cv
from wattlake.forecast import dataset as ds
from wattlake.forecast.baselines import BASELINES, baseline_forecasts
from wattlake.forecast.features import feature_columns
from wattlake.forecast.metrics import psi, scores
from wattlake.forecast.models import DEFAULT_PARAMS, NOMINAL_COVERAGE, QuantileModel, model_features
from wattlake.forecast.registry import Registry
from wattlake.forecast.series import QualityWeights
from wattlake.transforms.calendar import uk_holidays

CLEAN_WEIGHT = 0.99
# Drift is watched on the weather and price covariates and on yesterday's value relative to
# the series' level (`lag_1d_scaled`); a series' own level is not stationary across series.
DRIFT_FEATURES = (
    "temperature_c",
    "ghi_w_m2",
    "cloud_cover_pct",
    "price_eur_per_kwh",
    "lag_1d_scaled",
)


def drift_values(rows: pd.DataFrame, feature: str) -> np.ndarray | None:
    """The values of a drift feature in `rows` (None when absent)."""
    if feature == "lag_1d_scaled":
        if "lag_1d" not in rows or "roll7_mean_abs" not in rows:
            return None
        s = rows["roll7_mean_abs"].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            return rows["lag_1d"].to_numpy(dtype=np.float64, na_value=np.nan) / np.where(
                s > 0, s, np.nan
            )
    if feature not in rows:
        return None
    return rows[feature].to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class TrainOptions:
    holdout_days: int = 7
    cv_folds: int = 3
    fold_days: int = 7
    max_train_days: int = 60
    time_budget_s: float = 300.0
    candidates: tuple[dict[str, Any], ...] = cv.CANDIDATES
    params: dict[str, Any] = field(default_factory=dict)  # overrides of DEFAULT_PARAMS
    weights: QualityWeights = field(default_factory=QualityWeights)
    refit: bool = True
    register: bool = True
    until: dt.datetime | None = None  # ignore actuals from this time on
    threads: int = 2


@dataclass
class TrainResult:
    family: str
    version: int | None
    promoted: bool
    champion_before: int | None
    mae: float
    champion_mae: float | None
    metrics: dict[str, float]  # flat: <level>_<metric>, <level>_<baseline>_mae, …
    by_level: dict[str, dict[str, float]]
    params: dict[str, Any]
    rows_train: int
    window: tuple[str, str]
    seconds: float
    predictions: pd.DataFrame | None = None  # backtest rows: key, level, ts, y, p10, p50, p90


def _weights(rows: pd.DataFrame, w: QualityWeights) -> np.ndarray:
    if w.enabled:
        return rows["weight"].fillna(0.0).to_numpy(dtype=np.float64)
    return np.where(rows["y"].notna(), 1.0, 0.0)


def level_metrics(bt: pd.DataFrame, holidays: set[dt.date]) -> dict[str, dict[str, float]]:
    """Per level: model scores, per-key mean MAE / rMAE, baselines' MAE, improvement."""
    out: dict[str, dict[str, float]] = {}
    base = baseline_forecasts(bt, holidays)
    for level, g in bt.groupby("level"):
        m: dict[str, float] = {}
        for tag, rows in (("", g), ("clean_", g[g["weight"] >= CLEAN_WEIGHT])):
            s = scores(rows["y"], rows["p50"], rows["p10"], rows["p90"]).as_dict()
            m.update({f"{tag}{k}": v for k, v in s.items()})
            for b in BASELINES:
                m[f"{tag}{b}_mae"] = scores(rows["y"], base.loc[rows.index, b]).mae
        per_key = g.groupby("key").apply(
            lambda k: pd.Series(
                {"mae": np.mean(np.abs(k.y - k.p50)), "span": k.y.max() - k.y.min()}
            ),
            include_groups=False,
        )
        m["key_mean_mae"] = float(per_key["mae"].mean())
        ok = per_key["span"] > 0
        m["key_mean_rmae"] = float((per_key["mae"][ok] / per_key["span"][ok]).mean())
        best = min(m["persistence_1d_mae"], m["persistence_7d_mae"])
        m["best_persistence_mae"] = best
        m["improvement_vs_persistence"] = 1.0 - m["mae"] / best if best > 0 else float("nan")
        out[str(level)] = m
    return out


def drift_reference(rows: pd.DataFrame) -> dict[str, dict[str, list[float]]]:
    """Quantile bin edges and shares of the drift features in the training rows."""
    ref: dict[str, dict[str, list[float]]] = {}
    for f in DRIFT_FEATURES:
        v = drift_values(rows, f)
        if v is None:
            continue
        v = v[np.isfinite(v)]
        if v.size < 20:
            continue
        edges = np.unique(np.quantile(v, np.linspace(0, 1, 11)[1:-1]))
        share = np.bincount(np.searchsorted(edges, v, side="right"), minlength=edges.size + 1)
        ref[f] = {"edges": edges.tolist(), "share": (share / v.size).tolist()}
    return ref


def _card(
    fam: ds.Family, res: TrainResult, model: QuantileModel, w: QualityWeights, champ: int | None
) -> tuple[dict[str, Any], str]:
    card = {
        "model": f"wattlake-{fam.name}",
        "target": fam.target,
        "levels": list(fam.levels),
        "unit": fam.unit,
        "training_window": f"{res.window[0]} .. {res.window[1]}",
        "rows_train": res.rows_train,
        "features": model.features,
        "params": res.params,
        "quantiles": [0.1, 0.5, 0.9],
        "conformal_margin": model.margin,
        "quality_weights": w.__dict__,
        "backtest": res.by_level,
        "champion_before": champ,
    }
    lines = [
        f"# Model card: wattlake-{fam.name}",
        "",
        f"- target: {fam.target} ({fam.unit} per hour), levels: {', '.join(fam.levels)}",
        f"- training window (issue days): {card['training_window']}; rows {res.rows_train:,}",
        "- model: XGBoost quantile regression P10/P50/P90 on a scale-free target; "
        f"conformal margin {model.margin:.4f}",
        f"- quality weights: {'on' if w.enabled else 'off'} ({w})",
        f"- parameters: {res.params}",
        f"- features ({len(model.features)}): {', '.join(model.features)}",
        "",
        "## Backtest (last window, day-ahead)",
        "",
        "| level | MAE | rMAE (per key) | RMSE | R² | MAPE | coverage P10–P90 "
        "| persistence 1d | persistence 7d | like-day | vs best persistence |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv, m in res.by_level.items():
        lines.append(
            f"| {lv} | {m['mae']:.4f} | {m['key_mean_rmae']:.3f} | {m['rmse']:.4f} | "
            f"{m['r2']:.3f} | {m['mape']:.1%} | {m['coverage']:.1%} | "
            f"{m['persistence_1d_mae']:.4f} | {m['persistence_7d_mae']:.4f} | "
            f"{m['like_day_mae']:.4f} | {m['improvement_vs_persistence']:+.1%} |"
        )
    return card, "\n".join(lines) + "\n"


def train(ctx: Context, family_name: str, opts: TrainOptions | None = None) -> TrainResult:
    """Train, backtest and register one model family (module doc)."""
    opts = opts or TrainOptions()
    t0 = time.perf_counter()
    fam = ds.family(family_name)
    lo, hi = ds.span(ctx, fam, opts.weights)
    end = hi + dt.timedelta(hours=1)
    if opts.until is not None:
        end = min(end, opts.until)
    frame = ds.frame(ctx, fam, lo + dt.timedelta(days=1), end, opts.weights)
    frame = frame[frame["roll7_count"] > 0]  # rows with some history
    days = sorted(frame.loc[frame["y"].notna(), "issue_ts"].unique())
    if len(days) < opts.holdout_days + 2:
        raise InputError(
            f"{fam.name}: {len(days)} day(s) with actuals and history; need at least "
            f"{opts.holdout_days + 2} (a backtest window of {opts.holdout_days} days)"
        )
    window, pool = days[-opts.holdout_days :], days[: -opts.holdout_days]
    pool = pool[-opts.max_train_days :]
    feats = model_features(feature_columns([c for c in frame.columns if c != "level"]))

    def make(p: dict[str, Any]) -> QuantileModel:
        params = {**DEFAULT_PARAMS, **opts.params, **p}
        return QuantileModel(
            feats, params, fam.nonnegative, threads=opts.threads, scale_mode=fam.scale_mode
        )

    def weigh(rows: pd.DataFrame) -> np.ndarray:
        return _weights(rows, opts.weights)

    folds = cv.rolling_origin(pool, opts.cv_folds, opts.fold_days, opts.max_train_days)
    found = cv.search(frame, folds, make, weigh, opts.candidates, opts.time_budget_s)
    train_rows = frame[frame["issue_ts"].isin(pool) & frame["y"].notna()]
    model = make(found.params).fit(train_rows, weigh(train_rows))
    model.margin = (
        cv.conformal_margin(found.oos, NOMINAL_COVERAGE) if found.oos is not None else 0.0
    )
    test = frame[frame["issue_ts"].isin(window) & frame["y"].notna()].copy()
    test[["p10", "p50", "p90"]] = model.predict(test).to_numpy()
    holidays = set(uk_holidays(lo.year, end.year))
    by_level = level_metrics(test, holidays)
    mae = float(np.mean(np.abs(test["y"] - test["p50"])))
    reg = Registry(ctx.settings.home) if opts.register else None
    champ = champ_mae = None
    if reg is not None:
        from wattlake.forecast.registry import model_name

        champ = reg.champion_version(model_name(fam.name))
        if champ is not None:
            try:
                cm, _ = reg.load(fam.name, champ)
                champ_mae = float(np.mean(np.abs(test["y"] - cm.predict(test)["p50"])))
            except Exception:  # a champion that cannot forecast these features loses
                champ_mae = float("inf")
    if opts.refit:
        all_rows = frame[frame["issue_ts"].isin(pool + window) & frame["y"].notna()]
        final = make(found.params).fit(all_rows, weigh(all_rows))
        final.margin = model.margin
    else:
        final = model
    meta_extra = drift_reference(train_rows)
    flat = {f"{lv}_{k}": v for lv, m in by_level.items() for k, v in m.items()}
    flat["mae"] = mae
    res = TrainResult(
        fam.name,
        None,
        False,
        champ,
        mae,
        champ_mae,
        flat,
        by_level,
        {**DEFAULT_PARAMS, **opts.params, **found.params},
        len(train_rows),
        (str(pd.Timestamp(pool[0]).date()), str(pd.Timestamp(window[-1]).date())),
        0.0,
        test[["key", "level", "ts", "y", "weight", "p10", "p50", "p90"]],
    )
    if reg is not None:
        card, card_md = _card(fam, res, final, opts.weights, champ)
        card["drift_reference"] = meta_extra
        params = {
            **res.params,
            "weights": opts.weights.enabled,
            "cv_scores": found.scores,
            "cv_seconds": round(found.seconds, 1),
            "cv_stopped_early": found.stopped_early,
        }
        v = reg.log(fam.name, final, params, flat, card, card_md)
        res.version = v.version
        if champ_mae is None or mae < champ_mae:
            reg.set_champion(fam.name, v.version)
            res.promoted = True
    res.seconds = time.perf_counter() - t0
    return res


def drift(reference: dict[str, dict[str, list[float]]], rows: pd.DataFrame) -> dict[str, float]:
    """PSI per drift feature of `rows` against a model's stored reference."""
    from wattlake.forecast.metrics import psi_from_edges

    out = {}
    for f, ref in reference.items():
        v = drift_values(rows, f)
        if v is not None:
            out[f] = psi_from_edges(np.array(ref["edges"]), np.array(ref["share"]), v)
    return out


__all__ = ["TrainOptions", "TrainResult", "drift", "psi", "train"]
