"""Clearing throughput on synthetic data: `python -m wattlake.market.bench [users] [intervals]`.

Users are scattered around London (σ ≈ 1.1 km north–south, 1 km east–west); 30 % of
user-intervals produce. Prints intervals per second for each mechanism and radius.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from wattlake.market.clearing import MECHANISMS
from wattlake.market.inputs import MarketConfig, MarketInputs, make_inputs


def synthetic(users: int, intervals: int, radius_km: float, seed: int = 0) -> MarketInputs:
    """Random surplus / residual demand (kWh) and positions for `users` × `intervals`."""
    rng = np.random.default_rng(seed)
    lat = 51.5 + rng.normal(0, 0.01, users)
    lon = -0.1 + rng.normal(0, 0.015, users)
    prod = np.where(
        rng.random((intervals, users)) < 0.3, rng.exponential(0.5, (intervals, users)), 0
    )
    cons = rng.exponential(0.3, (intervals, users))
    self_c = np.minimum(prod, cons)
    return make_inputs(prod - self_c, cons - self_c, lat, lon, MarketConfig(radius_km=radius_km))


def main(users: int = 200, intervals: int = 1344) -> None:
    for radius in (2.0, 5.0, 100.0):
        t0 = time.perf_counter()
        inputs = synthetic(users, intervals, radius)
        setup = time.perf_counter() - t0
        n_comm = int(inputs.community.max()) + 1
        for name, mech in MECHANISMS.items():
            inputs = inputs.with_volumes(inputs.offer_kwh, inputs.need_kwh)  # drop pair cache
            t0 = time.perf_counter()
            trades = mech.clear(inputs)
            secs = time.perf_counter() - t0
            print(
                f"{users} users × {intervals} intervals, radius {radius:g} km "
                f"({n_comm} communities, setup {setup:.2f}s): {name}: {len(trades)} trades, "
                f"{secs:.2f}s, {intervals / secs:,.0f} intervals/s"
            )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
