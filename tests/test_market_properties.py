"""Property-based tests of the clearing invariants for every mechanism (hypothesis).

What must hold, by design (see `wattlake.market.clearing`):
- energy is neither created nor lost: per interval Σ sold = Σ bought = Σ trade volumes;
- per user and interval: sold ≤ offer, bought ≤ need, volumes ≥ 0;
- balance identity after settlement, per user and interval:
  production + grid_import + p2p_import = consumption + grid_export + p2p_export;
- grid_sell ≤ price ≤ grid_buy, and both sides strictly gain (price > grid_sell,
  price + fee < grid_buy);
- no pair farther apart than the radius trades, and nobody trades with itself;
- ineligible users trade nothing;
- both mechanisms trade min(ΣS, ΣD) per community and interval when both are open
  (fee < spread / 2); so with a radius covering everyone they agree on the total volume,
  which is then min(Σ offers, Σ needs) per interval.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wattlake.geo import haversine_km
from wattlake.market import (
    MarketConfig,
    PayAsClear,
    ProRata,
    apply_eligibility,
    make_inputs,
    settle_arrays,
)
from wattlake.market.clearing import community_totals

MECHS = [pytest.param(PayAsClear(), id="pay_as_clear"), pytest.param(ProRata(), id="pro_rata")]
TOL = 1e-9
SETTINGS = settings(max_examples=200, deadline=None)

kwh = st.floats(min_value=0.0, max_value=5.0, allow_nan=False, allow_subnormal=False)


@st.composite
def markets(draw: st.DrawFn, radius: float | None = None) -> dict:
    """Production/consumption per interval × user, positions, tariffs, fee, radius."""
    t_n = draw(st.integers(1, 4))
    u_n = draw(st.integers(1, 7))
    sparse = st.one_of(st.just(0.0), kwh)
    prod = draw(hnp.arrays(float, (t_n, u_n), elements=sparse))
    cons = draw(hnp.arrays(float, (t_n, u_n), elements=sparse))
    # Users within ~±10 km of a point in southern England.
    lat = 51.5 + draw(hnp.arrays(float, u_n, elements=st.floats(-0.09, 0.09)))
    lon = -0.1 + draw(hnp.arrays(float, u_n, elements=st.floats(-0.14, 0.14)))
    sell = draw(st.floats(0.0, 0.3))
    buy = sell + draw(st.floats(0.0, 0.3))
    fee = draw(st.floats(0.0, 0.3))
    eligible = draw(hnp.arrays(bool, (t_n, u_n)))
    return {
        "prod": prod,
        "cons": cons,
        "lat": lat,
        "lon": lon,
        "eligible": eligible,
        "config": MarketConfig(
            grid_buy_eur_per_kwh=buy,
            grid_sell_eur_per_kwh=sell,
            grid_fee_eur_per_kwh=fee,
            radius_km=draw(st.floats(0.0, 20.0)) if radius is None else radius,
        ),
    }


def _setup(m: dict):
    prod, cons = m["prod"], m["cons"]
    self_c = np.minimum(prod, cons)
    surplus, residual = prod - self_c, cons - self_c
    inputs = make_inputs(surplus, residual, m["lat"], m["lon"], m["config"])
    return prod, cons, self_c, surplus, residual, inputs


@pytest.mark.parametrize("mech", MECHS)
@SETTINGS
@given(m=markets())
def test_clearing_invariants(mech, m: dict) -> None:
    prod, cons, _, surplus, residual, inputs = _setup(m)
    market = apply_eligibility(inputs, m["eligible"])
    tr = mech.clear(market)
    cfg = m["config"]

    assert (tr.energy_kwh > 0).all()
    exp, imp = tr.per_user(market)
    # Conservation per interval.
    np.testing.assert_allclose(exp.sum(axis=1), imp.sum(axis=1), atol=TOL)
    # Per-user limits, eligibility.
    assert (exp <= surplus * m["eligible"] + TOL).all()
    assert (imp <= residual * m["eligible"] + TOL).all()
    # Prices bounded, both sides gain.
    if len(tr):
        buy = market.grid_buy_eur_per_kwh[tr.t_idx]
        sell = market.grid_sell_eur_per_kwh[tr.t_idx]
        assert (tr.price_eur_per_kwh >= sell).all()
        assert (tr.price_eur_per_kwh <= buy).all()
        assert (tr.price_eur_per_kwh > sell).all()
        assert (tr.price_eur_per_kwh + cfg.grid_fee_eur_per_kwh < buy).all()
    # Geography.
    assert (tr.seller_idx != tr.buyer_idx).all()
    d = haversine_km(
        market.latitude[tr.seller_idx],
        market.longitude[tr.seller_idx],
        market.latitude[tr.buyer_idx],
        market.longitude[tr.buyer_idx],
    )
    assert (d <= cfg.radius_km).all()
    np.testing.assert_allclose(tr.distance_km, d)

    # Balance identity after settlement (ineligible volumes settle with the grid).
    s = settle_arrays(surplus, residual, tr, market)
    assert (s.grid_export_kwh >= 0).all() and (s.grid_import_kwh >= 0).all()
    lhs = prod + s.grid_import_kwh + s.p2p_import_kwh
    rhs = cons + s.grid_export_kwh + s.p2p_export_kwh
    np.testing.assert_allclose(lhs, rhs, atol=TOL)


@pytest.mark.parametrize("mech", MECHS)
@SETTINGS
@given(m=markets())
def test_volume_is_min_supply_demand_per_community_when_open(mech, m: dict) -> None:
    *_, inputs = _setup(m)
    _, is_open = mech.prices(inputs)
    tr = mech.clear(inputs)
    s_c = community_totals(inputs, inputs.offer_kwh)
    d_c = community_totals(inputs, inputs.need_kwh)
    expected = np.where(is_open[:, None], np.minimum(s_c, d_c), 0.0).sum(axis=1)
    traded = np.bincount(tr.t_idx, weights=tr.energy_kwh, minlength=inputs.shape[0])
    np.testing.assert_allclose(traded, expected, atol=1e-8)


@SETTINGS
@given(m=markets(radius=1000.0))
def test_mechanisms_agree_on_volume_when_radius_covers_everyone(m: dict) -> None:
    *_, inputs = _setup(m)
    assert len(set(inputs.community.tolist())) == 1
    pac, pr = PayAsClear().clear(inputs), ProRata().clear(inputs)
    t_n = inputs.shape[0]
    v_pac = np.bincount(pac.t_idx, weights=pac.energy_kwh, minlength=t_n)
    v_pr = np.bincount(pr.t_idx, weights=pr.energy_kwh, minlength=t_n)
    cfg = m["config"]
    spread = cfg.grid_buy_eur_per_kwh - cfg.grid_sell_eur_per_kwh
    both_open = cfg.grid_fee_eur_per_kwh < spread / 2 and spread > 0
    if both_open:
        np.testing.assert_allclose(v_pac, v_pr, atol=1e-8)
        expected = np.minimum(inputs.offer_kwh.sum(axis=1), inputs.need_kwh.sum(axis=1))
        np.testing.assert_allclose(v_pac, expected, atol=1e-8)
    else:
        # ProRata is closed; PayAsClear trades at most as much as ProRata would.
        assert v_pr.sum() == 0.0
        assert (v_pac >= v_pr - 1e-12).all()


@pytest.mark.parametrize("mech", MECHS)
@SETTINGS
@given(m=markets())
def test_clearing_is_deterministic(mech, m: dict) -> None:
    *_, inputs = _setup(m)
    a, b = mech.clear(inputs), mech.clear(inputs.with_volumes(inputs.offer_kwh, inputs.need_kwh))
    np.testing.assert_array_equal(a.energy_kwh, b.energy_kwh)
    np.testing.assert_array_equal(a.seller_idx, b.seller_idx)
    np.testing.assert_array_equal(a.buyer_idx, b.buyer_idx)
