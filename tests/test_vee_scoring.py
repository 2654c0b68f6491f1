"""Quality tier from the score (`scoring.quality_tier`), per profile."""

from __future__ import annotations

import ibis
import pytest

from wattlake.engine import Engine
from wattlake.transforms.vee.profile import get_profile
from wattlake.transforms.vee.scoring import quality_tier


@pytest.mark.parametrize(
    ("profile", "score", "tier"),
    [
        pytest.param("greenstream", 100, "premium", id="perfect"),
        pytest.param("greenstream", 90, "premium", id="exactly_ml_min_score"),
        pytest.param("greenstream", 89, "standard", id="just_below_ml"),
        pytest.param("greenstream", 70, "standard", id="exactly_quarantine_below"),
        pytest.param("greenstream", 69, "below_threshold", id="released_below_70"),
        pytest.param("greenstream", 0, "below_threshold", id="zero"),
        pytest.param("greenstream-additive", 60, "standard", id="additive_quarantine_below_60"),
        pytest.param("greenstream-additive", 59, "below_threshold", id="additive_below_60"),
    ],
)
def test_quality_tier(duck: Engine, profile: str, score: int, tier: str) -> None:
    t = duck.materialize(ibis.memtable({"s": [score]}))
    got = duck.to_arrow(t.select(v=quality_tier(t.s, get_profile(profile))))["v"].to_pylist()
    assert got == [tier]
