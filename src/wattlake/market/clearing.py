"""P2P market clearing: who sells how much local surplus to whom, at what price.

Pure functions over dense numpy arrays (intervals × users); no I/O. One call clears every
interval at once: the per-interval work is vectorised over the interval axis.

Market rules (shared by every mechanism)
----------------------------------------
- **Offers and bids.** In interval t a user offers its surplus `offer_kwh[t, u]` (kWh, PV
  production not used on site) and bids for its residual demand `need_kwh[t, u]` (kWh, what
  it would otherwise import from the grid). Hourly rows may carry both (the surplus and the
  demand fell in different sub-intervals); a user never trades with itself.
- **Communities.** Users are partitioned once into communities whose members are all
  pairwise within `radius_km` (haversine great-circle distance): greedy clique partition
  (`assign_communities`). Trades happen only inside a community, so no pair further apart
  than the radius ever trades. When every pair is within the radius there is one community.
  A user without coordinates is its own community (trades nothing).
- **Outside options.** A seller can always export at the feed-in tariff `grid_sell`
  (EUR/kWh); a buyer can always import at the retail tariff `grid_buy` (EUR/kWh). A P2P
  buyer pays the trade price plus the network fee `grid_fee` (EUR/kWh, for using the
  distribution grid); the seller receives the trade price (`amount_eur` = energy × price).
  A mechanism trades in an interval only when both sides strictly gain:
  `grid_sell < price` and `price + grid_fee < grid_buy`. With a zero spread nobody trades.
- **Pairing.** Per-user volumes are matched to pairs nearest-first: pairs (seller, buyer) of
  the same community sorted by distance (ties by user order) receive
  `min(remaining sell, remaining buy)` in turn. On a community (all pairs allowed) this
  greedy exhausts the smaller side, so the traded total is exactly `min(ΣS, ΣD)`.
- **CO2.** A P2P kWh is assumed to displace one kWh of grid import at the average grid
  intensity `co2_kg_per_kwh` (kg CO2/kWh); the seller's kWh would otherwise have been
  exported and counted by the grid operator, so only the buyer side is credited:
  `co2_saved_kg = energy_kwh × co2_kg_per_kwh` per trade (no double counting).

Mechanisms (`ClearingMechanism.clear(inputs) -> Trades`)
---------------------------------------------------------
- `PayAsClear`: uniform-price double auction. Every seller asks its outside option
  `grid_sell`; every buyer bids its outside option net of the fee, `grid_buy − grid_fee`.
  All asks are equal and all bids are equal, so when `bid > ask` the whole volume clears:
  matched volume `min(ΣS, ΣD)` per community, and the clearing price is the midpoint of the
  marginal ask and the marginal bid, `(grid_sell + grid_buy − grid_fee) / 2`; it lies within
  `[grid_sell, grid_buy]`. When supply exceeds demand the nearest sellers sell first (and
  vice versa), which is the rationing rule at the marginal price.
- `ProRata`: community sharing at the mid-market price `(grid_buy + grid_sell) / 2`. Per
  community the traded total is `V = min(ΣS, ΣD)`; each seller sells `offer × V/ΣS`, each
  buyer buys `need × V/ΣD`; the pro-rata volumes are then paired nearest-first. It trades
  only when the buyer still gains, i.e. `grid_fee < (grid_buy − grid_sell) / 2`.

Both mechanisms therefore trade the same total per community and interval,
`min(ΣS, ΣD)`, whenever both are open (`grid_fee < spread / 2`); with
`spread / 2 ≤ grid_fee < spread` only PayAsClear trades. They differ in price and in which
users get the volume.

Invariants (tested): per interval, Σ sold = Σ bought; each seller sells ≤ its offer, each
buyer buys ≤ its need; no negative volume; `grid_sell ≤ price ≤ grid_buy`; no pair farther
apart than `radius_km`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from wattlake.geo import haversine_km
from wattlake.lake.spec import UTC_TS
from wattlake.market.inputs import TRADE_SCHEMA, MarketInputs


# -- trades ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Trades:
    """Columnar trades: interval index, seller/buyer user index, kWh, EUR/kWh, km."""

    t_idx: np.ndarray
    seller_idx: np.ndarray
    buyer_idx: np.ndarray
    energy_kwh: np.ndarray
    price_eur_per_kwh: np.ndarray
    distance_km: np.ndarray
    mechanism: str

    def __len__(self) -> int:
        return int(self.energy_kwh.size)

    def per_user(self, inputs: MarketInputs) -> tuple[np.ndarray, np.ndarray]:
        """(p2p_export_kwh, p2p_import_kwh), each (T, N): sold / bought per user and interval."""
        t_n, u_n = inputs.shape
        exp = np.bincount(
            self.t_idx * u_n + self.seller_idx, weights=self.energy_kwh, minlength=t_n * u_n
        )
        imp = np.bincount(
            self.t_idx * u_n + self.buyer_idx, weights=self.energy_kwh, minlength=t_n * u_n
        )
        return exp.reshape(t_n, u_n), imp.reshape(t_n, u_n)

    def to_arrow(self, inputs: MarketInputs) -> pa.Table:
        """The trades as an Arrow table (`TRADE_SCHEMA`): one row per (interval, seller, buyer).

        amount_eur = energy × price (paid to the seller); grid_fee_eur = energy × fee (paid
        by the buyer to the network); co2_saved_kg = energy × intensity; buyer_savings_eur =
        energy × (grid_buy − price − fee); seller_premium_eur = energy × (price − grid_sell).
        """
        e, p, t = self.energy_kwh, self.price_eur_per_kwh, self.t_idx
        fee = inputs.grid_fee_eur_per_kwh
        ids = pa.array(inputs.user_ids.astype(str).tolist(), pa.string())
        naive = inputs.ts[t].astype("datetime64[us]")
        cols = {
            "date": pa.array(naive.astype("datetime64[D]"), pa.date32()),
            "ts": pa.array(inputs.ts[t].astype("datetime64[us]"), type=pa.timestamp("us")).cast(
                UTC_TS
            ),
            "seller_id": ids.take(pa.array(self.seller_idx, pa.int64())),
            "buyer_id": ids.take(pa.array(self.buyer_idx, pa.int64())),
            "energy_kwh": e,
            "price_eur_per_kwh": p,
            "amount_eur": e * p,
            "grid_fee_eur": e * fee,
            "distance_km": self.distance_km,
            "co2_saved_kg": e * inputs.co2_kg_per_kwh,
            "buyer_savings_eur": e * (inputs.grid_buy_eur_per_kwh[t] - p - fee),
            "seller_premium_eur": e * (p - inputs.grid_sell_eur_per_kwh[t]),
            "community_id": inputs.community[self.seller_idx].astype(np.int64),
            "mechanism": pa.repeat(pa.scalar(self.mechanism, pa.string()), len(self)),
        }
        return pa.Table.from_pydict(
            {k: (v if isinstance(v, pa.Array) else pa.array(v)) for k, v in cols.items()},
            schema=TRADE_SCHEMA,
        )


def empty_trades(mechanism: str) -> Trades:
    z_i, z_f = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=float)
    return Trades(z_i, z_i, z_i, z_f, z_f, z_f, mechanism)


@runtime_checkable
class ClearingMechanism(Protocol):
    """A market-clearing rule: all intervals of `inputs` in, trades out."""

    @property
    def name(self) -> str: ...

    def clear(self, inputs: MarketInputs) -> Trades: ...


# -- shared steps ----------------------------------------------------------------------
def candidate_pairs(inputs: MarketInputs) -> dict[str, np.ndarray]:
    """Ordered (seller, buyer) pairs of the same community, nearest first, grouped in levels.

    Only users that offer in some interval are sellers and only users that need in some
    interval are buyers. `level` groups the sorted pairs so that no two pairs of a level
    share a seller or a buyer, and every pair comes after all earlier pairs it shares a user
    with: processing level by level (vectorised within a level) is exactly the sequential
    nearest-first greedy. Cached on `inputs`.
    """
    if inputs._pairs:
        return inputs._pairs
    is_seller = np.asarray((inputs.offer_kwh > 0).any(axis=0))
    is_buyer = np.asarray((inputs.need_kwh > 0).any(axis=0))
    parts_s, parts_b = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    by_comm = np.argsort(inputs.community, kind="stable")
    cuts = np.flatnonzero(np.diff(inputs.community[by_comm])) + 1
    for members in np.split(by_comm, cuts):
        s_m, b_m = members[is_seller[members]], members[is_buyer[members]]
        if s_m.size and b_m.size:
            gs, gb = np.meshgrid(s_m, b_m, indexing="ij")
            keep = gs != gb
            parts_s.append(gs[keep])
            parts_b.append(gb[keep])
    si, bj = np.concatenate(parts_s), np.concatenate(parts_b)
    d = haversine_km(
        inputs.latitude[si], inputs.longitude[si], inputs.latitude[bj], inputs.longitude[bj]
    )
    ok = d <= inputs.radius_km  # always true inside a community; kept as a guard
    si, bj, d = si[ok], bj[ok], d[ok]
    rank = np.argsort(np.argsort(inputs.user_ids.astype(str), kind="stable"), kind="stable")
    order = np.lexsort((rank[bj], rank[si], d))
    si, bj, d = si[order], bj[order], d[order]
    level = _levels(si, bj, inputs.shape[1])
    by_level = np.argsort(level, kind="stable")
    inputs._pairs.update(
        seller=si[by_level], buyer=bj[by_level], distance_km=d[by_level], level=level[by_level]
    )
    return inputs._pairs


def _levels(si: np.ndarray, bj: np.ndarray, n_users: int) -> np.ndarray:
    """Dependency level of each pair in sequence (see `candidate_pairs`)."""
    last_s = [0] * n_users
    last_b = [0] * n_users
    out = np.empty(si.size, dtype=np.int64)
    for k, (i, j) in enumerate(zip(si.tolist(), bj.tolist(), strict=True)):
        lv = max(last_s[i], last_b[j]) + 1
        out[k] = lv
        last_s[i] = lv
        last_b[j] = lv
    return out


def allocate_nearest_first(
    inputs: MarketInputs, sell_kwh: np.ndarray, buy_kwh: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pair per-user volumes nearest-first in every interval at once.

    `sell_kwh`/`buy_kwh` are (T, N) volumes to place (kWh). Returns (t_idx, seller_idx,
    buyer_idx, energy_kwh) of the trades above `min_trade_kwh`; `distance_km` follows from
    the pair. Each pair gets min(remaining sell, remaining buy), so no user exceeds its
    volume and, inside a community, the smaller side is exhausted.
    """
    pairs = candidate_pairs(inputs)
    rs = np.array(sell_kwh, dtype=float, copy=True)
    rb = np.array(buy_kwh, dtype=float, copy=True)
    level = pairs["level"]
    bounds = np.flatnonzero(np.diff(level)) + 1
    starts = np.concatenate([[0], bounds]) if level.size else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([bounds, [level.size]]) if level.size else np.zeros(0, dtype=np.int64)
    out_t, out_k, out_q = [], [], []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        si, bj = pairs["seller"][a:b], pairs["buyer"][a:b]
        q = np.minimum(rs[:, si], rb[:, bj])
        rs[:, si] -= q
        rb[:, bj] -= q
        t, m = np.nonzero(q > inputs.min_trade_kwh)
        if t.size:
            out_t.append(t)
            out_k.append(m + a)
            out_q.append(q[t, m])
    if not out_t:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, np.zeros(0, dtype=float)
    t_idx = np.concatenate(out_t)
    k = np.concatenate(out_k)
    q = np.concatenate(out_q)
    order = np.lexsort((k, t_idx))
    return t_idx[order], pairs["seller"][k[order]], pairs["buyer"][k[order]], q[order]


def community_totals(inputs: MarketInputs, kwh: np.ndarray) -> np.ndarray:
    """(T, C) sums of a (T, N) volume per community (kWh)."""
    n_comm = int(inputs.community.max()) + 1 if inputs.community.size else 0
    onehot = np.zeros((inputs.shape[1], n_comm))
    onehot[np.arange(inputs.shape[1]), inputs.community] = 1.0
    return kwh @ onehot


def _trades(
    inputs: MarketInputs,
    sell: np.ndarray,
    buy: np.ndarray,
    price_t: np.ndarray,
    open_t: np.ndarray,
    name: str,
) -> Trades:
    """Mask closed intervals, pair the volumes and attach prices and distances."""
    sell = np.where(open_t[:, None], sell, 0.0)
    buy = np.where(open_t[:, None], buy, 0.0)
    t, si, bj, q = allocate_nearest_first(inputs, sell, buy)
    d = haversine_km(
        inputs.latitude[si], inputs.longitude[si], inputs.latitude[bj], inputs.longitude[bj]
    )
    return Trades(t, si, bj, q, price_t[t], d, name)


# -- mechanisms ------------------------------------------------------------------------
@dataclass(frozen=True)
class PayAsClear:
    """Uniform-price double auction per community and interval (see module docstring).

    ask = grid_sell, bid = grid_buy − fee (EUR/kWh); clears when bid > ask at
    price = (ask + bid) / 2; volume min(ΣS, ΣD), nearest sellers/buyers first.
    """

    name: str = "pay_as_clear"

    def prices(self, inputs: MarketInputs) -> tuple[np.ndarray, np.ndarray]:
        """(price EUR/kWh, open flag) per interval."""
        ask = inputs.grid_sell_eur_per_kwh
        bid = inputs.grid_buy_eur_per_kwh - inputs.grid_fee_eur_per_kwh
        price = np.clip((ask + bid) / 2, ask, inputs.grid_buy_eur_per_kwh)
        return price, bid > ask

    def clear(self, inputs: MarketInputs) -> Trades:
        price, is_open = self.prices(inputs)
        return _trades(inputs, inputs.offer_kwh, inputs.need_kwh, price, is_open, self.name)


@dataclass(frozen=True)
class ProRata:
    """Pro-rata sharing at the mid-market price per community and interval.

    price = (grid_buy + grid_sell) / 2 (EUR/kWh); open when price + fee < grid_buy; traded
    V = min(ΣS, ΣD); seller sells offer × V/ΣS, buyer buys need × V/ΣD; paired nearest-first.
    """

    name: str = "pro_rata"

    def prices(self, inputs: MarketInputs) -> tuple[np.ndarray, np.ndarray]:
        """(price EUR/kWh, open flag) per interval."""
        buy, sell = inputs.grid_buy_eur_per_kwh, inputs.grid_sell_eur_per_kwh
        price = (buy + sell) / 2
        is_open = (price + inputs.grid_fee_eur_per_kwh < buy) & (price > sell)
        return price, is_open

    def clear(self, inputs: MarketInputs) -> Trades:
        price, is_open = self.prices(inputs)
        s_c = community_totals(inputs, inputs.offer_kwh)
        d_c = community_totals(inputs, inputs.need_kwh)
        v_c = np.minimum(s_c, d_c)
        with np.errstate(divide="ignore", invalid="ignore"):
            r_s = np.where(s_c > 0, v_c / s_c, 0.0)
            r_d = np.where(d_c > 0, v_c / d_c, 0.0)
        sell = inputs.offer_kwh * np.minimum(r_s[:, inputs.community], 1.0)
        buy = inputs.need_kwh * np.minimum(r_d[:, inputs.community], 1.0)
        return _trades(inputs, sell, buy, price, is_open, self.name)


MECHANISMS: dict[str, ClearingMechanism] = {m.name: m for m in (PayAsClear(), ProRata())}


def get_mechanism(name: str) -> ClearingMechanism:
    """A mechanism by name (`pay_as_clear`, `pro_rata`)."""
    try:
        return MECHANISMS[name]
    except KeyError:
        raise ValueError(
            f"unknown clearing mechanism '{name}' (known: {sorted(MECHANISMS)})"
        ) from None
