"""Simulated peer-to-peer energy market: clearing, settlement and KPIs.

    inputs, row_t, row_u = build_inputs(flow, users, MarketConfig())   # or run_market(...)
    trades = PayAsClear().clear(inputs)                                  # or ProRata()
    table = trades.to_arrow(inputs)

See `clearing` for the market rules and `settle` for eligibility, the flow after P2P and
the KPIs.
"""

from wattlake.market.clearing import (
    MECHANISMS,
    ClearingMechanism,
    PayAsClear,
    ProRata,
    Trades,
    get_mechanism,
)
from wattlake.market.frames import (
    USER_P2P_SCHEMA,
    build_inputs,
    community_table,
    market_communities,
    user_p2p_table,
)
from wattlake.market.inputs import (
    TRADE_SCHEMA,
    MarketConfig,
    MarketInputs,
    assign_communities,
    make_inputs,
)
from wattlake.market.settle import (
    MarketResult,
    apply_eligibility,
    clear_market,
    daily_community_kpis,
    daily_user_kpis,
    hourly_eligibility,
    rolling_kpis,
    run_market,
    settle_arrays,
    settle_flow,
    user_profiles,
)

__all__ = [
    "MECHANISMS",
    "TRADE_SCHEMA",
    "USER_P2P_SCHEMA",
    "ClearingMechanism",
    "MarketConfig",
    "MarketInputs",
    "MarketResult",
    "PayAsClear",
    "ProRata",
    "Trades",
    "apply_eligibility",
    "assign_communities",
    "build_inputs",
    "clear_market",
    "community_table",
    "daily_community_kpis",
    "daily_user_kpis",
    "get_mechanism",
    "hourly_eligibility",
    "make_inputs",
    "market_communities",
    "rolling_kpis",
    "run_market",
    "settle_arrays",
    "settle_flow",
    "user_p2p_table",
    "user_profiles",
]
