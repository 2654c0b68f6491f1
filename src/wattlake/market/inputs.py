"""The P2P market's inputs: configuration, communities, and the dense interval × user arrays
every mechanism clears (`MarketInputs`, built by `make_inputs`). Pure; see `clearing` for the
market rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from wattlake.geo import haversine_km
from wattlake.lake.spec import UTC_TS

TRADE_SCHEMA = pa.schema(
    [
        ("ts", UTC_TS),
        ("date", pa.date32()),  # UTC date of ts
        ("seller_id", pa.string()),
        ("buyer_id", pa.string()),
        ("energy_kwh", pa.float64()),
        ("price_eur_per_kwh", pa.float64()),
        ("amount_eur", pa.float64()),
        ("grid_fee_eur", pa.float64()),
        ("distance_km", pa.float64()),
        ("co2_saved_kg", pa.float64()),
        ("buyer_savings_eur", pa.float64()),
        ("seller_premium_eur", pa.float64()),
        ("community_id", pa.int64()),
        ("mechanism", pa.string()),
    ]
)


# -- geometry (distances: `wattlake.geo.haversine_km`) ------------------------------


def assign_communities(
    latitude: np.ndarray, longitude: np.ndarray, radius_km: float, order: np.ndarray | None = None
) -> np.ndarray:
    """Community id per user: a greedy partition into cliques of the `≤ radius_km` graph.

    Seeds are taken in `order` (default: index order); each seed collects the unassigned
    users nearest to it first, admitting a user only if it is within `radius_km` of every
    member already admitted. Every pair inside a community is therefore within the radius;
    when all users are pairwise within the radius the result is a single community. Users
    without coordinates (NaN) are singletons. Deterministic.
    """
    lat = np.asarray(latitude, dtype=float)
    lon = np.asarray(longitude, dtype=float)
    n = lat.size
    comm = np.full(n, -1, dtype=np.int64)
    seeds = np.arange(n) if order is None else np.asarray(order)
    next_id = 0
    for s in seeds:
        if comm[s] >= 0:
            continue
        free = np.flatnonzero(comm < 0)
        free = free[free != s]
        d = haversine_km(lat[s], lon[s], lat[free], lon[free])
        near = d <= radius_km
        cand = free[near][np.lexsort((free[near], d[near]))]
        members = [int(s)]
        for u in cand:
            dm = haversine_km(lat[u], lon[u], lat[members], lon[members])
            if np.all(dm <= radius_km):
                members.append(int(u))
        comm[members] = next_id
        next_id += 1
    return comm


# -- inputs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MarketConfig:
    """Market parameters; the grid prices are defaults when no per-interval prices are given.

    grid_buy_eur_per_kwh: retail tariff (EUR/kWh); grid_sell_eur_per_kwh: feed-in tariff
    (EUR/kWh); grid_fee_eur_per_kwh: network fee a P2P buyer pays on top of the price
    (EUR/kWh); radius_km: community radius (km); co2_kg_per_kwh: grid carbon intensity
    (kg CO2/kWh); min_trade_kwh: trades at or below this volume (kWh) are dropped as dust.
    """

    grid_buy_eur_per_kwh: float = 0.30
    grid_sell_eur_per_kwh: float = 0.08
    grid_fee_eur_per_kwh: float = 0.02
    radius_km: float = 5.0
    co2_kg_per_kwh: float = 0.20
    min_trade_kwh: float = 1e-9

    def __post_init__(self) -> None:
        if self.grid_fee_eur_per_kwh < 0:
            raise ValueError("grid_fee_eur_per_kwh must be ≥ 0")
        if self.radius_km < 0:
            raise ValueError("radius_km must be ≥ 0")
        if self.grid_sell_eur_per_kwh > self.grid_buy_eur_per_kwh:
            raise ValueError("grid_sell_eur_per_kwh must be ≤ grid_buy_eur_per_kwh")

    @classmethod
    def from_settings(cls, settings: object, **overrides: float) -> MarketConfig:
        """Tariffs and CO2 intensity from `wattlake.config.Settings`; `market_*` if present."""
        kw: dict[str, float] = {
            "grid_buy_eur_per_kwh": settings.grid_buy_eur_per_kwh,  # type: ignore[attr-defined]
            "grid_sell_eur_per_kwh": settings.grid_sell_eur_per_kwh,  # type: ignore[attr-defined]
            "co2_kg_per_kwh": settings.grid_co2_kg_per_kwh,  # type: ignore[attr-defined]
        }
        for name in ("grid_fee_eur_per_kwh", "radius_km"):
            value = getattr(settings, f"market_{name}", None)
            if value is not None:
                kw[name] = value
        kw.update(overrides)
        return cls(**kw)


@dataclass(frozen=True)
class MarketInputs:
    """Everything one clearing needs, dense over T intervals × N users.

    ts: (T,) interval starts, datetime64[us] UTC. user_ids: (N,) str. latitude/longitude:
    (N,) degrees (NaN = unknown). offer_kwh/need_kwh: (T, N) surplus / residual demand, kWh,
    ≥ 0. grid_buy/grid_sell_eur_per_kwh: (T,) tariffs, EUR/kWh. community: (N,) ids from
    `assign_communities`. The remaining scalars are as in `MarketConfig`.
    """

    ts: np.ndarray
    user_ids: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    offer_kwh: np.ndarray
    need_kwh: np.ndarray
    grid_buy_eur_per_kwh: np.ndarray
    grid_sell_eur_per_kwh: np.ndarray
    community: np.ndarray
    grid_fee_eur_per_kwh: float = 0.02
    radius_km: float = 5.0
    co2_kg_per_kwh: float = 0.20
    min_trade_kwh: float = 1e-9
    _pairs: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.offer_kwh.shape
        return int(rows), int(cols)

    def with_volumes(self, offer_kwh: np.ndarray, need_kwh: np.ndarray) -> MarketInputs:
        """A copy with other offers / needs (same users, intervals, prices, communities)."""
        return replace(self, offer_kwh=offer_kwh, need_kwh=need_kwh, _pairs={})


def make_inputs(
    offer_kwh: np.ndarray | Sequence[Sequence[float]],
    need_kwh: np.ndarray | Sequence[Sequence[float]],
    latitude: np.ndarray | Sequence[float],
    longitude: np.ndarray | Sequence[float],
    config: MarketConfig | None = None,
    *,
    user_ids: Sequence[str] | np.ndarray | None = None,
    ts: np.ndarray | Sequence[object] | None = None,
    grid_buy_eur_per_kwh: np.ndarray | float | None = None,
    grid_sell_eur_per_kwh: np.ndarray | float | None = None,
    community: np.ndarray | None = None,
) -> MarketInputs:
    """Validate and assemble `MarketInputs` from arrays (kWh, degrees, EUR/kWh).

    Per-interval tariffs override the config's flat ones. Negative or NaN volumes are
    rejected (`ValueError`), as are tariffs with `grid_sell > grid_buy`. `community`: the
    users' community ids when fixed beforehand (a market cleared in parts, e.g. day by
    day, keeps one partition); default `assign_communities` over these users.
    """
    cfg = config or MarketConfig()
    offer = np.atleast_2d(np.asarray(offer_kwh, dtype=float))
    need = np.atleast_2d(np.asarray(need_kwh, dtype=float))
    if offer.shape != need.shape:
        raise ValueError(f"offer shape {offer.shape} != need shape {need.shape}")
    t_n, u_n = offer.shape
    if not (np.isfinite(offer).all() and np.isfinite(need).all()):
        raise ValueError("volumes must be finite")
    if (offer < 0).any() or (need < 0).any():
        raise ValueError("volumes must be ≥ 0 kWh")
    lat = np.asarray(latitude, dtype=float).reshape(u_n)
    lon = np.asarray(longitude, dtype=float).reshape(u_n)
    ids = np.asarray(
        [f"u{i}" for i in range(u_n)] if user_ids is None else list(user_ids), dtype=object
    )
    times = (
        np.arange(t_n).astype("datetime64[h]").astype("datetime64[us]")
        if ts is None
        else np.asarray(ts, dtype="datetime64[us]")
    )
    buy = np.broadcast_to(
        np.asarray(
            cfg.grid_buy_eur_per_kwh if grid_buy_eur_per_kwh is None else grid_buy_eur_per_kwh,
            dtype=float,
        ),
        (t_n,),
    ).copy()
    sell = np.broadcast_to(
        np.asarray(
            cfg.grid_sell_eur_per_kwh if grid_sell_eur_per_kwh is None else grid_sell_eur_per_kwh,
            dtype=float,
        ),
        (t_n,),
    ).copy()
    if (sell > buy).any():
        raise ValueError("grid_sell_eur_per_kwh must be ≤ grid_buy_eur_per_kwh in every interval")
    if community is None:
        order = np.argsort(ids.astype(str), kind="stable")
        community = assign_communities(lat, lon, cfg.radius_km, order)
    elif np.shape(community) != (u_n,):
        raise ValueError(f"{np.shape(community)} community ids for {u_n} users")
    return MarketInputs(
        ts=times,
        user_ids=ids,
        latitude=lat,
        longitude=lon,
        offer_kwh=offer,
        need_kwh=need,
        grid_buy_eur_per_kwh=buy,
        grid_sell_eur_per_kwh=sell,
        community=np.asarray(community, dtype=np.int64),
        grid_fee_eur_per_kwh=cfg.grid_fee_eur_per_kwh,
        radius_km=cfg.radius_km,
        co2_kg_per_kwh=cfg.co2_kg_per_kwh,
        min_trade_kwh=cfg.min_trade_kwh,
    )
