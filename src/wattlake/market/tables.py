"""Lake tables the market writes (gold layer), declared like `wattlake.lake.tables`.

`GOLD_P2P_TRADES` is written by the gold step (and declared in `lake.tables`); the daily
KPI table is computed by `settle.daily_user_kpis` but not written by the pipeline yet.
"""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.tables import GOLD_P2P_TRADES, TableSpec

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
