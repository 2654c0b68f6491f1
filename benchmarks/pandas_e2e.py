"""A plain pandas implementation of the core job, as the baseline of `bench_e2e.py`.

What a competent engineer would write with pandas alone for "meter files in → validated,
scored readings and hourly/daily aggregates out", single process:

1. read every CSV file (all columns as text, `pandas.read_csv`), drop exact re-sends;
2. the VEE rules of `pandas_reference.classify_pandas` (parse, cadence, units, validation,
   faults, rate of change, score, grade, calendar) — the same semantics as the library's
   silver step, checked by `bench_silver.py --check`;
3. gaps between accepted readings and linear interpolation of the short ones;
4. hourly per-meter and daily per-meter energy;
5. Parquet out (silver, quarantine, hourly, daily).

No market, enrichment, warehouse or quality gates: this is the floor a platform is measured
against, not an equivalent of it. Usage: `python benchmarks/pandas_e2e.py IN_DIR OUT_DIR
[--format meter-csv|lcl]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pandas_reference import classify_pandas
from wattlake.transforms.calendar import uk_holidays
from wattlake.transforms.vee.profile import get_profile

COLUMNS = {
    "meter-csv": ["meter_id", "timestamp", "value", "unit"],
    "lcl": ["meter_id", "timestamp", "value"],
}


def read_files(in_dir: Path, fmt: str) -> pd.DataFrame:
    """Every reading file of `in_dir` as text columns (profile and label files are skipped)."""
    prefix = "block_" if fmt == "lcl" else "meters_"
    parts = []
    for i, path in enumerate(sorted(in_dir.glob(f"{prefix}*.csv"))):
        df = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            header=0,
            names=COLUMNS[fmt],
            usecols=range(len(COLUMNS[fmt])),
            on_bad_lines="skip",
            engine="c",
        )
        df["_batch_id"] = f"b{i}"
        df["_format"] = fmt
        df["_row_number"] = np.arange(2, len(df) + 2, dtype=np.int64)
        parts.append(df)
    df = pd.concat(parts, ignore_index=True)
    if "unit" not in df.columns:
        df["unit"] = "kWh"
    df.loc[df["unit"] == "", "unit"] = None
    return df.drop_duplicates(subset=["meter_id", "timestamp", "value", "unit"])


def gaps_and_estimates(accepted: pd.DataFrame, max_gap_h: float) -> pd.DataFrame:
    """Linear estimates (kW) for the missing intervals of gaps shorter than `max_gap_h`."""
    a = accepted.sort_values(["meter_id", "ts"])
    step = pd.to_timedelta(a["interval_minutes"], unit="min")
    nxt_ts = a.groupby("meter_id")["ts"].shift(-1)
    nxt_kw = a.groupby("meter_id")["kw"].shift(-1)
    missing = ((nxt_ts - a["ts"]) / step - 1).fillna(0).astype(int)
    short = (missing > 0) & ((nxt_ts - a["ts"]) - step < pd.Timedelta(hours=max_gap_h))
    g = a[short]
    rows = []
    for (_, r), m, nts, nkw in zip(
        g.iterrows(), missing[short], nxt_ts[short], nxt_kw[short], strict=True
    ):
        for k in range(1, m + 1):
            frac = k / (m + 1)
            rows.append((r["meter_id"], r["ts"] + k * (nts - r["ts"]) / (m + 1),
                         r["kw"] + frac * (nkw - r["kw"]), r["interval_minutes"]))  # fmt: skip
    return pd.DataFrame(rows, columns=["meter_id", "ts", "kw", "interval_minutes"])


def run(in_dir: Path, out_dir: Path, fmt: str) -> dict[str, float]:
    t0 = time.perf_counter()
    raw = read_files(in_dir, fmt)
    profile = get_profile("greenstream")
    now = pd.Timestamp(dt.datetime.now(dt.UTC))
    raw["_ingested_at"] = now
    today = dt.date.today()
    holidays = uk_holidays(2010, today.year + 1)
    t1 = time.perf_counter()
    df = classify_pandas(raw.rename(columns={}), profile, holidays)
    quarantined = df["quarantined"].to_numpy()
    silver = df[~quarantined].copy()
    quarantine = df[quarantined]
    silver["interval_minutes"] = silver["interval_minutes"].astype(int)
    est = gaps_and_estimates(silver[["meter_id", "ts", "kw", "interval_minutes"]], 4.0)
    est["kwh"] = est["kw"] * est["interval_minutes"] / 60.0
    est["is_estimated"] = True
    silver["is_estimated"] = False
    keep = ["meter_id", "ts", "kw", "kwh", "interval_minutes", "quality_score", "is_estimated"]
    silver = pd.concat([silver[keep], est.reindex(columns=keep)], ignore_index=True)
    t2 = time.perf_counter()
    silver["hour_ts"] = silver["ts"].dt.floor("h")
    hourly = silver.groupby(["meter_id", "hour_ts"], as_index=False).agg(
        kwh=("kwh", "sum"), kw_avg=("kw", "mean"), kw_max=("kw", "max")
    )
    daily = (
        silver.assign(date=silver["ts"].dt.date)
        .groupby(["meter_id", "date"], as_index=False)["kwh"]
        .sum()
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    silver.drop(columns="hour_ts").to_parquet(out_dir / "silver.parquet", index=False)
    quarantine[["meter_id", "timestamp", "value", "flags"]].to_parquet(
        out_dir / "quarantine.parquet", index=False
    )
    hourly.to_parquet(out_dir / "hourly.parquet", index=False)
    daily.to_parquet(out_dir / "daily.parquet", index=False)
    t3 = time.perf_counter()
    return {
        "readings": float(len(raw)),
        "read_s": t1 - t0,
        "vee_s": t2 - t1,
        "gold_write_s": t3 - t2,
        "total_s": t3 - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("in_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--format", default="meter-csv", choices=sorted(COLUMNS))
    args = ap.parse_args()
    res = run(args.in_dir, args.out_dir, args.format)
    print(" ".join(f"{k}={v:.3f}" for k, v in res.items()))


if __name__ == "__main__":
    main()
