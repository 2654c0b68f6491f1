"""5-minute windows, lateness, finality and the open-window bookkeeping (pure)."""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import pyarrow as pa
import pytest

from wattlake.duck import duckdb_connect
from wattlake.stream.job.state import AGG_SCHEMA, Rate, window_changes
from wattlake.stream.windows import (
    Timing,
    batch_aggregates,
    has_reject_rule,
    households,
    is_final,
    late_expr,
    watermark,
    window_of,
    window_start_expr,
)

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture(scope="module")
def con() -> ibis.BaseBackend:
    c = ibis.duckdb.connect()
    c.raw_sql("SET TimeZone = 'UTC'")
    return c


@pytest.mark.parametrize(
    ("ts", "start"),
    [
        pytest.param(at(0), at(0), id="on_the_boundary"),
        pytest.param(at(4.99), at(0), id="just_before_the_next"),
        pytest.param(at(5), at(5), id="next_window"),
        pytest.param(at(37.5), at(35), id="half_hour_meter_offset"),
    ],
)
def test_window_of(ts: dt.datetime, start: dt.datetime, con: ibis.BaseBackend) -> None:
    assert window_of(ts) == start
    t = ibis.memtable({"ts": [ts.replace(tzinfo=None)]})
    got = con.to_pyarrow(t.select(w=window_start_expr(t.ts)))["w"][0].as_py()
    assert got == start.replace(tzinfo=None)


TIMING = Timing(watermark_delay_minutes=60, allowed_lateness_minutes=5)


@pytest.mark.parametrize(
    ("ts", "sim_clock", "late"),
    [
        pytest.param(at(0), at(30), False, id="half_hour_reading_on_time"),
        pytest.param(at(0), at(60), False, id="hourly_reading_on_time"),
        pytest.param(at(0), at(69.99), False, id="just_before_the_close"),
        pytest.param(at(0), at(70), True, id="at_the_close"),
        pytest.param(at(0), at(180), True, id="three_hours_late"),
        pytest.param(at(4), at(70), True, id="window_end_counts_not_ts"),
    ],
)
def test_lateness(
    ts: dt.datetime, sim_clock: dt.datetime, late: bool, con: ibis.BaseBackend
) -> None:
    t = ibis.memtable({"ts": [ts.replace(tzinfo=None)], "sc": [sim_clock.replace(tzinfo=None)]})
    got = con.to_pyarrow(t.select(late=late_expr(t.ts, t.sc, TIMING)))["late"][0].as_py()
    assert got is late
    # late exactly when the window is already final at the reading's own clock
    assert is_final(window_of(ts), sim_clock - TIMING.delay, TIMING) is late


@pytest.mark.parametrize(
    ("clocks", "mark"),
    [
        pytest.param({}, None, id="no_partition_yet"),
        pytest.param({0: at(120)}, at(60), id="one_partition"),
        pytest.param({0: at(120), 1: at(90), 2: at(200)}, at(30), id="slowest_partition_holds"),
    ],
)
def test_watermark(clocks: dict[int, dt.datetime], mark: dt.datetime | None) -> None:
    assert watermark(clocks, TIMING) == mark


def test_timing_rejects_negative_minutes() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        Timing(-1, 5)


def _recomputed(*rows: tuple[str, float, float, int]) -> pa.Table:
    """Recomputed windows (naive UTC starts, as the engine gives them)."""
    return pa.table(
        {
            "household_id": [h for h, _, _, _ in rows],
            "channel": ["consumption"] * len(rows),
            "window_start": pa.array(
                [window_of(at(m)).replace(tzinfo=None) for _, m, _, _ in rows], pa.timestamp("us")
            ),
            "kwh_sum": [k for _, _, k, _ in rows],
            "kwh_avg": [k / n for _, _, k, n in rows],
            "kwh_min": [k / n for _, _, k, n in rows],
            "kwh_max": [k / n for _, _, k, n in rows],
            "readings": pa.array([n for _, _, _, n in rows], pa.int64()),
            "meters": pa.array([1] * len(rows), pa.int64()),
        }
    )


STAMP = {"updated_at": at(999), "_batch_id": "k000-1-2"}


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    return duckdb_connect(extensions=())


def _open(*rows: tuple[str, float, float, int]) -> pa.Table:
    recs = _recomputed(*rows)
    ch = window_changes(duckdb_connect(extensions=()), AGG_SCHEMA.empty_table(), recs, None,
                        None, TIMING, STAMP)  # fmt: skip
    return ch.open


def _keys(t: pa.Table) -> set[tuple[str, dt.datetime]]:
    return {(r["household_id"], r["window_start"]) for r in t.to_pylist()}


def test_window_changes_replace_values_and_close_windows_the_watermark_passed(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    open_ = _open(("h1", 0, 1.0, 1))
    assert open_.num_rows == 1 and open_["kwh_sum"].to_pylist() == [1.0]
    # watermark 10 min after the first window's end + lateness: h1@0 closes, h2@30 stays open
    ch = window_changes(
        duck, open_, _recomputed(("h1", 0, 2.0, 2), ("h2", 30, 0.5, 1)), None, at(10), TIMING, STAMP
    )
    rows = {r["household_id"]: r for r in ch.write.to_pylist()}
    assert set(rows) == {"h1", "h2"}
    assert rows["h1"]["kwh_sum"] == 2.0 and rows["h1"]["readings"] == 2
    assert rows["h1"]["is_final"] and rows["h1"]["published_version"] == 1
    assert rows["h1"]["final_watermark"] == at(10)
    assert not rows["h2"]["is_final"] and rows["h2"]["published_version"] == 0
    assert ch.finals["household_id"].to_pylist() == ["h1"]
    assert _keys(ch.open) == {("h2", at(30))}
    assert open_["kwh_sum"].to_pylist() == [1.0], "the open windows are not changed in place"


def test_an_open_window_the_watermark_passes_without_new_readings_closes(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    open_ = _open(("h1", 0, 1.0, 1), ("h2", 60, 3.0, 1))
    ch = window_changes(duck, open_, _recomputed(), None, at(20), TIMING, STAMP)
    assert ch.finals["household_id"].to_pylist() == ["h1"]
    assert ch.finals["kwh_sum"].to_pylist() == [1.0]
    assert _keys(ch.open) == {("h2", at(60))}


def test_a_window_closed_by_an_earlier_batch_is_not_reopened(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    ch = window_changes(
        duck, AGG_SCHEMA.empty_table(), _recomputed(("h1", 0, 9.0, 1)), at(10), at(20), TIMING,
        STAMP,
    )  # fmt: skip
    assert ch.write.num_rows == 0 and ch.finals.num_rows == 0 and ch.open.num_rows == 0


def test_a_window_seen_and_passed_in_one_batch_is_published_once(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    ch = window_changes(
        duck, AGG_SCHEMA.empty_table(), _recomputed(("h1", 0, 1.0, 1)), None, at(10), TIMING,
        STAMP,
    )  # fmt: skip
    assert ch.finals.num_rows == 1 and ch.write.num_rows == 1 and ch.open.num_rows == 0
    again = window_changes(duck, ch.open, _recomputed(), at(10), at(20), TIMING, STAMP)
    assert again.write.num_rows == 0 and again.finals.num_rows == 0


def test_late_counts_reach_the_written_windows(duck: duckdb.DuckDBPyConnection) -> None:
    open_ = _open(("h1", 30, 1.0, 1))
    late = pa.table(
        {
            "household_id": ["h1"],
            "channel": ["consumption"],
            "window_start": pa.array([at(30)], pa.timestamp("us", "UTC")),
            "n": pa.array([2], pa.int64()),
        }
    )
    ch = window_changes(duck, open_, _recomputed(), None, at(40), TIMING, STAMP, late)
    assert ch.finals["late_readings"].to_pylist() == [2]


def test_rate_over_the_last_minute() -> None:
    r = Rate(window_s=60)
    assert r.add(0.0, {0: 100}) == {}
    assert r.add(10.0, {0: 500, 1: 100}) == {0: 50.0, 1: 10.0}
    assert r.add(100.0, {0: 60}) == {}, "older batches leave the window"


@pytest.mark.parametrize(
    ("rules", "rejected"),
    [
        pytest.param("score_below_threshold", False, id="score_only"),
        pytest.param("fault_stuck,rate_of_change_spike,score_below_threshold", False, id="flags"),
        pytest.param("negative", True, id="reject"),
        pytest.param("unit_converted,backdated", True, id="reject_among_flags"),
        pytest.param(None, False, id="null"),
    ],
)
def test_has_reject_rule(rules: str | None, rejected: bool, con: ibis.BaseBackend) -> None:
    t = ibis.memtable(pa.table({"r": pa.array([rules], pa.string())}))
    assert con.to_pyarrow(t.select(x=has_reject_rule(t.r)))["x"][0].as_py() is rejected


def test_households_latest_version_and_channels(con: ibis.BaseBackend) -> None:
    users = ibis.memtable(
        pa.table(
            {
                "user_id": ["u1", "u1", "u2"],
                "meter_id": ["m1", "m1", "m2"],
                "pv_meter_id": [None, "pv1", ""],
                "effective_date": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 1, 1)],
            }
        )
    )
    got = con.to_pyarrow(households(users)).to_pylist()
    assert sorted((r["meter_id"], r["household_id"], r["channel"]) for r in got) == [
        ("m1", "u1", "consumption"),
        ("m2", "u2", "consumption"),
        ("pv1", "u1", "production"),
    ]


def test_batch_aggregates_count_valid_readings_only(con: ibis.BaseBackend) -> None:
    ts = [at(0).replace(tzinfo=None), at(0).replace(tzinfo=None), at(30).replace(tzinfo=None)]
    silver = pa.table(
        {
            "meter_id": ["m1", "pv1", "m1"],
            "ts": pa.array(ts, pa.timestamp("us")).cast(pa.timestamp("us", "UTC")),
            "kwh": [0.5, 0.25, 0.75],
            "provenance": ["actual", "actual", "estimated"],
        }
    )
    quarantine = pa.table(
        {
            "meter_id": ["m1", "m1"],
            "ts": pa.array([ts[0], ts[2]], pa.timestamp("us")).cast(pa.timestamp("us", "UTC")),
            "kwh": [0.1, 9.0],
            "rules": ["score_below_threshold", "above_max"],
        }
    )
    users = pa.table(
        {
            "user_id": ["u1"],
            "meter_id": ["m1"],
            "pv_meter_id": ["pv1"],
            "effective_date": [dt.date(2024, 1, 1)],
        }
    )
    agg = con.to_pyarrow(
        batch_aggregates(ibis.memtable(silver), ibis.memtable(quarantine), ibis.memtable(users))
    ).to_pylist()
    got = {(r["household_id"], r["channel"]): (r["kwh_sum"], r["readings"]) for r in agg}
    # m1 at 00:00: 0.5 (silver) + 0.1 (held back by its score only); the estimate at 00:30
    # and the rejected 9 kWh do not count.
    assert got == {("u1", "consumption"): (0.6, 2), ("u1", "production"): (0.25, 1)}
