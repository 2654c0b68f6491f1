"""Benchmark wattlake.generate: array generation and generation + CSV write throughput.

Usage: ``python benchmarks/bench_generate.py --households 2000 --days 30``
"""

from __future__ import annotations

import argparse
import datetime
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wattlake.generate import generate
from wattlake.generate.api import DEFAULT_START, Weather, file_grid
from wattlake.generate.population import draw_population
from wattlake.generate.timegrid import make_time_grid
from wattlake.generate.weather import clearsky_ghi, daily_cloud_factor, daily_temperature


def bench_arrays(households: int, days: int, per_file: int, seed: int) -> tuple[int, float]:
    """Generate the clean (meter × interval) arrays only; returns (readings, seconds)."""
    t0 = time.perf_counter()
    grid = make_time_grid(DEFAULT_START, days)
    ss_pop, ss_weather, _, ss_files = np.random.SeedSequence(seed).spawn(4)  # as generate()
    pop = draw_population(households, days, DEFAULT_START, np.random.default_rng(ss_pop))
    rng_w = np.random.default_rng(ss_weather)
    weather = Weather(
        daily_temperature(grid.day_of_year, rng_w),
        daily_cloud_factor(days, rng_w),
        clearsky_ghi(grid),
    )
    units = np.ones((households, 2), dtype=np.int8)
    readings = 0
    chunks = range(0, households, per_file)
    for lo, fseed in zip(chunks, ss_files.spawn(len(chunks)), strict=True):
        hh = np.arange(lo, min(lo + per_file, households))
        fg = file_grid(pop, hh, grid, weather, units, np.random.default_rng(fseed))
        readings += int(fg.valid.sum())
    return readings, time.perf_counter() - t0


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--households-per-file", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="output dir (default: temp)")
    args = parser.parse_args()

    rows: list[tuple[str, int, float]] = []
    n, secs = bench_arrays(args.households, args.days, args.households_per_file, args.seed)
    rows.append(("arrays only", n, secs))
    now = datetime.datetime(2024, 12, 1, tzinfo=datetime.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.out or Path(tmp)
        for fmt in ("lcl", "meter-csv"):
            for faults in (False, True):
                res = generate(
                    base / f"{fmt}_{faults}",
                    args.households,
                    args.days,
                    seed=args.seed,
                    fmt=fmt,
                    faults=faults,
                    households_per_file=args.households_per_file,
                    now=now,
                )
                size = sum(p.stat().st_size for p in res.files) / 2**20
                label = f"generate+write {fmt}{' +faults' if faults else ''} ({size:.0f} MiB)"
                rows.append((label, res.readings, res.seconds))

    print(f"households={args.households} days={args.days} per_file={args.households_per_file}")
    print(f"{'stage':<44} {'readings':>12} {'seconds':>9} {'readings/s':>14}")
    for label, n, secs in rows:
        print(f"{label:<44} {n:>12,} {secs:>9.3f} {n / secs:>14,.0f}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
