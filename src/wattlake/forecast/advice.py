"""Per-user trading advice from the forecasts (pure pandas).

Per user and forecast hour: surplus = production − consumption, with a range from the
quantiles (P10 surplus = production P10 − consumption P90, the pessimistic case; P90 the
optimistic one). Action:

- `SELL` when even the pessimistic surplus is above `min_kwh` (energy to offer peers);
- `BUY` when even the optimistic surplus is below −`min_kwh` (a deficit to cover);
- `HOLD` otherwise (too uncertain, or nothing to trade).

Revenue range (EUR) = the surplus range × the expected P2P price (the market's midpoint of
feed-in and retail minus the network fee); for BUY it is the (negative) cost range.
Confidence = the probability that the surplus has the sign of its median, taking the
surplus as normal with σ = (P90 − P10) / 2.563; labels: ≥ 0.9 high, ≥ 0.7 medium, else low.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

MIN_KWH = 0.05
Z_80 = 2.563  # width of the central 80 % of a standard normal


def p2p_price(feed_in_eur: float, retail_eur: float, fee_eur: float) -> float:
    """Expected P2P price (EUR/kWh): midpoint of feed-in and retail minus the network fee."""
    return max((feed_in_eur + retail_eur) / 2.0 - fee_eur, feed_in_eur)


def advise(
    consumption: pd.DataFrame,
    production: pd.DataFrame,
    price_eur_per_kwh: float,
    min_kwh: float = MIN_KWH,
) -> pd.DataFrame:
    """Advice rows (`gold.trading_advice` columns) from consumption and production
    forecasts (`key` = user id, `issued_at`, `ts`, `p10`, `p50`, `p90`, kWh). Users with
    a consumption forecast only get production 0."""
    c = consumption[["key", "issued_at", "ts", "p10", "p50", "p90"]]
    p = production[["key", "ts", "p10", "p50", "p90"]].rename(
        columns={"p10": "g10", "p50": "g50", "p90": "g90"}
    )
    j = c.merge(p, on=["key", "ts"], how="left").fillna({"g10": 0.0, "g50": 0.0, "g90": 0.0})
    s10 = j["g10"] - j["p90"]
    s50 = j["g50"] - j["p50"]
    s90 = j["g90"] - j["p10"]
    action = np.where(s10 > min_kwh, "SELL", np.where(s90 < -min_kwh, "BUY", "HOLD"))
    sigma = np.maximum((s90 - s10) / Z_80, 1e-9)
    conf = norm.cdf(np.abs(s50) / sigma)
    label = np.where(conf >= 0.9, "high", np.where(conf >= 0.7, "medium", "low"))
    rev_lo = np.where(action == "HOLD", 0.0, s10 * price_eur_per_kwh)
    rev_hi = np.where(action == "HOLD", 0.0, s90 * price_eur_per_kwh)
    issued = pd.to_datetime(j["issued_at"], utc=True)
    return pd.DataFrame(
        {
            "user_id": j["key"],
            "issued_at": issued,
            "date": issued.dt.date,
            "ts": j["ts"],
            "production_p50_kwh": j["g50"],
            "consumption_p50_kwh": j["p50"],
            "surplus_p10_kwh": s10,
            "surplus_p50_kwh": s50,
            "surplus_p90_kwh": s90,
            "action": action,
            "price_eur_per_kwh": price_eur_per_kwh,
            "revenue_low_eur": np.round(rev_lo, 4),
            "revenue_high_eur": np.round(rev_hi, 4),
            "confidence": np.round(conf, 4),
            "confidence_label": label,
        }
    )
