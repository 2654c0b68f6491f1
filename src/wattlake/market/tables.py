"""Lake tables the market writes (gold layer), declared like `wattlake.lake.tables`.

Not yet in `lake.tables.ALL_TABLES`; add them there so `wattlake sql` shows them.
"""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.tables import UTC_TS, TableSpec

GOLD_P2P_TRADES = TableSpec(
    "gold",
    "p2p_trades",
    (
        ("ts", UTC_TS),  # interval start (UTC)
        ("date", pa.date32()),
        ("seller_id", pa.string()),
        ("buyer_id", pa.string()),
        ("energy_kwh", pa.float64()),
        ("price_eur_per_kwh", pa.float64()),
        ("amount_eur", pa.float64()),  # energy × price, paid to the seller
        ("grid_fee_eur", pa.float64()),  # energy × network fee, paid by the buyer
        ("distance_km", pa.float64()),
        ("co2_saved_kg", pa.float64()),
        ("buyer_savings_eur", pa.float64()),
        ("seller_premium_eur", pa.float64()),
        ("community_id", pa.int64()),
        ("mechanism", pa.string()),
    ),
    description="P2P trades, one row per (interval, seller, buyer)",
)

GOLD_P2P_USER_KPIS = TableSpec(
    "gold",
    "p2p_user_kpis_daily",
    (
        ("user_id", pa.string()),
        ("date", pa.date32()),
        ("production_kwh", pa.float64()),
        ("consumption_kwh", pa.float64()),
        ("self_consumption_kwh", pa.float64()),
        ("grid_import_kwh", pa.float64()),
        ("grid_export_kwh", pa.float64()),
        ("p2p_import_kwh", pa.float64()),
        ("p2p_export_kwh", pa.float64()),
        ("p2p_revenue_eur", pa.float64()),
        ("p2p_cost_eur", pa.float64()),
        ("grid_revenue_eur", pa.float64()),
        ("revenue_eur", pa.float64()),
        ("savings_eur", pa.float64()),
        ("co2_saved_kg", pa.float64()),
        ("self_sufficiency", pa.float64()),
        ("self_consumption_rate", pa.float64()),
        *(
            (f"{k}_avg_{n}d", pa.float64())
            for n in (7, 30)
            for k in (
                "revenue_eur",
                "savings_eur",
                "co2_saved_kg",
                "self_sufficiency",
                "self_consumption_rate",
            )
        ),
    ),
    description="per user and day: P2P/grid energy, revenue, savings, CO2, rates + rolling means",
)

MARKET_TABLES: tuple[TableSpec, ...] = (GOLD_P2P_TRADES, GOLD_P2P_USER_KPIS)
