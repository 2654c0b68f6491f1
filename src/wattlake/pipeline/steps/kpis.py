"""KPI step: the P2P market's KPIs per user and community and day, and the user profiles.

For the gold plan's dates and the 29 days after them (their rolling 7/30-day means changed),
from the gold flow and trades the gold step just wrote; the 29 days before are read only to
feed the rolling means. `gold.p2p_user_profiles` spans every day of a user, so it is
recomputed whole from the KPI table.
"""

from __future__ import annotations

import datetime as dt
import time

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.market import (
    USER_P2P_SCHEMA,
    daily_community_kpis,
    daily_user_kpis,
    rolling_kpis,
    user_p2p_table,
    user_profiles,
)
from wattlake.pipeline.runner import Run, StepResult
from wattlake.pipeline.steps.gold import GoldPlan

STEP = "kpis"


def build(ctx: Context, run: Run, p: GoldPlan) -> StepResult:
    """Rewrite the user and community KPIs and the user profiles (module doc)."""
    t0 = time.perf_counter()
    res = StepResult(STEP)
    if not p.dates:
        res.seconds = time.perf_counter() - t0
        return res
    engine, tables = ctx.engine, ctx.tables
    span = dt.timedelta(days=max(cat.ROLLING_DAYS) - 1)
    lo, hi = min(p.dates), max(p.dates) + span
    flow = tables.read(cat.GOLD_FLOW_HOURLY)
    flow = flow.filter(flow.date.between(lo - span, hi))
    trades = tables.read(cat.GOLD_P2P_TRADES)
    trades = trades.filter(trades.date.between(lo - span, hi))
    user_p2p = engine.apply_by(trades, "date", user_p2p_table, USER_P2P_SCHEMA)
    daily = engine.materialize(daily_user_kpis(flow, user_p2p, ctx.settings.grid_sell_eur_per_kwh))
    pred = f"date >= '{lo.isoformat()}' AND date <= '{hi.isoformat()}'"
    community = rolling_kpis(daily_community_kpis(daily), key="community_id")
    for spec, expr in (
        (cat.GOLD_USER_KPIS, rolling_kpis(daily)),
        (cat.GOLD_COMMUNITY_KPIS, community),
    ):
        out = tables.replace_where(spec, expr.filter(expr.date.between(lo, hi)), pred)
        res.rows_out += out.rows
    profiles = user_profiles(
        tables.read(cat.GOLD_USER_KPIS),
        tables.read(cat.GOLD_FLOW_HOURLY),
        (run.profile.peak_start_hour, run.profile.peak_end_hour),
    )
    res.rows_out += tables.replace_where(cat.GOLD_USER_PROFILES, profiles, None).rows
    res.message = f"{lo} to {hi}"
    res.seconds = time.perf_counter() - t0
    return res
