"""Bring your own series: a day-ahead (or any horizon) backtest on wide CSV files.

    wattlake forecast backtest --train a.csv --test b.csv --target load [--time-col ts]
                               [--horizon 24h]

Each file has a timestamp column (ISO 8601; with an offset it is converted to UTC, without
one it is taken as UTC), the target column and any other numeric columns, which are
covariates known in advance (weather forecasts, prices, calendars of your own). The
interval is inferred (the most common step; 5, 10, 15, 30 or 60 minutes) and must be
regular (every timestamp on the grid; missing rows are fine). The test period is forecast
issue by issue: each issue (every `horizon` from midnight UTC) sees actuals only before
it, as in operation. The model is the one of the lake's families (same features, same
XGBoost quantile model, conformal interval from the last weeks of the training file), next
to persistence (same time yesterday / last week) and like-day baselines on the same rows.

Bad input gives an `InputError` with one clear line.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from wattlake.errors import InputError
from wattlake.forecast import cv
from wattlake.forecast.baselines import BASELINES, baseline_forecasts
from wattlake.forecast.features import build_features, feature_columns
from wattlake.forecast.metrics import Scores, scores
from wattlake.forecast.models import DEFAULT_PARAMS, NOMINAL_COVERAGE, QuantileModel, model_features
from wattlake.forecast.timeline import Grid, timeline
from wattlake.lake.spec import UTC_TS
from wattlake.transforms.calendar import uk_holidays

TIME_NAMES = ("timestamp", "time", "datetime", "date_time", "ts", "date", "datetime_utc")
KEY = "series"
MAX_BYTES = 2 * 1024**3


def parse_horizon(text: str) -> int:
    """`24h`, `6h`, `90min`, `1d` → minutes."""
    m = re.fullmatch(r"\s*(\d+)\s*(min|m|h|d)\s*", text.lower())
    if not m:
        raise InputError(f"bad horizon '{text}': use e.g. 24h, 6h, 90min or 1d")
    n, unit = int(m.group(1)), m.group(2)
    return n * {"min": 1, "m": 1, "h": 60, "d": 1440}[unit]


def read_wide(path: Path, target: str, time_col: str | None) -> tuple[pd.DataFrame, str]:
    """The CSV as a frame indexed by UTC time (target + numeric covariates)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"{path}: larger than 2 GiB")
    try:
        raw = path.read_bytes().decode("utf-8-sig")
        df = pd.read_csv(io.StringIO(raw), sep=None, engine="python")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise InputError(f"{path}: not a CSV file ({first})") from None
    if df.empty:
        raise InputError(f"{path}: no data rows")
    tcol = time_col or next((c for c in df.columns if str(c).strip().lower() in TIME_NAMES), None)
    if tcol is None:
        raise InputError(
            f"{path}: no timestamp column found (looked for {', '.join(TIME_NAMES)}); "
            "name it with --time-col"
        )
    if tcol not in df.columns:
        raise InputError(f"{path}: no column '{tcol}' (columns: {', '.join(map(str, df.columns))})")
    if target not in df.columns:
        raise InputError(
            f"{path}: no target column '{target}' (columns: {', '.join(map(str, df.columns))})"
        )
    ts = pd.to_datetime(df[tcol], errors="coerce", utc=True, format="mixed")
    bad = int(ts.isna().sum())
    if bad:
        example = df.loc[ts.isna(), tcol].iloc[0]
        raise InputError(f"{path}: {bad} unparseable timestamp(s) in '{tcol}', e.g. '{example}'")
    y = pd.to_numeric(df[target], errors="coerce")
    wrong = int((y.isna() & df[target].notna() & (df[target].astype(str).str.strip() != "")).sum())
    if wrong:
        raise InputError(f"{path}: {wrong} non-numeric value(s) in target column '{target}'")
    out = pd.DataFrame({"ts": ts, "y": y})
    for c in df.columns:
        if c in (tcol, target):
            continue
        v = pd.to_numeric(df[c], errors="coerce")
        if v.notna().sum() >= 0.5 * len(df):  # numeric covariate (non-numeric ones ignored)
            out[_covariate_name(str(c))] = v
    dup = int(out["ts"].duplicated().sum())
    if dup:
        raise InputError(
            f"{path}: {dup} duplicate timestamp(s), e.g. {out.ts[out.ts.duplicated()].iloc[0]}"
        )
    return out.sort_values("ts").reset_index(drop=True), tcol


def _covariate_name(c: str) -> str:
    return "cov_" + re.sub(r"[^0-9a-zA-Z_]+", "_", c).strip("_").lower()


def infer_step(ts: pd.Series, path: str) -> int:
    """The interval in minutes (module doc); `InputError` if irregular or unsupported."""
    d = ts.diff().dropna().dt.total_seconds() / 60.0
    if d.empty:
        raise InputError(f"{path}: need at least two timestamps")
    step = float(d.mode().iloc[0])
    if step not in (5, 10, 15, 30, 60):
        raise InputError(f"{path}: interval {step:g} min is not one of 5, 10, 15, 30, 60 min")
    off = ((ts - ts.iloc[0]).dt.total_seconds() / 60.0) % step
    if (off != 0).any():
        raise InputError(f"{path}: irregular timestamps (not all on the {step:g}-min grid)")
    return int(step)


@dataclass
class Backtest:
    target: str
    step_minutes: int
    horizon_minutes: int
    train_rows: int
    test_rows: int
    model: Scores
    baselines: dict[str, Scores]
    covariates: list[str]
    predictions: pd.DataFrame

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "step_minutes": self.step_minutes,
            "horizon_minutes": self.horizon_minutes,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "covariates": self.covariates,
            "model": self.model.as_dict(),
            "baselines": {k: v.as_dict() for k, v in self.baselines.items()},
        }


def backtest(
    train_path: Path,
    test_path: Path,
    target: str,
    time_col: str | None = None,
    horizon: str = "24h",
    params: dict[str, Any] | None = None,
    threads: int = 2,
) -> Backtest:
    """Fit on the training file, forecast the test file issue by issue (module doc)."""
    tr, _ = read_wide(train_path, target, time_col)
    te, _ = read_wide(test_path, target, time_col)
    covs = [c for c in tr.columns if c.startswith("cov_")]
    missing = [c for c in covs if c not in te.columns]
    if missing:
        raise InputError(
            f"{test_path}: covariate column(s) missing: {', '.join(c[4:] for c in missing)}"
        )
    if te["ts"].min() <= tr["ts"].max():
        raise InputError(f"{test_path}: the test period must start after the training period")
    both = pd.concat([tr, te[["ts", "y", *covs]]], ignore_index=True)
    step = infer_step(both["ts"], f"{train_path} + {test_path}")
    grid = Grid(step, parse_horizon(horizon))
    if tr["y"].notna().sum() < 14 * grid.steps_per_day:
        raise InputError(f"{train_path}: need at least 14 days of target values to train")
    start, end = both["ts"].min().to_pydatetime(), te["ts"].max().to_pydatetime() + grid.step
    con = ibis.duckdb.connect()
    series = pa.table(
        {
            "key": pa.array([KEY] * len(both)),
            "ts": pa.array(both["ts"], UTC_TS),
            "y": pa.array(both["y"], pa.float64()),
            "weight": pa.array(np.ones(len(both))),
        }
    )
    cov_t = pa.Table.from_pandas(both[["ts", *covs]], preserve_index=False).cast(
        pa.schema([("ts", UTC_TS), *[(c, pa.float64()) for c in covs]])
    )
    f = build_features(
        con.create_table("s", series),
        con.create_table("k", pa.table({"key": [KEY]})),
        con.create_table("tl", timeline(start, end, grid)),
        grid,
        time_covariates=con.create_table("c", cov_t) if covs else None,
    )
    frame = f.order_by("ts").to_pyarrow().to_pandas()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    test_start = te["ts"].min()
    first = pd.Timestamp(start) + pd.Timedelta(days=1)
    hist = frame[(frame["ts"] >= first) & (frame["ts"] < test_start) & frame["y"].notna()]
    test = frame[(frame["ts"] >= test_start) & frame["y"].notna()].copy()
    feats = model_features(feature_columns(list(frame.columns)))
    nonneg = bool((tr["y"].dropna() >= 0).all())

    def make(p: dict[str, Any]) -> QuantileModel:
        return QuantileModel(
            feats, {**DEFAULT_PARAMS, **(params or {}), **p}, nonneg, threads=threads
        )

    issues = sorted(hist["issue_ts"].unique())
    fold_blocks = max(1, (7 * 1440) // grid.horizon_minutes)
    folds = cv.rolling_origin(issues, 1, fold_blocks, len(issues))
    found = cv.search(hist, folds, make, lambda r: np.ones(len(r)), ({},), 0)
    model = make({}).fit(hist)
    model.margin = (
        cv.conformal_margin(found.oos, NOMINAL_COVERAGE) if found.oos is not None else 0.0
    )
    test[["p10", "p50", "p90"]] = model.predict(test).to_numpy()
    years = range(start.year, end.year + 1)
    base = baseline_forecasts(test, set(uk_holidays(years[0], years[-1])))
    for b in BASELINES:
        test[b] = base[b]
    return Backtest(
        target,
        step,
        grid.horizon_minutes,
        len(hist),
        len(test),
        scores(test["y"], test["p50"], test["p10"], test["p90"]),
        {b: scores(test["y"], test[b]) for b in BASELINES},
        [c[4:] for c in covs],
        test[["ts", "issue_ts", "y", "p10", "p50", "p90", *BASELINES]],
    )
