"""VEE through the pipeline: micro-batch of one, registry, quarantine release, profiles."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from conftest import sql_of, with_ctx, write
from wattlake.config import load_settings
from wattlake.errors import InputError
from wattlake.generate import generate
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.quarantine import release
from wattlake.pipeline.registry import load_registry
from wattlake.pipeline.run import run_pipeline
from wattlake.query import run_sql

HEADER = "meter_id,timestamp,value,unit\n"
COLS = "meter_id, ts, kwh, kw, quality_score, quality_grade, flags, provenance"


def _rows(home: Path, where: str = "TRUE") -> list[tuple[object, ...]]:
    return run_sql(
        sql_of(home), f"SELECT {COLS} FROM silver.meter_readings WHERE {where} ORDER BY 1, 2"
    )[1]


def test_micro_batch_of_one_equals_full_batch(tmp_path: Path) -> None:
    # 12 days from a Thursday: one whole week, with a clock-offset fault (neighbour rule).
    gen = generate(
        tmp_path / "in", 12, 12, seed=21, fmt="meter-csv", faults=True, start=dt.date(2024, 2, 1)
    )
    lines = gen.files[0].read_text().splitlines()
    # The last reading line of the first meter, sent on its own afterwards.
    meter = lines[1].split(",")[0]
    idx = max(
        i
        for i, ln in enumerate(lines)
        if ln.startswith(meter + ",") and ln.split(",")[1].startswith("2024-02")
    )
    single = lines[idx]
    rest = write(tmp_path / "rest.csv", "\n".join(lines[:idx] + lines[idx + 1 :]) + "\n")
    one = write(tmp_path / "one.csv", HEADER + single + "\n")
    inc, full = load_settings(home=tmp_path / "inc"), load_settings(home=tmp_path / "full")
    with_ctx(inc, ingest_files, [gen.users_file, rest])
    with_ctx(inc, run_pipeline)
    with_ctx(inc, ingest_files, [one])
    summary = with_ctx(inc, run_pipeline)
    with_ctx(full, ingest_files, [gen.users_file, rest, one])
    with_ctx(full, run_pipeline)
    assert "1 meter(s)" in summary.step("silver").message  # type: ignore[union-attr]
    assert _rows(inc.home) == _rows(full.home)
    assert _rows(full.home, "flags LIKE '%fault_neighbour_corr%'")
    assert (
        run_sql(sql_of(inc.home), "SELECT count(*) FROM silver.gaps")[1]
        == run_sql(sql_of(full.home), "SELECT count(*) FROM silver.gaps")[1]
    )


@pytest.mark.parametrize(
    ("cut", "faulty_first", "lookback"),
    [
        # The neighbours' readings of the faulty meter's week come later: the meter's own
        # readings are unchanged, but its week can now be judged.
        ("2024-02-05", True, None),
        # Everyone's readings from the middle of that week on come later. The first run
        # saw too few hours of the week to judge it; the second must judge the whole week
        # again from its start, also where a short lookback starts inside the week.
        ("2024-02-07T12", False, 24),
    ],
)
def test_incremental_neighbour_verdicts_equal_full_batch(
    tmp_path: Path, cut: str, faulty_first: bool, lookback: int | None
) -> None:
    gen = generate(
        tmp_path / "in", 12, 14, seed=21, fmt="meter-csv", faults=True, start=dt.date(2024, 2, 1)
    )
    assert gen.labels_file is not None
    with open(gen.labels_file) as fh:
        faulty = {r["meter_id"] for r in csv.DictReader(fh) if r["fault"] == "clock_offset"}
    head, *body = gen.files[0].read_text().splitlines()

    def early(line: str) -> bool:
        meter, ts = [*line.split(","), ""][:2]
        return ts < cut or (faulty_first and meter in faulty)

    first = write(tmp_path / "first.csv", "\n".join([head, *filter(early, body)]) + "\n")
    later = [ln for ln in body if not early(ln)]
    second = write(tmp_path / "second.csv", "\n".join([head, *later]) + "\n")
    inc = load_settings(home=tmp_path / "inc", lookback_hours=lookback)
    full = load_settings(home=tmp_path / "full", lookback_hours=lookback)
    with_ctx(inc, ingest_files, [gen.users_file, first])
    with_ctx(inc, run_pipeline)
    with_ctx(inc, ingest_files, [second])
    message = with_ctx(inc, run_pipeline).step("silver").message  # type: ignore[union-attr]
    with_ctx(full, ingest_files, [gen.users_file, first, second])
    with_ctx(full, run_pipeline)
    assert ("(+1 neighbour(s) re-judged)" in message) is faulty_first
    hits = "flags LIKE '%fault_neighbour_corr%'"
    assert {r[0] for r in _rows(full.home, hits)} == faulty
    assert _rows(inc.home) == _rows(full.home)
    q = "SELECT meter_id, ts, quality_score, rules FROM silver.quarantine ORDER BY ALL"
    assert run_sql(sql_of(inc.home), q)[1] == run_sql(sql_of(full.home), q)[1]


def _two_meters(tmp_path: Path) -> Path:
    body = "".join(
        f"{m},2024-03-04T{h:02d}:{mm:02d}:00Z,{v},kW\n"
        for m in ("A", "B")
        for h in range(0, 4)
        for mm, v in ((0, "1.0"), (30, "25.0" if (m, h) == ("A", 2) else "1.2"))
    )
    return write(tmp_path / "two.csv", HEADER + body)


def test_registry_rejects_unknown_meters(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path / "h")
    with_ctx(s, ingest_files, [_two_meters(tmp_path)])
    first = with_ctx(s, run_pipeline)
    assert "registry off" in first.step("silver").message  # type: ignore[union-attr]
    assert (
        with_ctx(s, load_registry, write(tmp_path / "reg.csv", "meter_id,vacant\nA,false\n")) == 1
    )
    second = with_ctx(s, run_pipeline, rebuild=True)
    assert "registry on (1 meters)" in second.step("silver").message  # type: ignore[union-attr]
    q = run_sql(
        sql_of(s.home),
        "SELECT DISTINCT meter_id FROM silver.quarantine WHERE rules LIKE '%unknown_meter%'",
    )[1]
    assert q == [("B",)]
    assert not _rows(s.home, "meter_id = 'B'")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("id\nA\n", "no meter_id column", id="no_meter_id_column"),
        pytest.param("meter_id\nA\nA\n", "listed twice", id="duplicate_meter"),
        pytest.param("meter_id,vacant\nA,maybe\n", "vacant must be", id="bad_vacant"),
        pytest.param("meter_id\n", "no meters", id="empty_registry"),
    ],
)
def test_registry_bad_files(tmp_path: Path, text: str, message: str) -> None:
    s = load_settings(home=tmp_path / "h")
    with pytest.raises(InputError, match=message):
        with_ctx(s, load_registry, write(tmp_path / "reg.csv", text))


def test_quarantine_release_is_recorded_and_moves_row(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path / "h")
    with_ctx(s, ingest_files, [_two_meters(tmp_path)])
    with_ctx(s, run_pipeline)
    (rid,) = run_sql(
        sql_of(s.home), "SELECT _record_id FROM silver.quarantine WHERE rules = 'above_max'"
    )[1][0]
    # The over-limit reading was replaced by a linear estimate in silver meanwhile.
    assert _rows(s.home, "meter_id = 'A' AND hour = 2 AND provenance = 'estimated'")
    with pytest.raises(InputError, match="reason"):
        with_ctx(s, release, " ", record_ids=[rid])
    assert (
        with_ctx(
            s,
            release,
            "3-phase supply, 25 kW confirmed by field visit",
            record_ids=[rid],
            released_by="ops",
        )
        == 1
    )
    # Only the released reading's meter is re-judged, not its whole batch.
    message = with_ctx(s, run_pipeline).step("silver").message  # type: ignore[union-attr]
    assert message.startswith("0 new batch(es) + 1 released reading(s), 1 meter(s)"), message
    edited = _rows(s.home, "provenance = 'edited'")
    assert len(edited) == 1 and "released" in str(edited[0][6]) and "above_max" in str(edited[0][6])
    assert run_sql(sql_of(s.home), "SELECT count(*) FROM silver.quarantine")[1] == [(0,)]
    rel = run_sql(sql_of(s.home), "SELECT rules, reason, released_by FROM ops.quarantine_releases")[
        1
    ]
    assert rel == [("above_max", "3-phase supply, 25 kW confirmed by field visit", "ops")]
    bronze = run_sql(sql_of(s.home), "SELECT count(*) FROM bronze.meter_readings")[1][0][0]
    silver = run_sql(
        sql_of(s.home), "SELECT count(*) FROM silver.meter_readings WHERE NOT is_estimated"
    )[1][0][0]
    assert bronze == silver
    with pytest.raises(InputError, match="no quarantined rows"):
        with_ctx(s, release, "again", record_ids=[rid])


def test_profile_recorded_and_changes_interpolation(tmp_path: Path) -> None:
    body = "".join(f"M,2024-03-04T{h:02d}:00:00Z,1.0,kW\n" for h in (0, 3))  # 2h30 missing
    f = write(tmp_path / "gap.csv", HEADER + body)
    outcome = {}
    for profile in ("greenstream", "california"):
        s = load_settings(home=tmp_path / profile)
        with_ctx(s, ingest_files, [f])
        with_ctx(s, run_pipeline, profile=profile)
        outcome[profile] = run_sql(sql_of(s.home), "SELECT gap_class FROM silver.gaps")[1]
        runs = run_sql(
            sql_of(s.home), "SELECT DISTINCT profile FROM ops.runs WHERE step = 'silver'"
        )[1]
        assert runs == [(profile,)]
    assert outcome == {"greenstream": [("interpolated",)], "california": [("missing_short",)]}


def test_vee_evaluate_reports_both_methods(tmp_path: Path) -> None:
    from wattlake.pipeline.evaluate import evaluate

    gen = generate(tmp_path / "in", 6, 21, seed=4, fmt="lcl", start=dt.date(2024, 3, 1))
    s = load_settings(home=tmp_path / "h")
    with_ctx(s, ingest_files, gen.files)
    with_ctx(s, run_pipeline)
    rows = with_ctx(s, evaluate, (1, 8), every=50)
    assert [(r["gap_readings"], r["method"]) for r in rows] == [
        (1, "like_day"),
        (1, "linear"),
        (8, "like_day"),
        (8, "linear"),
    ]
    for r in rows:
        assert r["readings"] > 50
        assert 0 < r["mae_kwh"] <= r["rmse_kwh"]
    # Short gaps: interpolation beats the like-day profile on this data.
    short = {r["method"]: r["mae_kwh"] for r in rows if r["gap_readings"] == 1}
    assert short["linear"] < short["like_day"]


def test_vee_evaluate_needs_silver(tmp_path: Path) -> None:
    from wattlake.pipeline.evaluate import evaluate

    with pytest.raises(InputError, match="silver is empty"):
        with_ctx(load_settings(home=tmp_path / "empty"), evaluate)


def test_rebuild_reaches_gold_and_warehouse(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path / "h")
    with_ctx(s, ingest_files, [_two_meters(tmp_path)])
    with_ctx(s, run_pipeline)
    with_ctx(s, load_registry, write(tmp_path / "reg.csv", "meter_id\nA\n"))
    summary = with_ctx(s, run_pipeline, rebuild=True)
    assert "1 date(s) recomputed" in summary.step("gold").message  # type: ignore[union-attr]
    users = run_sql(sql_of(s.home), "SELECT DISTINCT user_id FROM gold.energy_flow_hourly")[1]
    assert users == [("A",)]
    facts = run_sql(
        sql_of(s.home),
        "SELECT DISTINCT u.user_id FROM dw.fact_energy_flow f JOIN dw.dim_users u USING (user_sk)",
    )[1]
    assert facts == [("A",)]
