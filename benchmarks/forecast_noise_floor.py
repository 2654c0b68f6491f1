"""The lowest hourly MAPE any forecast can reach on generated consumption, by group size.

The generator draws each household's half-hourly kWh as its expected profile (habits,
season, heating from the day's temperature) times mean-one lognormal noise (σ 0.25–0.45,
independent per interval). An oracle that knows every household's habits and the day's
temperature forecasts the expectation; its error is the noise alone. This script draws a
population like the demo's, sums households into groups of k, and reports the oracle's
hourly MAPE and R² per k — the floor under the community and portfolio figures.

Usage: ``python benchmarks/forecast_noise_floor.py --households 2000 --days 28``
"""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np

from wattlake.forecast.metrics import mape, r2
from wattlake.generate.consumption import consumption_kwh
from wattlake.generate.population import draw_behaviour
from wattlake.generate.timegrid import make_time_grid
from wattlake.generate.weather import daily_temperature

SIZES = (1, 2, 3, 4, 5, 7, 9, 15, 30, 200)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--households", type=int, default=2000)
    p.add_argument("--days", type=int, default=28)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    grid = make_time_grid(dt.date(2024, 3, 1), a.days)
    temp = daily_temperature(grid.day_of_year, rng)
    beh = draw_behaviour(rng.integers(0, 3, a.households), rng)
    noisy = consumption_kwh(beh, grid, temp, rng)
    # the expectation: the same model with the noise switched off (σ = 0 → factor 1)
    quiet = beh.__class__(**{**beh.__dict__, "noise_sigma": np.zeros(a.households)})
    expect = consumption_kwh(quiet, grid, temp, np.random.default_rng(0))

    def hourly(x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], -1, 2).sum(axis=2)

    noisy, expect = hourly(noisy), hourly(expect)
    print(f"{a.households} households x {a.days} days; oracle = noise-free expectation")
    print("| households per group | groups | oracle hourly MAPE | oracle hourly R² |")
    print("|---:|---:|---:|---:|")
    for k in SIZES:
        g = a.households // k
        if g == 0:
            continue
        y = noisy[: g * k].reshape(g, k, -1).sum(axis=1)
        e = expect[: g * k].reshape(g, k, -1).sum(axis=1)
        m = float(np.mean([mape(y[i], e[i]) for i in range(g)]))
        r = float(np.mean([r2(y[i], e[i]) for i in range(g)]))
        print(f"| {k} | {g} | {m:.1%} | {r:.3f} |")


if __name__ == "__main__":
    main()
