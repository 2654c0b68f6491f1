"""Forecast accuracy, pure numpy: point errors, interval coverage, pinball loss, PSI.

Units follow the target (kWh, EUR/kWh …); relative measures are dimensionless. NaN pairs
(no actual or no forecast) are left out; every function returns NaN when nothing is left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# MAPE leaves out actuals below this share of the mean |actual| (a target near zero makes
# percentage errors meaningless: night-time PV, an empty house).
MAPE_MIN_SHARE = 0.1
PSI_BINS = 10
PSI_EPS = 1e-4


def _pairs(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(p)
    return y[ok], p[ok]


def mae(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _pairs(y, p)
    return float(np.mean(np.abs(y - p))) if y.size else float("nan")


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _pairs(y, p)
    return float(np.sqrt(np.mean((y - p) ** 2))) if y.size else float("nan")


def bias(y: np.ndarray, p: np.ndarray) -> float:
    """Mean of forecast − actual (positive: over-forecast)."""
    y, p = _pairs(y, p)
    return float(np.mean(p - y)) if y.size else float("nan")


def rmae(y: np.ndarray, p: np.ndarray) -> float:
    """MAE / (max − min of the actuals) (OpenSTEF's relative MAE)."""
    y, p = _pairs(y, p)
    if not y.size:
        return float("nan")
    span = float(np.max(y) - np.min(y))
    return float(np.mean(np.abs(y - p)) / span) if span > 0 else float("nan")


def r2(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _pairs(y, p)
    if y.size < 2:
        return float("nan")
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else float("nan")


def mape(y: np.ndarray, p: np.ndarray, min_share: float = MAPE_MIN_SHARE) -> float:
    """Mean |error| / |actual| over actuals ≥ `min_share` × mean |actual| (a fraction)."""
    y, p = _pairs(y, p)
    if not y.size:
        return float("nan")
    keep = np.abs(y) >= min_share * np.mean(np.abs(y))
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs(y[keep] - p[keep]) / np.abs(y[keep])))


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of actuals inside [lo, hi]."""
    y, lo, hi = (np.asarray(a, dtype=np.float64) for a in (y, lo, hi))
    ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lo[ok]) & (y[ok] <= hi[ok])))


def pinball(y: np.ndarray, q: np.ndarray, alpha: float) -> float:
    """Mean pinball (quantile) loss of quantile `alpha` forecasts `q`."""
    y, q = _pairs(y, q)
    if not y.size:
        return float("nan")
    d = y - q
    return float(np.mean(np.maximum(alpha * d, (alpha - 1.0) * d)))


@dataclass(frozen=True)
class Scores:
    """Every accuracy figure of one set of forecasts (units of the target; rates 0–1)."""

    n: int
    mae: float
    rmae: float
    rmse: float
    r2: float
    mape: float
    bias: float
    coverage: float  # P10–P90; NaN for point forecasts

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def scores(
    y: np.ndarray, p50: np.ndarray, p10: np.ndarray | None = None, p90: np.ndarray | None = None
) -> Scores:
    return Scores(
        n=int(_pairs(y, p50)[0].size),
        mae=mae(y, p50),
        rmae=rmae(y, p50),
        rmse=rmse(y, p50),
        r2=r2(y, p50),
        mape=mape(y, p50),
        bias=bias(y, p50),
        coverage=coverage(y, p10, p90) if p10 is not None and p90 is not None else float("nan"),
    )


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `actual` against `expected` (bins: quantiles of
    `expected`). < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 large shift."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e, a = e[np.isfinite(e)], a[np.isfinite(a)]
    if e.size < bins or a.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1]))
    return psi_from_edges(
        edges,
        np.bincount(np.searchsorted(edges, e, side="right"), minlength=edges.size + 1) / e.size,
        a,
    )


def psi_from_edges(edges: np.ndarray, expected_share: np.ndarray, actual: np.ndarray) -> float:
    """PSI of `actual` against stored bin `edges` (inner edges) and expected shares."""
    a = np.asarray(actual, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan")
    got = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / a.size
    exp = np.clip(np.asarray(expected_share, dtype=np.float64), PSI_EPS, None)
    got = np.clip(got, PSI_EPS, None)
    return float(np.sum((got - exp) * np.log(got / exp)))
