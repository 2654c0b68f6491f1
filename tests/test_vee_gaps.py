"""Gap detection and linear interpolation edge cases, per profile."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

from wattlake.engine import Engine
from wattlake.transforms.silver import estimated_rows, gaps
from wattlake.transforms.vee.profile import get_profile

T0 = dt.datetime(2024, 3, 4)


def readings(present: list[int], minutes: int = 30, kw: float | None = None) -> pa.Table:
    """One meter with readings at interval indices `present` (kW = index / 10 unless fixed)."""
    return pa.table(
        {
            "meter_id": pa.array(["m1"] * len(present), pa.string()),
            "ts": pa.array(
                [T0 + dt.timedelta(minutes=minutes * i) for i in present], pa.timestamp("us")
            ),
            "kw": pa.array([kw if kw is not None else i / 10 for i in present], pa.float64()),
            "interval_minutes": pa.array([minutes] * len(present), pa.int32()),
        }
    )


def run_gaps(duck: Engine, table: pa.Table, profile: str = "greenstream") -> tuple[list, list]:
    p = get_profile(profile)
    g = gaps(ibis.memtable(table), p, "r1")
    est = estimated_rows(g, p, [], "r1")
    return duck.to_arrow(g).to_pylist(), duck.to_arrow(est).to_pylist()


@pytest.mark.parametrize(
    ("present", "minutes", "profile", "klass", "n_estimated"),
    [
        pytest.param([0, 2], 30, "greenstream", "interpolated", 1, id="one_missing_interval"),
        pytest.param([0, 8], 30, "greenstream", "interpolated", 7, id="gap_3h30_interpolated"),
        pytest.param([0, 9], 30, "greenstream", "missing_short", 0, id="gap_exactly_4h"),
        pytest.param([0, 48], 30, "greenstream", "missing_short", 0, id="gap_23h30"),
        pytest.param([0, 49], 30, "greenstream", "missing_extended", 0, id="gap_exactly_24h"),
        pytest.param([0, 16], 15, "greenstream", "interpolated", 15, id="15min_gap_3h45"),
        pytest.param([0, 17], 15, "greenstream", "missing_short", 0, id="15min_gap_exactly_4h"),
        pytest.param([0, 5], 30, "california", "interpolated", 4, id="california_exactly_2h"),
        pytest.param([0, 6], 30, "california", "missing_short", 0, id="california_2h30"),
        pytest.param([0, 3], 30, "ontario", "interpolated", 2, id="ontario_exactly_1h"),
        pytest.param([0, 4], 30, "ontario", "missing_short", 0, id="ontario_1h30"),
    ],
)
def test_gap_classes(
    duck: Engine, present: list[int], minutes: int, profile: str, klass: str, n_estimated: int
) -> None:
    g, est = run_gaps(duck, readings(present, minutes), profile)
    assert len(g) == 1
    assert g[0]["gap_class"] == klass
    assert g[0]["missing_intervals"] == present[1] - 1
    assert len(est) == n_estimated


def test_linear_values_and_provenance(duck: Engine) -> None:
    _, est = run_gaps(duck, readings([0, 4], kw=None))  # kW 0.0 → 0.4 over 3 missing
    assert [r["kw"] for r in sorted(est, key=lambda r: r["ts"])] == [0.1, 0.2, 0.3]
    assert all(r["kwh"] == pytest.approx(r["kw"] / 2) for r in est)
    assert {r["provenance"] for r in est} == {"estimated"}
    assert {r["estimation_method"] for r in est} == {"linear"}
    assert {r["flags"] for r in est} == {"interpolated"}
    assert {r["quality_score"] for r in est} == {95}  # −10 per hour: −5 per half hour
    assert all(r["_record_id"] is None for r in est)


def test_additive_profile_scores_estimates_60(duck: Engine) -> None:
    _, est = run_gaps(duck, readings([0, 2]), "greenstream-additive")
    assert [r["quality_score"] for r in est] == [60]


@pytest.mark.parametrize(
    "present",
    [
        pytest.param([0, 1, 2, 3], id="no_gap"),
        pytest.param([5], id="single_reading_no_edges_estimated"),
        pytest.param([], id="no_readings"),
    ],
)
def test_no_gap_and_one_sided_edges(duck: Engine, present: list[int]) -> None:
    g, est = run_gaps(duck, readings(present))
    assert g == [] and est == []


def test_misaligned_reading_counts_whole_intervals(duck: Engine) -> None:
    t = readings([0, 3])
    ts = t["ts"].to_pylist()
    ts[1] = ts[1] + dt.timedelta(minutes=10)  # 1h40 later: 2 whole intervals missing
    t = t.set_column(1, "ts", pa.array(ts, pa.timestamp("us")))
    g, _ = run_gaps(duck, t)
    assert g[0]["missing_intervals"] == 2
