"""Rolling-origin cross-validation and a parameter search bounded in time.

Folds are consecutive blocks of issue days at the end of the training period: fold i
trains on the issue days before its first day (at most `max_train_days` of them) and
tests on its `fold_days`. Nothing after a fold's test days is ever used to fit it.

`search` tries parameter candidates in order and stops starting new ones when the time
budget is spent (the first candidate always runs); the score is the mean pinball loss of
P10/P50/P90 in scale units over every fold's test rows. The out-of-sample predictions of
the best candidate calibrate the interval (`QuantileModel.calibrate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from wattlake.forecast.metrics import pinball
from wattlake.forecast.models import QUANTILES, QuantileModel

# A small grid around the defaults: depth and learning rate / rounds.
CANDIDATES: tuple[dict[str, Any], ...] = (
    {},
    {"max_depth": 8, "eta": 0.06, "num_boost_round": 250},
    {"max_depth": 4, "eta": 0.15, "num_boost_round": 150},
)


@dataclass(frozen=True)
class Fold:
    train_days: tuple[pd.Timestamp, ...]
    test_days: tuple[pd.Timestamp, ...]


def rolling_origin(
    issue_days: Sequence[pd.Timestamp], n_folds: int, fold_days: int, max_train_days: int
) -> list[Fold]:
    """Folds over sorted distinct issue times (module doc); fewer when history is short
    (every fold keeps at least `fold_days` training days)."""
    days = sorted(set(issue_days))
    folds: list[Fold] = []
    for i in range(n_folds, 0, -1):
        start = len(days) - i * fold_days
        if start < fold_days:
            continue
        test = tuple(days[start : start + fold_days])
        train = tuple(days[max(0, start - max_train_days) : start])
        folds.append(Fold(train, test))
    return folds


@dataclass
class SearchResult:
    params: dict[str, Any]
    scores: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    oos: pd.DataFrame | None = None  # test rows of the best candidate's folds (`y`, scale)
    seconds: float = 0.0
    stopped_early: bool = False


def _score(model: QuantileModel, test: pd.DataFrame) -> float:
    q, scale = model.predict_scaled(test)
    y = test["y"].to_numpy(dtype=np.float64) / scale
    return float(np.mean([pinball(y, q[:, i], a) for i, a in enumerate(QUANTILES)]))


def search(
    frame: pd.DataFrame,
    folds: list[Fold],
    make: Callable[[dict[str, Any]], QuantileModel],
    weight: Callable[[pd.DataFrame], np.ndarray],
    candidates: Sequence[dict[str, Any]] = CANDIDATES,
    time_budget_s: float = 600.0,
) -> SearchResult:
    """Try `candidates` (overrides of the default parameters) on `folds` (module doc).

    `make(params)` builds an unfitted model; `weight(rows)` gives training weights."""
    t0 = time.perf_counter()
    best: tuple[float, dict[str, Any], pd.DataFrame | None] | None = None
    res = SearchResult(params=dict(candidates[0]) if candidates else {})
    issue = frame["issue_ts"]
    for n, cand in enumerate(candidates):
        if n and time.perf_counter() - t0 > time_budget_s:
            res.stopped_early = True
            break
        losses, parts = [], []
        for f in folds:
            tr = frame[issue.isin(f.train_days) & frame["y"].notna()]
            te = frame[issue.isin(f.test_days) & frame["y"].notna()]
            if tr.empty or te.empty:
                continue
            m = make(cand).fit(tr, weight(tr))
            losses.append(_score(m, te))
            q, scale = m.predict_scaled(te)
            parts.append(
                pd.DataFrame(
                    {
                        "y": te["y"].to_numpy(),
                        "scale": scale,
                        "q10": q[:, 0],
                        "q50": q[:, 1],
                        "q90": q[:, 2],
                    }
                )
            )
        if not losses:
            continue
        loss = float(np.mean(losses))
        res.scores.append((cand, loss))
        if best is None or loss < best[0]:
            best = (loss, cand, pd.concat(parts, ignore_index=True))
    if best is not None:
        res.params, res.oos = best[1], best[2]
    res.seconds = time.perf_counter() - t0
    return res


def conformal_margin(oos: pd.DataFrame, target: float) -> float:
    """The margin (scale units) that brings out-of-sample P10–P90 coverage to `target`."""
    ys = oos["y"].to_numpy(dtype=np.float64) / oos["scale"].to_numpy(dtype=np.float64)
    e = np.maximum(oos["q10"].to_numpy() - ys, ys - oos["q90"].to_numpy())
    e = e[np.isfinite(e)]
    if not e.size:
        return 0.0
    return float(np.quantile(e, min(1.0, target * (1.0 + 1.0 / e.size))))
