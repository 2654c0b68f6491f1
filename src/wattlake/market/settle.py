"""Settlement: eligibility, the energy flow after P2P, and the users' market KPIs.

- Eligibility: only user-intervals whose readings all have quality grade ≥ C (A, B or C)
  take part; ineligible users trade nothing and settle their whole surplus / residual
  demand against the grid (`apply_eligibility`, `hourly_eligibility`).
- Flow: `grid_export = surplus − p2p_export`, `grid_import = residual demand − p2p_import`,
  so per user and interval
  `production + grid_import + p2p_import = consumption + grid_export + p2p_export`
  (`settle_arrays` on the dense arrays, `settle_flow` as an Ibis expression).
- KPIs per user and day (`daily_user_kpis`), per community and day
  (`daily_community_kpis`), and their rolling 7/30-day means (`rolling_kpis`): revenue,
  savings versus grid-only, CO2 saved, self-sufficiency and self-consumption rates.

`run_market` chains build → eligibility → clear → per-user totals for a long flow table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from wattlake.lake.catalog import ROLLING_DAYS, ROLLING_KPIS
from wattlake.market.clearing import ClearingMechanism, PayAsClear, Trades
from wattlake.market.frames import build_inputs, matrix_from_rows, user_p2p_table
from wattlake.market.inputs import MarketConfig, MarketInputs
from wattlake.transforms.gold import hour_start
from wattlake.transforms.parse import round_half_up

ELIGIBLE_GRADES = ("A", "B", "C")
GRADE_ORDER = ("A", "B", "C", "F")
KPI_COLUMNS = ROLLING_KPIS
# Additive daily measures (kWh, EUR, kg) shared by the user and community KPI tables.
KPI_SUMS = (
    "production_kwh",
    "consumption_kwh",
    "self_consumption_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "p2p_import_kwh",
    "p2p_export_kwh",
    "p2p_revenue_eur",
    "p2p_cost_eur",
    "grid_revenue_eur",
    "revenue_eur",
    "savings_eur",
    "co2_saved_kg",
)


# -- eligibility -----------------------------------------------------------------------
def eligible_grades(min_grade: str = "C") -> tuple[str, ...]:
    """Grades at or above `min_grade` (A best, F worst)."""
    if min_grade not in GRADE_ORDER:
        raise ValueError(f"unknown grade '{min_grade}' (known: {GRADE_ORDER})")
    return GRADE_ORDER[: GRADE_ORDER.index(min_grade) + 1]


def hourly_eligibility(
    silver: ir.Table, channels: ir.Table, min_grade: str = "C", hourly: bool = True
) -> ir.Table:
    """Per user and hour (`hour_ts`; per interval `ts` when not `hourly`): `eligible`.

    True when every reading of the user's meters (both channels) in the hour has a grade
    ≥ `min_grade`. Mirrors the user mapping of `gold.energy_flow_hourly` (meters without a
    profile are their own user).
    """
    j = silver.left_join(channels, silver.meter_id == channels.meter_id)
    j = j.mutate(user_id=j.user_id.fill_null(j.meter_id))
    key = hour_start(j.ts) if hourly else j.ts
    j = j.mutate(_key=key, _ok=j.quality_grade.isin(list(eligible_grades(min_grade))))
    out = j.group_by(["user_id", "_key"]).aggregate(eligible=j._ok.all())
    return out.rename({"hour_ts" if hourly else "ts": "_key"})


def apply_eligibility(inputs: MarketInputs, eligible: np.ndarray) -> MarketInputs:
    """Zero the offers and needs of ineligible user-intervals (`eligible`: (T, N) bool)."""
    ok = np.asarray(eligible, dtype=bool)
    if ok.shape != inputs.shape:
        raise ValueError(f"eligible shape {ok.shape} != inputs shape {inputs.shape}")
    return inputs.with_volumes(
        np.where(ok, inputs.offer_kwh, 0.0), np.where(ok, inputs.need_kwh, 0.0)
    )


# -- flow ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SettledArrays:
    """(T, N) kWh after P2P: what each user sold/bought locally and exchanged with the grid."""

    p2p_export_kwh: np.ndarray
    p2p_import_kwh: np.ndarray
    grid_export_kwh: np.ndarray
    grid_import_kwh: np.ndarray


def settle_arrays(
    surplus_kwh: np.ndarray, residual_kwh: np.ndarray, trades: Trades, inputs: MarketInputs
) -> SettledArrays:
    """Grid flows after P2P from the pre-market surplus and residual demand (kWh, (T, N)).

    Ineligible users' original volumes go in `surplus_kwh` / `residual_kwh`: what they did
    not trade goes to the grid. Tiny negative float residues are clipped to 0 by lowering
    the P2P volume, so the balance identity stays exact.
    """
    exp, imp = trades.per_user(inputs)
    exp = np.minimum(exp, surplus_kwh)
    imp = np.minimum(imp, residual_kwh)
    return SettledArrays(exp, imp, surplus_kwh - exp, residual_kwh - imp)


def settle_flow(
    flow: ir.Table,
    user_p2p: ir.Table,
    ts_col: str = "hour_ts",
    decimals: int = 4,
    communities: ir.Table | None = None,
) -> ir.Table:
    """`flow` (gold energy flow, kWh) with P2P columns and grid flows net of P2P.

    user_p2p: per user and interval `ts` with p2p_export_kwh / p2p_import_kwh (see
    `frames.user_p2p_table`); rows without trades get 0. The pre-market `grid_import_kwh`
    is the residual demand and `surplus_kwh` the surplus. Volumes are rounded to
    `decimals` places, P2P first, then grid = pre-market − P2P, so
    production + grid_import + p2p_import = consumption + grid_export + p2p_export holds
    to float precision on every row. `communities` (user_id, community_id), when given,
    adds each user's market community (null for users the market did not see).
    """
    p = user_p2p.group_by(["user_id", "ts"]).aggregate(
        _exp=user_p2p.p2p_export_kwh.sum(), _imp=user_p2p.p2p_import_kwh.sum()
    )
    j = flow.left_join(
        p, (flow.user_id == p.user_id) & (flow[ts_col].cast("timestamp") == p.ts.cast("timestamp"))
    )
    j = j.drop([c for c in j.columns if c.endswith("_right")])
    exp = ibis.least(round_half_up(j._exp.fill_null(0.0), decimals), j.surplus_kwh)
    imp = ibis.least(round_half_up(j._imp.fill_null(0.0), decimals), j.grid_import_kwh)
    j = j.mutate(p2p_export_kwh=exp, p2p_import_kwh=imp)
    j = j.mutate(
        grid_export_kwh=round_half_up(j.surplus_kwh - j.p2p_export_kwh, decimals),
        grid_import_kwh=round_half_up(j.grid_import_kwh - j.p2p_import_kwh, decimals),
    )
    out = j.select([c for c in flow.columns] + ["p2p_import_kwh", "p2p_export_kwh"])
    if communities is None:
        return out
    c = communities.select(_cu=communities.user_id, community_id=communities.community_id)
    out = out.left_join(c, out.user_id == c._cu)
    return out.drop("_cu")


# -- KPIs ------------------------------------------------------------------------------
def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    """num / den, null when den is not positive (a rate without a base)."""
    return ibis.ifelse(den > 0, num / den, ibis.null("float64"))


def daily_user_kpis(
    settled: ir.Table,
    user_p2p: ir.Table,
    grid_sell_eur_per_kwh: float,
    ts_col: str = "hour_ts",
) -> ir.Table:
    """Per user and UTC day: kWh totals (4 dp), EUR, kg CO2 and the two rates.

    revenue_eur = P2P sales + grid export × feed-in (EUR); savings_eur = Σ over bought kWh
    of (retail − price − fee), i.e. what the buyer would have paid the grid minus what it
    paid (EUR); co2_saved_kg credited to the buyer (kg CO2); self_sufficiency =
    (self-consumption + P2P import) / consumption (null without consumption);
    self_consumption_rate = self-consumption / production (null without production).
    """
    f = settled.mutate(date=settled[ts_col].cast("timestamp").date())
    community = (
        {"community_id": f.community_id.max()}
        if "community_id" in f.columns
        else {"community_id": ibis.null("int64")}
    )
    day = f.group_by(["user_id", "date"]).aggregate(
        **community,
        **{c: round_half_up(f[c].sum(), 4) for c in KPI_SUMS if c.endswith("_kwh")},
    )
    u = user_p2p.mutate(date=user_p2p.ts.cast("timestamp").date())
    money = u.group_by(["user_id", "date"]).aggregate(
        p2p_revenue_eur=u.p2p_revenue_eur.sum(),
        p2p_cost_eur=u.p2p_cost_eur.sum(),
        savings_eur=u.savings_eur.sum(),
        co2_saved_kg=u.co2_saved_kg.sum(),
    )
    j = day.left_join(money, (day.user_id == money.user_id) & (day.date == money.date))
    j = j.drop([c for c in j.columns if c.endswith("_right")])
    p2p_rev = j.p2p_revenue_eur.fill_null(0.0)
    grid_rev = j.grid_export_kwh * grid_sell_eur_per_kwh
    j = j.mutate(
        p2p_revenue_eur=round_half_up(p2p_rev, 4),
        p2p_cost_eur=round_half_up(j.p2p_cost_eur.fill_null(0.0), 4),
        grid_revenue_eur=round_half_up(grid_rev, 4),
        revenue_eur=round_half_up(p2p_rev + grid_rev, 4),
        savings_eur=round_half_up(j.savings_eur.fill_null(0.0), 4),
        co2_saved_kg=round_half_up(j.co2_saved_kg.fill_null(0.0), 4),
        self_sufficiency=_ratio(j.self_consumption_kwh + j.p2p_import_kwh, j.consumption_kwh),
        self_consumption_rate=_ratio(j.self_consumption_kwh, j.production_kwh),
    )
    return j.order_by(["user_id", "date"])


def daily_community_kpis(daily: ir.Table) -> ir.Table:
    """Per market community and day, from `daily_user_kpis` rows (kWh, EUR, kg CO2).

    Sums of the users' measures; `members` = users with a row that day. Rates over the
    sums: self_sufficiency = (self-consumption + P2P import) / consumption (the share of
    demand met inside the community), self_consumption_rate = (self-consumption + P2P
    export) / production (the share of production used inside the community); null when
    the denominator is 0. Users without a community are left out.
    """
    d = daily.filter(daily.community_id.notnull())
    c = d.group_by(["community_id", "date"]).aggregate(
        members=d.user_id.nunique(), **{m: round_half_up(d[m].sum(), 4) for m in KPI_SUMS}
    )
    return c.mutate(
        self_sufficiency=_ratio(c.self_consumption_kwh + c.p2p_import_kwh, c.consumption_kwh),
        self_consumption_rate=_ratio(c.self_consumption_kwh + c.p2p_export_kwh, c.production_kwh),
    )


def user_profiles(
    daily: ir.Table, flow: ir.Table, peak_hours: tuple[int, int] = (17, 21)
) -> ir.Table:
    """One row per user over all its days: averages, totals, rates and market role.

    daily: `daily_user_kpis` rows (all dates); flow: the hourly flow (`hour_ts`, UTC) for
    the evening-peak share. avg_daily_* = kWh per day with data; peak_consumption_share =
    consumption in [peak start, peak end) hours / all consumption (null without any);
    rates over the totals as in `daily_user_kpis` (6 dp; sums 4 dp); market_role =
    `seller` (sold more than bought), `buyer`, or `none` (never traded).
    """
    d = daily
    totals = d.group_by("user_id").aggregate(
        community_id=d.community_id.argmax(d.date),
        first_date=d.date.min(),
        last_date=d.date.max(),
        days=d.date.nunique(),
        **{m: d[m].sum() for m in KPI_SUMS},
    )
    hour = flow.hour_ts.cast("timestamp").hour()
    in_peak = (hour >= peak_hours[0]) & (hour < peak_hours[1])
    peak = flow.group_by("user_id").aggregate(
        _peak=flow.consumption_kwh.sum(where=in_peak), _all=flow.consumption_kwh.sum()
    )
    t = totals.left_join(peak, totals.user_id == peak.user_id).drop("user_id_right")
    t = t.mutate(
        avg_daily_consumption_kwh=round_half_up(t.consumption_kwh / t.days, 4),
        avg_daily_production_kwh=round_half_up(t.production_kwh / t.days, 4),
        peak_consumption_share=_ratio(t._peak.fill_null(0.0), t._all),
        self_sufficiency=_ratio(t.self_consumption_kwh + t.p2p_import_kwh, t.consumption_kwh),
        self_consumption_rate=_ratio(t.self_consumption_kwh, t.production_kwh),
        market_role=ibis.cases(
            (t.p2p_export_kwh > t.p2p_import_kwh, "seller"),
            (t.p2p_import_kwh > 0, "buyer"),
            else_="none",
        ),
    )
    rates = ("peak_consumption_share", "self_sufficiency", "self_consumption_rate")
    t = t.mutate(**{m: round_half_up(t[m], 4) for m in KPI_SUMS})
    return t.mutate(**{r: round_half_up(t[r], 6) for r in rates}).drop("_peak", "_all")


def rolling_kpis(
    daily: ir.Table,
    windows_days: Sequence[int] = ROLLING_DAYS,
    kpis: Sequence[str] = KPI_COLUMNS,
    key: str = "user_id",
) -> ir.Table:
    """Add `<kpi>_avg_<n>d`: mean of the daily values over the last `n` calendar days.

    The window is a range over the day number (the day itself and the n − 1 before it),
    per `key` (user_id or community_id); missing days and null values are skipped, not
    counted as zero. Means are rounded to 6 places (sums to 4): the same values whatever
    order an engine adds them in.
    """
    n = daily.date.epoch_days()
    cols = {}
    for days in windows_days:
        w = ibis.window(group_by=daily[key], order_by=n, range=(-(days - 1), 0))
        for k in kpis:
            cols[f"{k}_avg_{days}d"] = round_half_up(daily[k].mean().over(w), 6)
    return daily.mutate(**cols).order_by([key, "date"])


# -- one call --------------------------------------------------------------------------
@dataclass(frozen=True)
class MarketResult:
    """What one market run produced: the inputs, trades, and per-user P2P totals."""

    inputs: MarketInputs
    trades: Trades
    trades_table: pa.Table
    user_p2p: pa.Table
    eligible: np.ndarray

    @property
    def communities(self) -> pa.Table:
        """user_id → community_id of every user the market saw."""
        return pa.table(
            {
                "user_id": pa.array(self.inputs.user_ids.astype(str), pa.string()),
                "community_id": pa.array(self.inputs.community, pa.int64()),
            }
        )


def run_market(
    flow: pa.Table,
    users: pa.Table,
    config: MarketConfig | None = None,
    mechanism: ClearingMechanism | None = None,
    *,
    ts_col: str = "hour_ts",
    eligible_col: str = "eligible",
    prices: pa.Table | None = None,
    communities: Mapping[str, int] | None = None,
) -> MarketResult:
    """Clear a long flow table (see `frames.build_inputs`) with `mechanism` (PayAsClear).

    If `flow` has a boolean `eligible_col`, rows where it is not true do not trade (null
    counts as ineligible). Returns the trades (`clearing.TRADE_SCHEMA`) and the per-user
    totals (`frames.USER_P2P_SCHEMA`) to join back with `settle_flow`. `communities`:
    fixed beforehand (`frames.market_communities`), else assigned over `flow`'s users.
    """
    mech = mechanism or PayAsClear()
    inputs, row_t, row_u = build_inputs(
        flow, users, config, ts_col=ts_col, prices=prices, communities=communities
    )
    if eligible_col in flow.column_names:
        vals = np.asarray(flow[eligible_col].fill_null(False).to_pylist(), dtype=bool)
    else:
        vals = np.ones(flow.num_rows, dtype=bool)
    eligible = matrix_from_rows(vals, row_t, row_u, inputs.shape, fill=False)
    # A user with several rows in one interval is eligible only if all of them are.
    bad = np.zeros(inputs.shape, dtype=bool)
    np.logical_or.at(bad, (row_t, row_u), ~vals)
    eligible &= ~bad
    market_inputs = apply_eligibility(inputs, eligible)
    trades = mech.clear(market_inputs)
    table = trades.to_arrow(market_inputs)
    return MarketResult(market_inputs, trades, table, user_p2p_table(table), eligible)


def clear_market(
    flow: pa.Table,
    users: pa.Table,
    config: MarketConfig,
    mechanism: ClearingMechanism,
    communities: Mapping[str, int],
) -> pa.Table:
    """The trades (`TRADE_SCHEMA`) of `run_market` on `flow` (gold hourly flow with
    `eligible`), its rows sorted first so that no tie-break depends on the order an engine
    returned them in. Intervals clear independently once `communities` are fixed, so the
    flow of each day alone gives that day's trades (an engine may call this per day)."""
    flow = flow.sort_by([("hour_ts", "ascending"), ("user_id", "ascending")])
    return run_market(flow, users, config, mechanism, communities=communities).trades_table
