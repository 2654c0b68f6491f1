"""The market cleared day by day (as Spark runs it, one group per date on the executors)
gives the same trades as one clearing of every day, once the communities are fixed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from wattlake.lake.spec import UTC_TS
from wattlake.market import (
    MECHANISMS,
    MarketConfig,
    clear_market,
    market_communities,
    run_market,
    user_p2p_table,
)

CFG = MarketConfig(radius_km=2.0)


def _flow(users: int, days: int, seed: int, missing: float) -> pa.Table:
    """Hourly flow of `users` over `days`; a share `missing` of user-days has no rows (a
    meter that did not report), so each day sees a different set of users."""
    rng = np.random.default_rng(seed)
    rows = []
    start = dt.datetime(2024, 6, 1)
    for d in range(days):
        for u in range(users):
            if rng.random() < missing:
                continue
            for h in range(24):
                ts = start + dt.timedelta(days=d, hours=h)
                prod = rng.exponential(0.6) if 7 <= h <= 18 and u % 3 == 0 else 0.0
                cons = rng.exponential(0.4)
                self_c = min(prod, cons)
                rows.append(
                    {
                        "user_id": f"u{u:03d}",
                        "hour_ts": ts,
                        "date": ts.date(),
                        "surplus_kwh": prod - self_c,
                        "grid_import_kwh": cons - self_c,
                        "eligible": bool(rng.random() > 0.1),
                    }
                )
    t = pa.Table.from_pylist(rows)
    return t.set_column(1, "hour_ts", t["hour_ts"].cast(pa.timestamp("us")).cast(UTC_TS))


def _users(users: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed + 1)
    return pa.table(
        {
            "user_id": [f"u{u:03d}" for u in range(users)],
            "effective_date": [dt.date(2024, 1, 1)] * users,
            "latitude": 51.5 + rng.normal(0, 0.01, users),
            "longitude": -0.1 + rng.normal(0, 0.015, users),
        }
    )


def _sorted(t: pa.Table) -> list[dict[str, object]]:
    return sorted(t.to_pylist(), key=lambda r: (r["ts"], r["seller_id"], r["buyer_id"]))


@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
@pytest.mark.parametrize(
    ("users", "missing"),
    [
        pytest.param(30, 0.0, id="every_user_every_day"),
        pytest.param(30, 0.3, id="users_missing_on_some_days"),
    ],
)
def test_day_by_day_equals_all_at_once(mechanism: str, users: int, missing: float) -> None:
    flow, prof = _flow(users, 4, seed=3, missing=missing), _users(users, seed=3)
    ids = pc.unique(flow["user_id"]).to_pylist()
    communities = market_communities(ids, prof, CFG)
    mech = MECHANISMS[mechanism]
    whole = clear_market(flow, prof, CFG, mech, communities)
    assert whole.num_rows > 100  # a market that trades
    by_day = [
        clear_market(flow.filter(pc.equal(flow["date"], d)), prof, CFG, mech, communities)
        for d in pc.unique(flow["date"]).to_pylist()
    ]
    parts = pa.concat_tables(by_day)
    assert _sorted(parts) == _sorted(whole)
    # The per-user totals follow (what the gold step settles the flow with).
    assert user_p2p_table(parts).to_pylist() == user_p2p_table(whole).to_pylist()


def test_fixed_communities_are_what_one_clearing_assigns() -> None:
    flow, prof = _flow(30, 2, seed=5, missing=0.2), _users(30, seed=5)
    ids = pc.unique(flow["user_id"]).to_pylist()
    free = run_market(flow, prof, CFG).communities.to_pylist()
    assert {r["user_id"]: r["community_id"] for r in free} == market_communities(ids, prof, CFG)


def test_a_day_alone_would_partition_differently() -> None:
    """Why the communities are fixed first: without them, a day's missing users can change
    the greedy partition of the others (so the check above is not vacuous)."""
    flow, prof = _flow(30, 4, seed=3, missing=0.3), _users(30, seed=3)
    ids = pc.unique(flow["user_id"]).to_pylist()
    fixed = market_communities(ids, prof, CFG)

    def groups(assignment: dict[str, int]) -> set[frozenset[str]]:
        out: dict[int, set[str]] = {}
        for user, community in assignment.items():
            out.setdefault(community, set()).add(user)
        return {frozenset(g) for g in out.values()}

    changed = 0
    for d in pc.unique(flow["date"]).to_pylist():
        day = flow.filter(pc.equal(flow["date"], d))
        alone = {
            r["user_id"]: r["community_id"]
            for r in run_market(day, prof, CFG).communities.to_pylist()
        }
        changed += groups(alone) != groups({u: fixed[u] for u in alone})
    assert changed > 0


def test_community_ids_must_cover_every_user() -> None:
    flow, prof = _flow(5, 1, seed=1, missing=0.0), _users(5, seed=1)
    with pytest.raises(KeyError):
        clear_market(flow, prof, CFG, MECHANISMS["pay_as_clear"], {"u000": 0})
