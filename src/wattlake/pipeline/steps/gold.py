"""Gold step: the dates to recompute, and the gold tables of those dates.

`plan` finds what gold has not applied yet — silver runs not checkpointed under `gold`, and
external ingests (weather, prices, PV) whose marks gold has not seen — and the reading dates
they touch (all dates when the user profiles changed). Every gold step of a run takes that
`GoldPlan`; it is computed from the checkpoints alone, so each step (a DAG task) can compute
it again and gets the same one until `commit` checkpoints the applied runs.

`build` writes, for the plan's dates: `gold.hourly_meter_stats`, `gold.energy_flow_hourly`
(with the P2P market cleared per hour), `gold.daily_energy_balance`, `gold.peak_hours`
(without extreme-weather hours, read from `gold.readings_enriched`) and `gold.p2p_trades`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from functools import partial

import ibis
import pyarrow.compute as pc

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.predicates import sql_dates_in
from wattlake.market import (
    TRADE_SCHEMA,
    USER_P2P_SCHEMA,
    MarketConfig,
    clear_market,
    community_table,
    get_mechanism,
    hourly_eligibility,
    market_communities,
    user_p2p_table,
)
from wattlake.market.settle import settle_flow
from wattlake.pipeline.checkpoints import EXTERNAL_STEP, checkpoint, checkpointed
from wattlake.pipeline.runner import Run, StepResult
from wattlake.transforms import gold
from wattlake.transforms.enrich import exclude_extreme_weather
from wattlake.transforms.users import meter_channels

STEP = "gold"


@dataclass(frozen=True)
class GoldPlan:
    """What gold recomputes in this run."""

    pending_runs: list[str]  # silver runs not applied to gold yet
    external_runs: list[str]  # external ingest runs not applied to gold yet
    users_changed: bool  # new user profiles: every date, every user
    dates: list[dt.date]  # reading dates to recompute (UTC)

    @property
    def empty(self) -> bool:
        return not self.pending_runs and not self.external_runs


def pending_external(lake: Lake, done: set[str]) -> dict[str, list[str]]:
    """External ingest runs not yet applied to gold: `{run_id: [silver batch ids]}`
    (`done`: the run ids gold has checkpointed)."""
    ck = lake.read(cat.OPS_CHECKPOINTS)
    out: dict[str, list[str]] = {}
    for m in ck.filter(pc.equal(ck["step"], EXTERNAL_STEP)).to_pylist():
        if m["run_id"] not in done:
            out.setdefault(m["run_id"], []).append(m["batch_id"])
    return out


def external_dates(ctx: Context, silver: ibis.Table, batch_ids: list[str]) -> list[dt.date]:
    """Dates with silver readings whose weather, price or PV potential rows are in
    `batch_ids`: weather labelled `ts` → the dates of `ts` and `ts − 1 h` (Open-Meteo
    radiation is the mean over the hour before its label), prices and PV potential → the
    date of `ts`."""
    if not batch_ids:
        return []
    engine, tables = ctx.engine, ctx.tables

    def utc_date(ts: ibis.expr.types.TimestampValue) -> ibis.expr.types.DateValue:
        return ts.cast("timestamp").date()

    w = tables.read(cat.SILVER_WEATHER)
    w = w.filter(w._batch_id.isin(batch_ids))
    p = tables.read(cat.SILVER_PRICES)
    p = p.filter(p._batch_id.isin(batch_ids))
    v = tables.read(cat.SILVER_PV_POTENTIAL)
    v = v.filter(v._batch_id.isin(batch_ids))
    touched = ibis.union(
        w.select(date=utc_date(w.ts)),
        w.select(date=utc_date(w.ts - ibis.interval(hours=1))),
        p.select(date=utc_date(p.ts)),
        v.select(date=utc_date(v.ts)),
    ).distinct()
    have = silver.select("date").distinct()
    hit = have.semi_join(touched, have.date == touched.date)
    return sorted(d for d in engine.to_arrow(hit)["date"].to_pylist() if d)


def plan(ctx: Context) -> GoldPlan:
    """The pending silver and external runs and the dates they touch (module doc)."""
    engine, lake = ctx.engine, ctx.lake
    done = checkpointed(lake, STEP)
    ck = lake.read(cat.OPS_CHECKPOINTS)
    silver_runs = {
        (r["run_id"], r["step"]) for r in ck.to_pylist() if r["step"] in ("silver", "silver_users")
    }
    pending = sorted({run for run, _ in silver_runs if run not in done})
    external = pending_external(lake, done)
    if not pending and not external:
        return GoldPlan([], [], False, [])
    users_changed = any(step == "silver_users" and run in pending for run, step in silver_runs)
    silver = ctx.tables.read(cat.SILVER_READINGS)
    if users_changed:
        dates_q = silver.select("date").distinct()
    else:
        quarantine = ctx.tables.read(cat.SILVER_QUARANTINE)
        touched_s = silver.filter(silver._run_id.isin(pending)).select("date")
        touched_q = quarantine.filter(
            quarantine._run_id.isin(pending)
            & quarantine.ts.notnull()
            & ~quarantine.rules.contains("future_timestamp")
        ).select(date=quarantine.ts.cast("timestamp").date())
        dates_q = touched_s.union(touched_q).distinct()
    dates = sorted(d for d in engine.to_arrow(dates_q)["date"].to_pylist() if d)
    batches = sorted({b for bs in external.values() for b in bs})
    dates = sorted({*dates, *external_dates(ctx, silver, batches)})
    return GoldPlan(pending, sorted(external), users_changed, dates)


def _market(
    ctx: Context, silver: ibis.Table, channels: ibis.Table, users: ibis.Table, flow: ibis.Table
) -> tuple[ibis.Table, ibis.Table]:
    """Clear the P2P market on the hourly flow; the flow net of P2P, and the trades.

    Only user-hours whose readings are all grade C or better may trade. The communities
    are fixed from every user of the flow first; the clearing (Python) then runs on the
    engine day by day (`Engine.apply_by`: on a cluster, on the executors)."""
    engine = ctx.engine
    elig = hourly_eligibility(silver, channels)
    flow_in = flow.left_join(elig, (flow.user_id == elig.user_id) & (flow.hour_ts == elig.hour_ts))
    flow_in = flow_in.drop([c for c in flow_in.columns if c.endswith("_right")])
    # The profiles and the users' ids are small (one row per user version).
    user_rows = engine.to_arrow(users).sort_by(
        [("user_id", "ascending"), ("effective_date", "ascending")]
    )
    config = MarketConfig.from_settings(ctx.settings)
    ids = engine.to_arrow(flow_in.select("user_id").distinct())["user_id"].to_pylist()
    communities = market_communities(ids, user_rows, config)
    clear = partial(
        clear_market,
        users=user_rows,
        config=config,
        mechanism=get_mechanism(ctx.settings.market_mechanism),
        communities=communities,
    )
    trades = engine.apply_by(flow_in, "date", clear, TRADE_SCHEMA)
    p2p = engine.apply_by(trades, "date", user_p2p_table, USER_P2P_SCHEMA)
    settled = settle_flow(flow, p2p, communities=ibis.memtable(community_table(communities)))
    return settled, trades


def build(ctx: Context, run: Run, p: GoldPlan) -> StepResult:
    """The gold tables of the plan's dates (module doc)."""
    t0 = time.perf_counter()
    res = StepResult(STEP, message=f"{len(p.dates)} date(s) recomputed")
    if not p.dates:
        res.seconds = time.perf_counter() - t0
        return res
    engine, tables = ctx.engine, ctx.tables
    silver = tables.read(cat.SILVER_READINGS)
    users = tables.read(cat.SILVER_USERS)
    s = silver.filter(silver.date.isin(p.dates))
    channels = meter_channels(users)
    stats = gold.hourly_meter_stats(s)
    # The flow feeds the market, the settled flow and the daily balance: compute once.
    hourly = engine.materialize(gold.energy_flow_hourly(s, channels))
    flow_expr, trades = _market(ctx, s, channels, users, hourly)
    flow = engine.materialize(flow_expr)
    daily = gold.daily_energy_balance(flow)
    enriched = tables.read(cat.GOLD_READINGS_ENRICHED)
    enriched = enriched.filter(enriched.date.isin(p.dates))
    peaks = gold.peak_hours(exclude_extreme_weather(s, enriched), channels)
    pred = sql_dates_in(p.dates)
    written = {
        spec.name: tables.replace_where(spec, data, pred)
        for spec, data in (
            (cat.GOLD_HOURLY_METER, stats),
            (cat.GOLD_FLOW_HOURLY, flow),
            (cat.GOLD_DAILY_BALANCE, daily),
            (cat.GOLD_PEAK_HOURS, peaks),
            (cat.GOLD_P2P_TRADES, trades),
        )
    }
    res.rows_out = sum(w.rows for name, w in written.items() if name != cat.GOLD_P2P_TRADES.name)
    res.message += f"; {written[cat.GOLD_P2P_TRADES.name].rows} P2P trade(s)"
    res.seconds = time.perf_counter() - t0
    return res


def commit(ctx: Context, run: Run, p: GoldPlan) -> None:
    """Checkpoint the plan's silver and external runs under `gold` (they reached gold and
    the warehouse)."""
    checkpoint(ctx.lake, STEP, p.pending_runs, run.run_id, ctx.clock())
    checkpoint(ctx.lake, STEP, p.external_runs, run.run_id, ctx.clock())
