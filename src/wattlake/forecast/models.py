"""XGBoost quantile regression (P10/P50/P90) on a scale-free target.

One booster per model predicts the three quantiles at once (`reg:quantileerror` with
`quantile_alpha = [0.1, 0.5, 0.9]`). Series of very different size (a flat, a community,
the portfolio) share one model because the target and the history features are divided by
the series' own level known at the issue time (`roll7_mean_abs`, the mean |value| over the
seven days before it; series without history use the training median), and `log_scale` is
a feature. Predictions are multiplied back, sorted per row (P10 ≤ P50 ≤ P90 always), and
the P10–P90 interval is widened (or narrowed) by a conformal margin measured on
out-of-sample residuals (`cv.conformal_margin`), so its coverage is close to the nominal 80 %.
Non-negative targets (energy) are clipped at 0.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from wattlake.forecast.baselines import like_day
from wattlake.transforms.calendar import uk_holidays

QUANTILES = (0.1, 0.5, 0.9)
NOMINAL_COVERAGE = QUANTILES[2] - QUANTILES[0]
SCALE_COL = "roll7_mean_abs"
SCALE_FLOOR = 1e-3  # below this the series is treated as flat: the fallback is used
GHI_SCALE_COL = "roll7_ghi_mean"
# History features divided by the scale (when present in the feature table).
SCALED = (
    "lag_1d",
    "lag_2d",
    "lag_3d",
    "lag_4d",
    "lag_5d",
    "lag_6d",
    "lag_7d",
    "last_value",
    "roll7_mean",
    "roll7_std",
    "roll7_max",
    "slot7_mean",
    "pv_modelled_kwh",
    "like_day",
)
NOT_FEATURES = (SCALE_COL, "roll7_count", GHI_SCALE_COL)

DEFAULT_PARAMS: dict[str, Any] = {
    "max_depth": 6,
    "eta": 0.1,
    "num_boost_round": 150,
    "min_child_weight": 4.0,
    "subsample": 0.8,
    "colsample_bynode": 0.8,
    "lambda": 1.0,
    "max_bin": 64,
}


def _xgb() -> Any:
    try:
        import xgboost
    except ImportError:  # pragma: no cover - depends on the install
        from wattlake.errors import WattlakeError

        raise WattlakeError("forecasting needs xgboost: pip install 'wattlake[forecast]'") from None
    return xgboost


@dataclass
class QuantileModel:
    """A fitted model: booster plus what is needed to prepare inputs and outputs."""

    features: list[str]
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    nonnegative: bool = True
    fallback_scale: float = 1.0
    margin: float = 0.0  # conformal widening of P10/P90, in scale units
    threads: int = 2
    # "level": the recent mean |value|; "yield": the recent value per W/m² of irradiance
    # (PV: a sunny May and a dull March scale alike, so irradiance keeps its meaning)
    scale_mode: str = "level"
    booster: Any = None

    # -- inputs ----------------------------------------------------------------------
    def raw_scale(self, frame: pd.DataFrame) -> np.ndarray:
        if SCALE_COL not in frame:
            return np.full(len(frame), np.nan)
        s = frame[SCALE_COL].to_numpy(dtype=np.float64, na_value=np.nan)
        if self.scale_mode == "yield":
            g = (
                frame[GHI_SCALE_COL].to_numpy(dtype=np.float64, na_value=np.nan)
                if GHI_SCALE_COL in frame
                else np.full(len(frame), np.nan)
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                s = np.where(g > 1.0, s / g, np.nan)
        return s

    def scale_of(self, frame: pd.DataFrame) -> np.ndarray:
        s = self.raw_scale(frame)
        floor = SCALE_FLOOR if self.scale_mode == "level" else SCALE_FLOOR * 1e-3
        return np.where(np.isfinite(s) & (s > floor), s, self.fallback_scale)

    def matrix(self, frame: pd.DataFrame, scale: np.ndarray) -> np.ndarray:
        cols = []
        for f in self.features:
            if f == "log_scale":
                cols.append(np.log(scale))
                continue
            if f == "like_day" and f not in frame:
                cols.append(like_day(frame, _holidays(frame)) / scale)
                continue
            v = (
                frame[f].to_numpy(dtype=np.float64, na_value=np.nan)
                if f in frame
                else np.full(len(frame), np.nan)
            )
            cols.append(v / scale if f in SCALED else v)
        return np.column_stack(cols) if cols else np.empty((len(frame), 0))

    # -- fit / predict -------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, weight: np.ndarray | None = None) -> QuantileModel:
        """Fit on the rows of `frame` with a target (`y`); `weight` per row (default 1)."""
        xgb = _xgb()
        y = frame["y"].to_numpy(dtype=np.float64)
        w = np.ones(len(frame)) if weight is None else np.asarray(weight, dtype=np.float64)
        ok = np.isfinite(y) & (w > 0)
        frame, y, w = frame[ok], y[ok], w[ok]
        if len(frame) == 0:
            from wattlake.errors import InputError

            raise InputError("no training rows with an actual value and a positive weight")
        raw = self.raw_scale(frame)
        ok_raw = raw[np.isfinite(raw) & (raw > 0)]
        self.fallback_scale = float(np.median(ok_raw)) if ok_raw.size else float("nan")
        if not np.isfinite(self.fallback_scale) or self.fallback_scale <= 0:
            self.fallback_scale = max(float(np.mean(np.abs(y))), SCALE_FLOOR)
        scale = self.scale_of(frame)
        p = dict(self.params)
        rounds = int(p.pop("num_boost_round"))
        max_bin = int(p.pop("max_bin", 256))
        dtrain = xgb.QuantileDMatrix(
            self.matrix(frame, scale),
            y / scale,
            weight=w,
            max_bin=max_bin,
            feature_names=self.features,
            nthread=self.threads,
        )
        p.update(
            objective="reg:quantileerror",
            quantile_alpha=np.array(QUANTILES),
            tree_method="hist",
            nthread=self.threads,
            seed=0,
            max_bin=max_bin,
        )
        self.booster = xgb.train(p, dtrain, num_boost_round=rounds)
        return self

    def predict_scaled(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Raw quantiles in scale units, sorted per row, and the scale (before the margin)."""
        xgb = _xgb()
        scale = self.scale_of(frame)
        dm = xgb.DMatrix(
            self.matrix(frame, scale), feature_names=self.features, nthread=self.threads
        )
        q = np.asarray(self.booster.predict(dm), dtype=np.float64).reshape(len(frame), -1)
        return np.sort(q, axis=1), scale

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`p10`, `p50`, `p90` per row (target units), ordered, the interval calibrated."""
        q, scale = self.predict_scaled(frame)
        lo = np.minimum(q[:, 0] - self.margin, q[:, 1])
        hi = np.maximum(q[:, 2] + self.margin, q[:, 1])
        out = np.column_stack([lo, q[:, 1], hi]) * scale[:, None]
        if self.nonnegative:
            out = np.clip(out, 0.0, None)
        return pd.DataFrame(out, columns=["p10", "p50", "p90"], index=frame.index)

    # -- storage ---------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("booster")
        return d

    def meta_json(self) -> str:
        return json.dumps(self.meta(), sort_keys=True, default=float)

    @classmethod
    def from_meta(cls, meta: dict[str, Any], booster: Any) -> QuantileModel:
        m = cls(**{k: v for k, v in meta.items() if k in cls.__dataclass_fields__})
        m.booster = booster
        return m


def _holidays(frame: pd.DataFrame) -> set[dt.date]:
    """UK holidays over the years of `frame.ts` (and the week before)."""
    if frame.empty:
        return set()
    ts = pd.DatetimeIndex(frame["ts"])
    return set(uk_holidays(int(ts.year.min()) - 1, int(ts.year.max())))


def model_features(columns: list[str]) -> list[str]:
    """Model inputs from a feature table's feature columns, plus `log_scale` and, with the
    seven daily lags, the like-day baseline as a feature (`baselines.like_day`)."""
    extra = ["like_day"] if all(f"lag_{k}d" in columns for k in range(1, 8)) else []
    return [c for c in columns if c not in NOT_FEATURES] + ["log_scale", *extra]
