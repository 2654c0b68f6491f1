"""Neighbourhood correlation fault (`vee.neighbours`): neighbours, weeks, the correlation,
the score; the same on Spark; and the injected clock-offset fault found at scale."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pytest

from conftest import with_ctx
from test_fault_detection import MAX_FPR, MIN_RECALL, _labels, _rules_by_line
from wattlake.config import load_settings
from wattlake.engine import Engine
from wattlake.generate import generate
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.transforms.vee import neighbours as nb
from wattlake.transforms.vee.profile import get_profile
from wattlake.transforms.vee.rules import NEIGHBOUR_RULE, column

PROFILE = get_profile("greenstream")
KM_PER_DEG_LAT = 2 * math.pi * 6371.0088 / 360  # great-circle km per degree of latitude
MONDAY = dt.datetime(2024, 1, 8)


def _locations(rows: list[tuple[str, str, float, float]]) -> pa.Table:
    names = ("meter_id", "channel", "latitude", "longitude")
    return pa.table({k: [r[n] for r in rows] for n, k in enumerate(names)})


def _north(km: float) -> float:
    """Latitude (degrees) `km` north of 51.0° N along the meridian."""
    return 51.0 + km / KM_PER_DEG_LAT


@pytest.mark.parametrize(
    ("rows", "count", "want"),
    [
        pytest.param(
            [("A", "c", 51.0, 0.0), ("B", "c", _north(1), 0.0), ("P", "p", 51.0, 0.0)],
            8,
            {"A": ["B"], "B": ["A"]},
            id="pv_meter_not_a_consumption_neighbour",
        ),
        pytest.param(
            [("A", "c", 51.0, 0.0), ("B", "c", _north(24.9), 0.0), ("C", "c", _north(25.1), 0.0)],
            8,
            {"A": ["B"], "B": ["C", "A"], "C": ["B"]},
            id="beyond_max_km_not_a_neighbour",
        ),
        pytest.param(
            [("A", "c", 51.0, 0.0), *[(f"N{i}", "c", _north(i), 0.0) for i in (3, 1, 2)]],
            2,
            {"A": ["N1", "N2"], "N1": ["A", "N2"], "N2": ["N1", "N3"], "N3": ["N2", "N1"]},
            id="count_nearest_in_distance_order",
        ),
        pytest.param(
            [("A", "c", 51.0, 0.0), ("Z", "c", _north(1), 0.0), ("B", "c", _north(-1), 0.0)],
            1,
            {"A": ["B"], "B": ["A"], "Z": ["A"]},
            id="equal_distance_smaller_id_first",
        ),
        pytest.param([("A", "c", 51.0, 0.0), ("P", "p", 51.0, 0.0)], 8, {}, id="alone_in_channel"),
        pytest.param(
            [("A", "c", 51.0, 0.0), ("B", "c", 51.0, 0.0)],
            8,
            {"A": ["B"], "B": ["A"]},
            id="same_location_distance_zero",
        ),
    ],
)
def test_neighbour_pairs(
    rows: list[tuple[str, str, float, float]], count: int, want: dict[str, list[str]]
) -> None:
    profile = PROFILE.model_copy(update={"neighbour_count": count})
    pairs = nb.neighbour_pairs(_locations(rows), profile).to_pylist()
    got: dict[str, list[str]] = defaultdict(list)
    for p in pairs:
        got[p["meter_id"]].append(p["neighbour_id"])
        assert 0 <= p["distance_km"] <= profile.neighbour_max_km
    assert dict(got) == want


def test_neighbour_distance_is_great_circle_km() -> None:
    pairs = nb.neighbour_pairs(
        _locations([("A", "c", 51.0, 0.0), ("B", "c", _north(10), 0.0)]), PROFILE
    )
    assert pairs["distance_km"].to_pylist() == pytest.approx([10.0, 10.0], abs=1e-6)


@pytest.mark.parametrize(
    ("rules", "kept"),
    [
        pytest.param("", True, id="no_rule"),
        pytest.param("unit_converted", True, id="flag_rule"),
        pytest.param("fault_neighbour_corr", True, id="own_rule_kept"),
        pytest.param("fault_neighbour_corr,score_below_threshold", True, id="score_only"),
        pytest.param("negative", False, id="rejected"),
        pytest.param("rate_of_change_spike,fault_stuck", False, id="meter_fault_last"),
        pytest.param("fault_zero_run,score_below_threshold", False, id="meter_fault_first"),
        pytest.param("negative,released", False, id="released_rejected_row_left_out"),
    ],
)
def test_usable_flagged(duck: Engine, rules: str, kept: bool) -> None:
    t = duck.materialize(ibis.memtable({"rules": [rules]}))
    assert duck.to_arrow(nb.usable_flagged(t, t.rules)).num_rows == int(kept)


def _eval(engine: Engine, expr_of: Any, data: dict[str, list[Any]]) -> list[Any]:
    t = engine.materialize(ibis.memtable(data))
    return engine.to_arrow(t.select(v=expr_of(t)))["v"].to_pylist()


@pytest.mark.parametrize(
    ("ts", "same_week_as_monday"),
    [
        pytest.param(MONDAY, True, id="monday_midnight_starts_week"),
        pytest.param(
            MONDAY + dt.timedelta(days=7) - dt.timedelta(seconds=1), True, id="sunday_end"
        ),
        pytest.param(MONDAY - dt.timedelta(seconds=1), False, id="sunday_before"),
        pytest.param(MONDAY + dt.timedelta(days=7), False, id="next_monday"),
    ],
)
def test_week_of(duck: Engine, ts: dt.datetime, same_week_as_monday: bool) -> None:
    weeks = _eval(
        duck, lambda t: nb.week_of(nb.bin_of(t.ts, PROFILE), PROFILE), {"ts": [MONDAY, ts]}
    )
    assert (weeks[0] == weeks[1]) is same_week_as_monday
    assert weeks[0] == (MONDAY.date() - dt.date(1969, 12, 29)).days // 7


@pytest.mark.parametrize(
    ("ts", "start"),
    [
        pytest.param(MONDAY, MONDAY, id="monday_midnight_is_its_own_start"),
        pytest.param(MONDAY + dt.timedelta(days=7, seconds=-1), MONDAY, id="sunday_last_second"),
        pytest.param(
            MONDAY - dt.timedelta(microseconds=1), MONDAY - dt.timedelta(days=7), id="just_before"
        ),
        pytest.param(
            MONDAY.replace(tzinfo=dt.UTC) + dt.timedelta(hours=30), MONDAY, id="aware_utc"
        ),
        pytest.param(
            dt.datetime(2024, 1, 8, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            MONDAY - dt.timedelta(days=7),
            id="offset_local_monday_is_utc_sunday",
        ),
    ],
)
def test_week_start(duck: Engine, ts: dt.datetime, start: dt.datetime) -> None:
    got = nb.week_start(ts)
    assert got == start.replace(tzinfo=dt.UTC)
    # The week `week_of` puts the timestamp in, on the engine.
    utc = ts.astimezone(dt.UTC).replace(tzinfo=None) if ts.tzinfo else ts
    weeks = _eval(
        duck,
        lambda t: nb.week_of(nb.bin_of(t.ts, PROFILE), PROFILE),
        {"ts": [utc, got.replace(tzinfo=None)]},
    )
    assert weeks[0] == weeks[1]


@pytest.mark.parametrize(
    ("meters", "want"),
    [
        pytest.param(["B"], ["A", "C"], id="those_with_it_as_neighbour"),
        pytest.param(["A", "B"], ["C"], id="new_meters_not_listed_again"),
        pytest.param(["D"], ["A"], id="one_way_pair"),
        pytest.param(["C"], [], id="neighbour_of_nobody"),
        pytest.param(["Z"], [], id="no_neighbours"),
        pytest.param([], [], id="nothing_new"),
    ],
)
def test_judged_with(meters: list[str], want: list[str]) -> None:
    pairs = pa.table(
        {
            "meter_id": ["A", "B", "C", "C", "A"],
            "neighbour_id": ["B", "A", "B", "A", "D"],
            "distance_km": [1.0, 1.0, 2.0, 3.0, 4.0],
        },
        schema=nb.PAIR_SCHEMA,
    )
    assert nb.judged_with(pairs, meters) == want


def _binned(series: dict[str, list[float | None]], start_bin: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"meter_id": [], "_bin": [], "kw": []}
    for meter, values in series.items():
        for i, v in enumerate(values):
            if v is not None:
                out["meter_id"].append(meter)
                out["_bin"].append(start_bin + i)
                out["kw"].append(v)
    return out


def _first_bin(profile: Any = PROFILE) -> int:
    return int((MONDAY - dt.datetime(1970, 1, 1)).total_seconds()) // (
        profile.neighbour_bin_minutes * 60
    )


def _correlations(
    engine: Engine, series: dict[str, list[float | None]], pairs: list[tuple[str, str]]
) -> dict[str, tuple[int, float | None]]:
    binned = engine.materialize(ibis.memtable(_binned(series, _first_bin())))
    p = engine.materialize(
        ibis.memtable({"meter_id": [a for a, _ in pairs], "neighbour_id": [b for _, b in pairs]})
    )
    out = engine.to_arrow(nb.weekly_correlation(binned, binned, p, PROFILE)).to_pylist()
    return {r["meter_id"]: (r["n_bins"], r["corr"]) for r in out}


RNG = np.random.default_rng(3)
WEEK_BINS = 7 * 1440 // PROFILE.neighbour_bin_minutes
REF = list(1.0 + np.sin(np.arange(WEEK_BINS) * 2 * np.pi / 8) + RNG.uniform(0, 0.3, WEEK_BINS))
NOISE = list(RNG.uniform(0, 1, WEEK_BINS))
STAR = [("A", "B"), ("A", "C"), ("A", "D")]  # A's neighbours B, C, D (all equal to REF)


@pytest.mark.parametrize(
    ("a", "want_bins", "want_corr"),
    [
        pytest.param([2 * x + 1 for x in REF], WEEK_BINS, 1.0, id="linear_in_neighbours"),
        pytest.param([-x for x in REF], WEEK_BINS, -1.0, id="mirror_image"),
        pytest.param([0.5] * WEEK_BINS, WEEK_BINS, None, id="constant_meter_no_correlation"),
        pytest.param(NOISE, WEEK_BINS, float(np.corrcoef(NOISE, REF)[0, 1]), id="pearson_of_noise"),
        pytest.param(
            [*REF[:10], *([None] * (WEEK_BINS - 10))], 10, 1.0, id="only_bins_with_a_reading"
        ),
    ],
)
def test_weekly_correlation(
    duck: Engine, a: list[float | None], want_bins: int, want_corr: float | None
) -> None:
    got = _correlations(duck, {"A": a, "B": REF, "C": REF, "D": REF}, STAR)["A"]
    assert got[0] == want_bins
    assert got[1] == (None if want_corr is None else pytest.approx(want_corr, abs=1e-9))


def test_bins_need_enough_neighbours_present(duck: Engine) -> None:
    # D reports only the first half of the week: the second half has 2 neighbours (< 3).
    half = WEEK_BINS // 2
    d = [*REF[:half], *([None] * (WEEK_BINS - half))]
    got = _correlations(duck, {"A": NOISE, "B": REF, "C": REF, "D": d}, STAR)["A"]
    assert got[0] == half


@pytest.mark.parametrize(
    ("a", "hours", "flagged"),
    [
        pytest.param(NOISE, 72, True, id="low_correlation_enough_hours"),
        pytest.param(REF, 72, False, id="high_correlation"),
        pytest.param(NOISE[:23], 72, False, id="fewer_than_min_hours"),  # 23 × 3 h < 72 h
        pytest.param(NOISE[:24], 72, True, id="exactly_min_hours"),
    ],
)
def test_low_correlation_weeks(duck: Engine, a: list[float], hours: int, flagged: bool) -> None:
    assert float(np.corrcoef(NOISE[:23], REF[:23])[0, 1]) < PROFILE.neighbour_corr_min
    binned = duck.materialize(
        ibis.memtable(_binned({"A": a, "B": REF, "C": REF, "D": REF}, _first_bin()))
    )
    pairs = duck.materialize(ibis.memtable({"meter_id": ["A"] * 3, "neighbour_id": list("BCD")}))
    profile = PROFILE.model_copy(update={"neighbour_min_hours": hours})
    weeks = duck.to_arrow(nb.low_correlation_weeks(binned, binned, pairs, profile))
    assert (weeks.num_rows == 1) is flagged


def _classified(extra: dict[str, list[Any]]) -> dict[str, list[Any]]:
    base = {
        "meter_id": ["A", "A", "A", "B"],
        "ts": [MONDAY, MONDAY + dt.timedelta(days=3), MONDAY + dt.timedelta(days=7), MONDAY],
        "interval_minutes": [30] * 4,
        "rejected": [False, False, False, False],
    }
    return {**base, **extra}


@pytest.mark.parametrize(
    ("extra", "want_flag", "want_score", "want_quarantined"),
    [
        pytest.param({}, [True, True, False, False], [70, 70, 100, 100], [False] * 4, id="week"),
        pytest.param(
            {"r_unit_converted": [True, False, False, False]},
            [True, True, False, False],
            [65, 70, 100, 100],
            [True, False, False, False],
            id="with_unit_conversion_below_threshold",
        ),
        pytest.param(
            {"rejected": [False, True, False, False], "r_negative": [False, True, False, False]},
            [True, False, False, False],
            [70, 85, 100, 100],
            [False, True, False, False],
            id="rejected_reading_not_flagged",
        ),
    ],
)
def test_apply_neighbour_fault(
    duck: Engine,
    extra: dict[str, list[Any]],
    want_flag: list[bool],
    want_score: list[int],
    want_quarantined: list[bool],
) -> None:
    t = duck.materialize(ibis.memtable(_classified(extra)))
    week = (MONDAY.date() - dt.date(1969, 12, 29)).days // 7
    weeks = duck.materialize(ibis.memtable({"meter_id": ["A"], "_week": [week]}))
    out = duck.to_arrow(nb.apply_neighbour_fault(t, weeks, PROFILE).order_by(["meter_id", "ts"]))
    assert out[column(NEIGHBOUR_RULE)].to_pylist() == want_flag
    assert out["quality_score"].to_pylist() == want_score
    assert out["quarantined"].to_pylist() == want_quarantined
    assert [NEIGHBOUR_RULE in f.split(",") for f in out["flags"].to_pylist()] == want_flag


@pytest.mark.spark
def test_same_weeks_and_scores_on_spark(duck: Engine, spark: Engine) -> None:
    rng = np.random.default_rng(5)
    meters = [f"M{i}" for i in range(12)]
    locations = _locations(
        [(m, "c", 51.0 + rng.uniform(0, 0.1), rng.uniform(0, 0.1)) for m in meters]
    )
    pairs = nb.neighbour_pairs(locations, PROFILE)
    n = 2 * 7 * 48
    ts = [MONDAY + dt.timedelta(minutes=30 * i) for i in range(n)]
    shape = 1 + np.sin(np.arange(n) * 2 * np.pi / 48)
    rows: dict[str, list[Any]] = {"meter_id": [], "ts": [], "kw": []}
    for i, m in enumerate(meters):
        kw = shape * rng.uniform(0.5, 2) + rng.uniform(0, 0.8, n)
        if i < 3:  # three meters 6 h late in their second week
            kw[n // 2 :] = np.roll(kw[n // 2 :], 12)
        rows["meter_id"] += [m] * n
        rows["ts"] += ts
        rows["kw"] += list(kw)
    results = []
    for engine in (duck, spark):
        readings = engine.materialize(ibis.memtable(rows))
        binned = engine.materialize(nb.binned_kw(readings, PROFILE))
        p = engine.materialize(ibis.memtable(pairs))
        corr = engine.to_arrow(nb.weekly_correlation(binned, binned, p, PROFILE))
        weeks = engine.materialize(nb.low_correlation_weeks(binned, binned, p, PROFILE))
        cl = readings.mutate(interval_minutes=30, rejected=False)
        scored = engine.to_arrow(
            nb.apply_neighbour_fault(cl, weeks, PROFILE).select(
                "meter_id", "ts", "quality_score", "flags"
            )
        )
        results.append((corr.sort_by([("meter_id", "ascending"), ("_week", "ascending")]), scored))
    (c_duck, s_duck), (c_spark, s_spark) = results
    assert c_duck["corr"].to_pylist() == pytest.approx(c_spark["corr"].to_pylist(), abs=1e-9)
    assert c_duck["n_bins"].to_pylist() == c_spark["n_bins"].to_pylist()
    key = [("meter_id", "ascending"), ("ts", "ascending")]
    assert s_duck.sort_by(key).to_pylist() == s_spark.sort_by(key).to_pylist()
    flagged = {r["meter_id"] for r in s_duck.to_pylist() if NEIGHBOUR_RULE in r["flags"]}
    assert flagged == {"M0", "M1", "M2"}


def test_clock_offset_found_at_scale(tmp_path_factory: pytest.TempPathFactory) -> None:
    """300 households × 14 days: every injected clock-offset week is found; the rule's
    false-positive rate over all other lines stays within the limit."""
    root = tmp_path_factory.mktemp("neighbours")
    gen = generate(
        root / "in", 300, 14, seed=5, fmt="meter-csv", faults=True, start=dt.date(2024, 1, 8)
    )
    s = load_settings(home=root / "home")
    with_ctx(s, ingest_files, [gen.users_file, *gen.files])
    with_ctx(s, run_pipeline)
    fired = _rules_by_line(s.home)
    offset = {(r["file"], int(r["line"])) for r in _labels(gen) if r["fault"] == "clock_offset"}
    assert len(offset) >= 3 * 7 * 48  # several injected weeks
    hits = sum(NEIGHBOUR_RULE in fired.get(k, set()) for k in offset)
    negatives = [k for k in fired if k not in offset]
    fp = sum(NEIGHBOUR_RULE in fired[k] for k in negatives)
    print({"clock_offset": (len(offset), hits / len(offset), fp, fp / len(negatives))})
    assert hits / len(offset) >= MIN_RECALL
    assert fp / len(negatives) <= MAX_FPR
