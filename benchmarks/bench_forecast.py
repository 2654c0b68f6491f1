"""Benchmark the forecast path: features + training on ≥ 1 M samples, and inference of the
next 24 h for 5,000 households.

Series come from the generator's own consumption model (`generate.population` +
`generate.consumption`: half-hourly kWh → hourly), with the generator's daily temperature
as a weather covariate, so the data look like the lake's. Each phase runs in its own
subprocess, so the peak RSS is per phase:

- `train`: Ibis features on DuckDB for `--train-households` × `--train-days` hours (the
  first 8 days are history only), then one XGBoost quantile fit (P10/P50/P90, the default
  parameters, 2 threads) on every row with history;
- `predict`: features for `--predict-households` × (8 days of history + the next 24 h), then
  P10/P50/P90 for the 24 h of every household with the model from `train`.

Reported: seconds per step, rows, peak RSS, and the machine's load average before and after
(the machine is shared: other work slows it down).

Usage: ``python benchmarks/bench_forecast.py --train-households 600 --train-days 80``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def series(households: int, days: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Hourly kWh per household (`key`, `ts`, `y`, `weight`) and the city temperature."""
    from wattlake.generate.consumption import consumption_kwh
    from wattlake.generate.population import draw_behaviour
    from wattlake.generate.timegrid import make_time_grid
    from wattlake.generate.weather import daily_temperature
    from wattlake.lake.spec import UTC_TS

    rng = np.random.default_rng(seed)
    grid = make_time_grid(START.date(), days)
    temp = daily_temperature(grid.day_of_year, rng)
    beh = draw_behaviour(rng.integers(0, 3, households), rng)
    hours = days * 24
    keys, ys = [], []
    for lo in range(0, households, 500):  # bounded memory
        part = beh.take(slice(lo, min(lo + 500, households)))
        kwh = consumption_kwh(part, grid, temp, rng)
        ys.append(kwh.reshape(kwh.shape[0], hours, 2).sum(axis=2).ravel())
        keys.append(np.repeat(np.char.mod("H%06d", np.arange(lo, lo + kwh.shape[0])), hours))
    ts = np.tile(np.arange(hours, dtype="int64") * 3_600_000_000, households) + int(
        START.timestamp() * 1e6
    )
    t = pa.table(
        {
            "key": pa.array(np.concatenate(keys)),
            "ts": pa.array(ts, pa.timestamp("us")).cast(UTC_TS),
            "y": pa.array(np.concatenate(ys)),
            "weight": pa.array(np.ones(households * hours)),
        }
    )
    hts = np.arange(hours, dtype="int64") * 3_600_000_000 + int(START.timestamp() * 1e6)
    cov = pa.table(
        {
            "ts": pa.array(hts, pa.timestamp("us")).cast(UTC_TS),
            "temperature_c": pa.array(np.repeat(temp, 24)),
        }
    )
    return t, cov


def features(s: pa.Table, cov: pa.Table, start: dt.datetime, end: dt.datetime) -> object:

    from wattlake.engine import DuckDBEngine
    from wattlake.forecast.features import build_features
    from wattlake.forecast.timeline import Grid, timeline

    eng = DuckDBEngine(threads=2)
    con = eng.con
    grid = Grid()
    f = build_features(
        con.create_table("s", s),
        con.create_table("k", s.select(["key"]).group_by("key").aggregate([])),
        con.create_table("tl", timeline(START, end, grid)),
        grid,
        time_covariates=con.create_table("c", cov),
    )
    f = f.filter(f.ts >= start)
    return eng.to_arrow(f).to_pandas()


def phase_train(a: argparse.Namespace, model_path: Path) -> dict[str, float]:
    from wattlake.forecast.features import feature_columns
    from wattlake.forecast.models import QuantileModel, model_features

    t0 = time.perf_counter()
    s, cov = series(a.train_households, a.train_days, 1)
    t1 = time.perf_counter()
    frame = features(s, cov, START + dt.timedelta(days=8), START + dt.timedelta(days=a.train_days))
    frame = frame[frame["roll7_count"] > 0]
    t2 = time.perf_counter()
    feats = model_features(feature_columns(list(frame.columns)))
    m = QuantileModel(feats, threads=2).fit(frame)
    t3 = time.perf_counter()
    model_path.write_text(json.dumps(m.meta()))
    m.booster.save_model(str(model_path.with_suffix(".ubj")))
    return {
        "samples": float(len(frame)),
        "features": float(len(feats)),
        "series_s": t1 - t0,
        "features_s": t2 - t1,
        "fit_s": t3 - t2,
        "features_plus_fit_s": t3 - t1,
    }


def phase_predict(a: argparse.Namespace, model_path: Path) -> dict[str, float]:
    import xgboost as xgb

    from wattlake.forecast.models import QuantileModel

    days = 9  # 8 days of history + the day to forecast
    s, cov = series(a.predict_households, days, 2)
    issue = START + dt.timedelta(days=8)
    s = s.filter(pa.compute.less(s["ts"], pa.scalar(issue, s.schema.field("ts").type)))
    b = xgb.Booster()
    b.load_model(str(model_path.with_suffix(".ubj")))
    m = QuantileModel.from_meta(json.loads(model_path.read_text()), b)
    t0 = time.perf_counter()
    frame = features(s, cov, issue, issue + dt.timedelta(days=1))
    t1 = time.perf_counter()
    p = m.predict(frame)
    t2 = time.perf_counter()
    ordered = bool(((p.p10 <= p.p50) & (p.p50 <= p.p90)).all())
    return {
        "households": float(frame["key"].nunique()),
        "rows": float(len(frame)),
        "features_s": t1 - t0,
        "predict_s": t2 - t1,
        "total_s": t2 - t0,
        "quantiles_ordered": float(ordered),
    }


def child(a: argparse.Namespace) -> None:
    path = Path(a.model)
    out = phase_train(a, path) if a.phase == "train" else phase_predict(a, path)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-households", type=int, default=600)
    p.add_argument("--train-days", type=int, default=80)
    p.add_argument("--predict-households", type=int, default=5000)
    p.add_argument("--phase", choices=("train", "predict"))
    p.add_argument("--model")
    a = p.parse_args()
    if a.phase:
        child(a)
        return
    print("command:", " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.json"
        for phase in ("train", "predict"):
            args = [
                sys.executable,
                __file__,
                "--phase",
                phase,
                "--model",
                str(model),
                "--train-households",
                str(a.train_households),
                "--train-days",
                str(a.train_days),
                "--predict-households",
                str(a.predict_households),
            ]
            r = subprocess.run(args, capture_output=True, text=True, check=False)
            if r.returncode:
                sys.exit(f"{phase} failed: {r.stderr.strip().splitlines()[-1]}")
            res = json.loads(r.stdout.strip().splitlines()[-1])
            print(phase, json.dumps({k: round(v, 2) for k, v in res.items()}))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
