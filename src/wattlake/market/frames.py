"""Arrow tables ↔ the dense arrays the clearing works on (pure; no I/O).

Long input (one row per user and interval, e.g. `gold.energy_flow_hourly`) is pivoted to
(T intervals × N users) matrices; trades come back as long Arrow tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.lake.spec import UTC_TS
from wattlake.market.inputs import MarketConfig, MarketInputs, assign_communities, make_inputs

USER_P2P_SCHEMA = pa.schema(
    [
        ("ts", UTC_TS),
        ("user_id", pa.string()),
        ("p2p_export_kwh", pa.float64()),
        ("p2p_import_kwh", pa.float64()),
        ("p2p_revenue_eur", pa.float64()),
        ("p2p_cost_eur", pa.float64()),
        ("savings_eur", pa.float64()),
        ("co2_saved_kg", pa.float64()),
        ("trades", pa.int64()),
    ]
)


def _ts_numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps as naive datetime64[us] (UTC instants)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
        arr = arr.cast(pa.timestamp(arr.type.unit))
    return arr.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False).astype("datetime64[us]")


def current_locations(users: pa.Table) -> pa.Table:
    """(user_id, latitude, longitude) of each user's latest profile version (by effective_date)."""
    if "effective_date" in users.column_names and users.num_rows:
        users = users.sort_by([("user_id", "ascending"), ("effective_date", "ascending")])
    ids = users["user_id"].to_pylist()
    last: dict[str, int] = {u: i for i, u in enumerate(ids)}
    idx = pa.array(sorted(last.values()), pa.int64())
    return users.take(idx).select(["user_id", "latitude", "longitude"])


def _locations(ids: np.ndarray, users: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees; NaN when unknown) of `ids` from `users`."""
    loc = current_locations(users)
    loc_ids = np.asarray(loc["user_id"].to_pylist(), dtype=str)
    lat = np.full(ids.size, np.nan)
    lon = np.full(ids.size, np.nan)
    pos = {u: i for i, u in enumerate(ids.tolist())}
    la, lo = _floats(loc["latitude"]), _floats(loc["longitude"])
    for k, u in enumerate(loc_ids.tolist()):
        if u in pos:
            lat[pos[u]], lon[pos[u]] = la[k], lo[k]
    return lat, lon


def market_communities(
    user_ids: Sequence[str], users: pa.Table, config: MarketConfig | None = None
) -> dict[str, int]:
    """user_id → community id of the users `user_ids`, as one clearing over all of them
    assigns it (`build_inputs`): fixed once, so a market cleared in parts (day by day)
    matches a market cleared at once."""
    cfg = config or MarketConfig()
    ids = np.unique(np.asarray(list(user_ids), dtype=object).astype(str))
    lat, lon = _locations(ids, users)
    comm = assign_communities(lat, lon, cfg.radius_km, np.argsort(ids, kind="stable"))
    return dict(zip(ids.tolist(), comm.tolist(), strict=True))


def community_table(communities: Mapping[str, int]) -> pa.Table:
    """`market_communities` as a table (user_id, community_id)."""
    return pa.table(
        {
            "user_id": pa.array(list(communities), pa.string()),
            "community_id": pa.array(list(communities.values()), pa.int64()),
        }
    )


def build_inputs(
    flow: pa.Table,
    users: pa.Table,
    config: MarketConfig | None = None,
    *,
    ts_col: str = "hour_ts",
    offer_col: str = "surplus_kwh",
    need_col: str = "grid_import_kwh",
    prices: pa.Table | None = None,
    communities: Mapping[str, int] | None = None,
) -> tuple[MarketInputs, np.ndarray, np.ndarray]:
    """Pivot a long flow table into `MarketInputs`.

    flow: one row per (user_id, `ts_col`) with the surplus (`offer_col`, kWh) and the
    residual demand before P2P (`need_col`, kWh; in gold flow that is `grid_import_kwh`).
    users: user_id, latitude, longitude (degrees; profile history allowed, the latest
    version counts; users missing here have no location and trade nothing).
    prices: optional per-interval tariffs `ts`, `grid_buy_eur_per_kwh`,
    `grid_sell_eur_per_kwh` (EUR/kWh); intervals without a row use the config's flat ones.
    communities: user_id → community id fixed beforehand (`market_communities`, covering
    every user of `flow`); default: assigned over the users of `flow`.

    Returns (inputs, row_t, row_u): the interval and user index of every flow row, used to
    map per-user results (and an `eligible` column) back to the rows.
    """
    cfg = config or MarketConfig()
    ts = _ts_numpy(flow[ts_col])
    uid = np.asarray(flow["user_id"].to_pylist(), dtype=object)
    times, row_t = np.unique(ts, return_inverse=True)
    ids, row_u = np.unique(uid.astype(str), return_inverse=True)
    t_n, u_n = times.size, ids.size
    offer = np.zeros((t_n, u_n))
    need = np.zeros((t_n, u_n))
    np.add.at(offer, (row_t, row_u), np.nan_to_num(_floats(flow[offer_col])).clip(min=0.0))
    np.add.at(need, (row_t, row_u), np.nan_to_num(_floats(flow[need_col])).clip(min=0.0))

    lat, lon = _locations(ids, users)

    buy = np.full(t_n, cfg.grid_buy_eur_per_kwh)
    sell = np.full(t_n, cfg.grid_sell_eur_per_kwh)
    if prices is not None and prices.num_rows:
        p_ts = _ts_numpy(prices["ts"])
        at = np.searchsorted(times, p_ts)
        hit = (at < t_n) & (times[np.minimum(at, t_n - 1)] == p_ts)
        buy[at[hit]] = _floats(prices["grid_buy_eur_per_kwh"])[hit]
        sell[at[hit]] = _floats(prices["grid_sell_eur_per_kwh"])[hit]
    inputs = make_inputs(
        offer,
        need,
        lat,
        lon,
        cfg,
        user_ids=ids,
        ts=times,
        grid_buy_eur_per_kwh=buy,
        grid_sell_eur_per_kwh=sell,
        community=(
            None if communities is None else np.array([communities[u] for u in ids.tolist()])
        ),
    )
    return inputs, row_t, row_u


def _floats(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(col.cast(pa.float64()), np.nan).to_numpy(), dtype=float)


def matrix_from_rows(
    values: np.ndarray, row_t: np.ndarray, row_u: np.ndarray, shape: tuple[int, int], fill: bool
) -> np.ndarray:
    """A (T, N) boolean matrix from per-row values (`fill` where no row exists)."""
    out = np.full(shape, fill, dtype=bool)
    out[row_t, row_u] = values
    return out


def user_p2p_table(trades: pa.Table) -> pa.Table:
    """Per user and interval (`USER_P2P_SCHEMA`): kWh sold/bought, EUR, kg CO2, trade count.

    p2p_revenue_eur = Σ amount as seller; p2p_cost_eur = Σ (amount + fee) as buyer;
    savings_eur = Σ buyer savings versus retail; co2_saved_kg credited to the buyer.
    """
    n = trades.num_rows
    zeros = pa.array(np.zeros(n))
    ones = pa.array(np.ones(n, dtype=np.int64))
    cost = pc.add(trades["amount_eur"], trades["grid_fee_eur"])
    sold = pa.table(
        {
            "ts": trades["ts"],
            "user_id": trades["seller_id"],
            "p2p_export_kwh": trades["energy_kwh"],
            "p2p_import_kwh": zeros,
            "p2p_revenue_eur": trades["amount_eur"],
            "p2p_cost_eur": zeros,
            "savings_eur": zeros,
            "co2_saved_kg": zeros,
            "trades": ones,
        }
    )
    bought = pa.table(
        {
            "ts": trades["ts"],
            "user_id": trades["buyer_id"],
            "p2p_export_kwh": zeros,
            "p2p_import_kwh": trades["energy_kwh"],
            "p2p_revenue_eur": zeros,
            "p2p_cost_eur": cost,
            "savings_eur": trades["buyer_savings_eur"],
            "co2_saved_kg": trades["co2_saved_kg"],
            "trades": ones,
        }
    )
    both = pa.concat_tables([sold, bought])
    measures = [c for c in USER_P2P_SCHEMA.names if c not in ("ts", "user_id")]
    agg = both.group_by(["ts", "user_id"], use_threads=False).aggregate(
        [(m, "sum") for m in measures]
    )
    agg = agg.rename_columns([c.removesuffix("_sum") for c in agg.column_names])
    agg = agg.sort_by([("ts", "ascending"), ("user_id", "ascending")])
    return agg.select(USER_P2P_SCHEMA.names).cast(USER_P2P_SCHEMA)
