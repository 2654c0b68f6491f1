"""P2P market: clearing edge cases, settlement, eligibility and KPIs."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pyarrow as pa
import pytest

from wattlake.geo import haversine_km
from wattlake.lake.catalog import ROLLING_KPIS
from wattlake.market import (
    MarketConfig,
    PayAsClear,
    ProRata,
    apply_eligibility,
    assign_communities,
    daily_community_kpis,
    daily_user_kpis,
    get_mechanism,
    hourly_eligibility,
    make_inputs,
    rolling_kpis,
    run_market,
    settle_arrays,
    settle_flow,
    user_profiles,
)
from wattlake.market.settle import KPI_SUMS
from wattlake.transforms.users import meter_channels

MECHS = [pytest.param(PayAsClear(), id="pay_as_clear"), pytest.param(ProRata(), id="pro_rata")]
CFG = MarketConfig(
    grid_buy_eur_per_kwh=0.30,
    grid_sell_eur_per_kwh=0.10,
    grid_fee_eur_per_kwh=0.02,
    radius_km=5.0,
    co2_kg_per_kwh=0.2,
)
# ~1.1 km per 0.01° of latitude.
NEAR = 51.50


def lats(*offsets_km: float) -> list[float]:
    return [NEAR + o / 111.2 for o in offsets_km]


def clear(mech, offer, need, lat_km, config=CFG, **kw):
    inp = make_inputs(offer, need, lats(*lat_km), [0.0] * len(lat_km), config, **kw)
    return inp, mech.clear(inp)


def test_haversine_known_distance() -> None:
    # London (51.5074, -0.1278) → Paris (48.8566, 2.3522): ~343.5 km.
    d = float(haversine_km(51.5074, -0.1278, 48.8566, 2.3522))
    assert d == pytest.approx(343.5, abs=1.0)
    assert float(haversine_km(1.0, 2.0, 1.0, 2.0)) == 0.0


@pytest.mark.parametrize(
    ("offer", "need", "pos_km", "expected_total"),
    [
        pytest.param([[0, 0, 0]], [[1, 2, 0]], [0, 1, 2], 0.0, id="no_sellers"),
        pytest.param([[1, 2, 0]], [[0, 0, 0]], [0, 1, 2], 0.0, id="no_buyers"),
        pytest.param([[2, 0, 0]], [[0, 1, 1]], [0, 1, 2], 2.0, id="exactly_balanced"),
        pytest.param(
            [[3, 0, 0, 0]], [[0, 0.5, 0.5, 0.5]], [0, 1, 2, 3], 1.5, id="one_seller_many_buyers"
        ),
        pytest.param([[1, 0]], [[0, 1]], [0, 50], 0.0, id="out_of_radius"),
        pytest.param([[1, 0]], [[0, 1]], [0, 5.0], 1.0, id="radius_inclusive"),
        pytest.param([[0.5, 0.5, 0]], [[0, 0, 3]], [0, 1, 2], 1.0, id="many_sellers_one_buyer"),
    ],
)
@pytest.mark.parametrize("mech", MECHS)
def test_clearing_edge_cases(mech, offer, need, pos_km, expected_total) -> None:
    inp, tr = clear(mech, offer, need, pos_km)
    assert tr.energy_kwh.sum() == pytest.approx(expected_total, abs=1e-12)
    exp, imp = tr.per_user(inp)
    assert (exp <= np.asarray(offer) + 1e-12).all()
    assert (imp <= np.asarray(need) + 1e-12).all()
    assert (tr.distance_km <= CFG.radius_km).all()
    assert (tr.seller_idx != tr.buyer_idx).all()


def test_exact_radius_in_km() -> None:
    inp = make_inputs([[1, 0]], [[0, 1]], [51.5, 51.5 + 4.9 / 111.2], [0, 0], CFG)
    assert PayAsClear().clear(inp).distance_km[0] == pytest.approx(4.9, abs=0.02)


@pytest.mark.parametrize(
    ("buy", "sell", "fee", "pac_trades", "pr_trades"),
    [
        pytest.param(0.2, 0.2, 0.0, False, False, id="zero_spread"),
        pytest.param(0.3, 0.1, 0.0, True, True, id="no_fee"),
        pytest.param(0.3, 0.1, 0.15, True, False, id="fee_above_half_spread"),
        pytest.param(0.3, 0.1, 0.2, False, False, id="fee_equals_spread"),
        pytest.param(0.0, 0.0, 0.0, False, False, id="zero_prices"),
    ],
)
def test_market_open_by_prices(buy, sell, fee, pac_trades, pr_trades) -> None:
    cfg = MarketConfig(
        grid_buy_eur_per_kwh=buy, grid_sell_eur_per_kwh=sell, grid_fee_eur_per_kwh=fee
    )
    for mech, expect in ((PayAsClear(), pac_trades), (ProRata(), pr_trades)):
        _, tr = clear(mech, [[1, 0]], [[0, 1]], [0, 1], cfg)
        assert (len(tr) > 0) is expect, mech.name
        assert ((tr.price_eur_per_kwh >= sell) & (tr.price_eur_per_kwh <= buy)).all()


def test_prices_documented_rules() -> None:
    _, pac = clear(PayAsClear(), [[1, 0]], [[0, 1]], [0, 1])
    _, pr = clear(ProRata(), [[1, 0]], [[0, 1]], [0, 1])
    assert pac.price_eur_per_kwh[0] == pytest.approx((0.10 + 0.30 - 0.02) / 2)
    assert pr.price_eur_per_kwh[0] == pytest.approx((0.10 + 0.30) / 2)


def test_pay_as_clear_nearest_sellers_first() -> None:
    # Buyer at 0 km needs 1 kWh; sellers at 1 km and 3 km offer 1 kWh each.
    inp, tr = clear(PayAsClear(), [[0, 1, 1]], [[1, 0, 0]], [0, 1, 3])
    exp, _ = tr.per_user(inp)
    assert exp[0].tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_pro_rata_shares_by_offer() -> None:
    inp, tr = clear(ProRata(), [[0, 1, 3]], [[2, 0, 0]], [0, 1, 3])
    exp, imp = tr.per_user(inp)
    assert exp[0].tolist() == pytest.approx([0.0, 0.5, 1.5])
    assert imp[0, 0] == pytest.approx(2.0)


def test_trade_money_and_co2() -> None:
    inp, tr = clear(PayAsClear(), [[2, 0]], [[0, 2]], [0, 1])
    row = tr.to_arrow(inp).to_pylist()[0]
    price = (0.10 + 0.28) / 2
    assert row["energy_kwh"] == pytest.approx(2.0)
    assert row["amount_eur"] == pytest.approx(2 * price)
    assert row["grid_fee_eur"] == pytest.approx(0.04)
    assert row["co2_saved_kg"] == pytest.approx(0.4)
    assert row["buyer_savings_eur"] == pytest.approx(2 * (0.30 - price - 0.02))
    assert row["seller_premium_eur"] == pytest.approx(2 * (price - 0.10))
    assert row["mechanism"] == "pay_as_clear"
    assert row["ts"].tzinfo is not None


def test_communities_are_cliques_within_radius() -> None:
    # A chain 0, 4, 8 km: 0–4 and 4–8 are within 5 km, 0–8 is not.
    comm = assign_communities(np.array(lats(0, 4, 8)), np.zeros(3), 5.0)
    assert comm[0] == comm[1] != comm[2]
    assert len(set(assign_communities(np.array(lats(0, 1, 2)), np.zeros(3), 5.0))) == 1
    nan = assign_communities(np.array([np.nan, NEAR]), np.array([np.nan, 0.0]), 5.0)
    assert nan[0] != nan[1]


def test_missing_coordinates_trade_nothing() -> None:
    inp = make_inputs([[1, 0]], [[0, 1]], [np.nan, NEAR], [np.nan, 0.0], CFG)
    assert len(PayAsClear().clear(inp)) == 0


@pytest.mark.parametrize("mech", MECHS)
def test_ineligible_users_settle_against_grid(mech) -> None:
    offer = np.array([[1.0, 0, 0]])
    need = np.array([[0, 1.0, 1.0]])
    inp = make_inputs(offer, need, lats(0, 1, 2), [0, 0, 0], CFG)
    eligible = np.array([[True, False, True]])
    market = apply_eligibility(inp, eligible)
    tr = mech.clear(market)
    _, imp = tr.per_user(market)
    assert imp[0, 1] == 0.0
    assert imp[0, 2] == pytest.approx(1.0)
    s = settle_arrays(offer, need, tr, market)
    assert s.grid_import_kwh[0].tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert s.grid_export_kwh[0].tolist() == pytest.approx([0.0, 0.0, 0.0])


def test_invalid_inputs_rejected() -> None:
    with pytest.raises(ValueError):
        make_inputs([[-1.0]], [[0.0]], [NEAR], [0.0])
    with pytest.raises(ValueError):
        MarketConfig(grid_buy_eur_per_kwh=0.1, grid_sell_eur_per_kwh=0.2)
    with pytest.raises(ValueError):
        get_mechanism("vickrey")


def test_per_interval_prices() -> None:
    inp = make_inputs(
        [[1, 0], [1, 0]],
        [[0, 1], [0, 1]],
        lats(0, 1),
        [0, 0],
        CFG,
        grid_buy_eur_per_kwh=np.array([0.30, 0.10]),
        grid_sell_eur_per_kwh=np.array([0.10, 0.10]),
    )
    tr = PayAsClear().clear(inp)
    assert tr.t_idx.tolist() == [0]


# -- long tables: run_market, settle_flow, KPIs ----------------------------------------
T0 = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)


def _flow() -> pa.Table:
    """Two hours, three users: s sells, b1/b2 buy; b2 is ineligible in hour 2."""
    rows = []
    for h in range(2):
        ts = T0 + dt.timedelta(hours=h)
        for uid, p, c in (("s", 3.0, 1.0), ("b1", 0.0, 1.5), ("b2", 0.0, 1.0)):
            self_c = min(p, c)
            rows.append(
                {
                    "user_id": uid,
                    "hour_ts": ts,
                    "date": ts.date(),
                    "production_kwh": p,
                    "consumption_kwh": c,
                    "self_consumption_kwh": self_c,
                    "surplus_kwh": p - self_c,
                    "grid_import_kwh": c - self_c,
                    "grid_export_kwh": p - self_c,
                    "intervals": 2,
                    "eligible": not (uid == "b2" and h == 1),
                }
            )
    return pa.Table.from_pylist(rows)


def _users() -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "user_id": "s",
                "latitude": NEAR,
                "longitude": 0.0,
                "effective_date": dt.date(2024, 1, 1),
            },
            {
                "user_id": "b1",
                "latitude": 40.0,
                "longitude": 0.0,
                "effective_date": dt.date(2024, 1, 1),
            },
            {
                "user_id": "b1",
                "latitude": NEAR + 0.01,
                "longitude": 0.0,
                "effective_date": dt.date(2024, 3, 1),
            },
            {
                "user_id": "b2",
                "latitude": NEAR + 0.02,
                "longitude": 0.0,
                "effective_date": dt.date(2024, 1, 1),
            },
        ]
    )


def test_run_market_settle_flow_and_kpis() -> None:
    flow = _flow()
    res = run_market(flow, _users(), CFG, PayAsClear())
    trades = res.trades_table
    # Hour 1: s has 2 kWh, b1 needs 1.5 (nearest, latest location), b2 gets 0.5.
    # Hour 2: b2 ineligible → b1 gets 1.5, 0.5 kWh goes to the grid.
    assert trades["energy_kwh"].to_pylist() == pytest.approx([1.5, 0.5, 1.5])
    assert trades["buyer_id"].to_pylist() == ["b1", "b2", "b1"]

    settled = settle_flow(ibis.memtable(flow.drop(["eligible"])), ibis.memtable(res.user_p2p))
    out = settled.order_by(["hour_ts", "user_id"]).to_pyarrow().to_pylist()
    for r in out:
        lhs = r["production_kwh"] + r["grid_import_kwh"] + r["p2p_import_kwh"]
        rhs = r["consumption_kwh"] + r["grid_export_kwh"] + r["p2p_export_kwh"]
        assert lhs == pytest.approx(rhs, abs=1e-9)
        assert min(r["grid_import_kwh"], r["grid_export_kwh"]) >= 0
    by = {(r["hour_ts"].hour, r["user_id"]): r for r in out}
    assert by[(13, "s")]["grid_export_kwh"] == pytest.approx(0.5)
    assert by[(13, "b2")]["grid_import_kwh"] == pytest.approx(1.0)
    assert by[(12, "b2")]["p2p_import_kwh"] == pytest.approx(0.5)

    daily = daily_user_kpis(settled, ibis.memtable(res.user_p2p), CFG.grid_sell_eur_per_kwh)
    k = {r["user_id"]: r for r in daily.to_pyarrow().to_pylist()}
    price = (0.10 + 0.28) / 2
    assert k["s"]["revenue_eur"] == pytest.approx(round(3.5 * price + 0.5 * 0.10, 4))
    assert k["b1"]["savings_eur"] == pytest.approx(round(3.0 * (0.30 - price - 0.02), 4))
    assert k["b1"]["co2_saved_kg"] == pytest.approx(0.6)
    assert k["b1"]["self_sufficiency"] == pytest.approx(1.0)
    assert k["b2"]["self_sufficiency"] == pytest.approx(0.25)
    assert k["s"]["self_consumption_rate"] == pytest.approx(1 / 3)
    assert k["b1"]["self_consumption_rate"] is None


def test_rolling_kpis_calendar_windows() -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in (0, 1, 2, 10)]
    daily = ibis.memtable(
        {
            "user_id": ["u"] * 4,
            "date": days,
            "revenue_eur": [1.0, 2.0, 3.0, 10.0],
            "savings_eur": [0.0] * 4,
            "co2_saved_kg": [0.0] * 4,
            "self_sufficiency": [0.5, None, 1.0, 0.0],
            "self_consumption_rate": [1.0] * 4,
        }
    )
    out = rolling_kpis(daily).to_pyarrow().to_pylist()
    assert [r["revenue_eur_avg_7d"] for r in out] == pytest.approx([1.0, 1.5, 2.0, 10.0])
    assert [r["revenue_eur_avg_30d"] for r in out] == pytest.approx([1.0, 1.5, 2.0, 4.0])
    assert out[2]["self_sufficiency_avg_7d"] == pytest.approx(0.75)


def test_hourly_eligibility_from_grades() -> None:
    ts = [T0, T0 + dt.timedelta(minutes=30), T0, T0 + dt.timedelta(minutes=30)]
    silver = ibis.memtable(
        {
            "meter_id": ["m1", "m1", "pv1", "pv1"],
            "ts": ts,
            "quality_grade": ["A", "C", "B", "F"],
        }
    )
    users = ibis.memtable(
        {"user_id": ["u1", "u2"], "meter_id": ["m1", "m2"], "pv_meter_id": ["", "pv1"]}
    )
    out = hourly_eligibility(silver, meter_channels(users)).to_pyarrow().to_pylist()
    assert {r["user_id"]: r["eligible"] for r in out} == {"u1": True, "u2": False}
    per_interval = hourly_eligibility(silver, meter_channels(users), hourly=False)
    assert per_interval.count().to_pyarrow().as_py() == 4


def _daily(rows: list[dict[str, object]]) -> ibis.Table:
    """daily_user_kpis-shaped rows: unspecified measures are 0."""
    cols = ("user_id", "date", "community_id", *KPI_SUMS)
    full = [{c: r.get(c, 0.0) for c in cols} for r in rows]
    for r in full:
        r.update(self_sufficiency=None, self_consumption_rate=None)
    return ibis.memtable(full)


def test_community_kpis_sum_members_and_rate_over_sums() -> None:
    d1 = dt.date(2024, 3, 1)
    daily = _daily(
        [
            {
                "user_id": "s",
                "date": d1,
                "community_id": 0,
                "production_kwh": 4.0,
                "self_consumption_kwh": 1.0,
                "consumption_kwh": 1.0,
                "p2p_export_kwh": 2.0,
                "revenue_eur": 0.5,
            },
            {
                "user_id": "b",
                "date": d1,
                "community_id": 0,
                "consumption_kwh": 3.0,
                "p2p_import_kwh": 2.0,
                "savings_eur": 0.2,
            },
            {"user_id": "x", "date": d1, "community_id": None, "consumption_kwh": 9.0},
        ]
    )
    out = daily_community_kpis(daily).to_pyarrow().to_pylist()
    assert len(out) == 1  # users without a community are left out
    c = out[0]
    assert (c["members"], c["consumption_kwh"], c["revenue_eur"]) == (2, 4.0, 0.5)
    assert c["self_sufficiency"] == pytest.approx((1.0 + 2.0) / 4.0)
    assert c["self_consumption_rate"] == pytest.approx((1.0 + 2.0) / 4.0)
    rolled = rolling_kpis(daily_community_kpis(daily), key="community_id").to_pyarrow()
    assert all(f"{k}_avg_7d" in rolled.column_names for k in ROLLING_KPIS)


def test_user_profiles_totals_peak_share_and_role() -> None:
    d1, d2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
    daily = _daily(
        [
            {
                "user_id": "s",
                "date": d1,
                "community_id": 0,
                "consumption_kwh": 2.0,
                "production_kwh": 5.0,
                "p2p_export_kwh": 1.5,
                "self_consumption_kwh": 1.0,
            },
            {"user_id": "s", "date": d2, "community_id": 3, "consumption_kwh": 4.0},
            {
                "user_id": "b",
                "date": d1,
                "community_id": 0,
                "consumption_kwh": 3.0,
                "p2p_import_kwh": 1.5,
            },
            {"user_id": "c", "date": d1, "community_id": 1, "consumption_kwh": 1.0},
        ]
    )
    t0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    flow = ibis.memtable(
        {
            "user_id": ["s", "s", "b", "c"],
            "hour_ts": [t0.replace(hour=18), t0.replace(hour=9), t0.replace(hour=20), t0],
            "consumption_kwh": [1.5, 4.5, 3.0, 0.0],
        }
    )
    out = {r["user_id"]: r for r in user_profiles(daily, flow).to_pyarrow().to_pylist()}
    s = out["s"]
    assert (s["days"], s["first_date"], s["last_date"], s["community_id"]) == (2, d1, d2, 3)
    assert s["avg_daily_consumption_kwh"] == 3.0 and s["avg_daily_production_kwh"] == 2.5
    assert s["peak_consumption_share"] == 0.25  # 1.5 of 6 kWh in 17:00-21:00
    assert s["self_consumption_rate"] == 0.2 and s["market_role"] == "seller"
    assert out["b"]["market_role"] == "buyer" and out["b"]["peak_consumption_share"] == 1.0
    assert out["b"]["self_sufficiency"] == 0.5
    assert out["c"]["market_role"] == "none" and out["c"]["peak_consumption_share"] is None
