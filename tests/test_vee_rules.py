"""Silver rules on edge cases, on DuckDB (and on Spark in test_parity_spark.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pyarrow as pa
import pytest

from rule_cases import CASES, Case, bronze_table
from wattlake.engine import Engine
from wattlake.errors import InputError
from wattlake.pipeline.vee_chunks import classify_chunks
from wattlake.transforms.calendar import uk_holidays
from wattlake.transforms.silver import classify, meter_chunks
from wattlake.transforms.vee.profile import PROFILES, VeeProfile, get_profile
from wattlake.transforms.vee.rules import ALL_RULES

ALL_CASES: list[Case] = [p.values[0] for p in CASES]


def classify_cases(engine: Engine) -> dict[int, dict[str, Any]]:
    """Last row of every case, keyed by case index."""
    bronze = bronze_table(ALL_CASES)
    table = (
        engine.con.create_table("rule_cases", bronze, overwrite=True)
        if engine.name == "duckdb"
        else _spark_table(engine, bronze)
    )
    out = engine.to_arrow(classify(table, get_profile("greenstream"), uk_holidays(2012, 2024)))
    last: dict[int, dict[str, Any]] = {}
    for row in sorted(out.to_pylist(), key=lambda r: (r["meter_id"], r["_row_number"])):
        last[int(row["meter_id"].split("-")[1])] = row
    return last


def _spark_table(engine: Engine, bronze: pa.Table) -> Any:
    df = engine.spark.createDataFrame(bronze.to_pandas())  # type: ignore[attr-defined]
    df.createOrReplaceTempView("rule_cases")
    return engine.con.table("rule_cases")


def check_case(case: Case, row: dict[str, Any]) -> None:
    fired = set(filter(None, row["flags"].split(",")))
    assert case.rules <= fired, f"expected {case.rules} in {fired}"
    assert not (case.not_rules & fired), f"unexpected {case.not_rules & fired}"
    assert fired <= set(ALL_RULES)
    for col, want in case.expect.items():
        got = row[col]
        if isinstance(want, float):
            assert got == pytest.approx(want, abs=1e-9), col
        else:
            assert got == want, col


@pytest.fixture(scope="module")
def duck_results(duck: Engine) -> dict[int, dict[str, Any]]:
    return classify_cases(duck)


@pytest.mark.parametrize("case", CASES)
def test_rule_case_duckdb(case: Case, duck_results: dict[int, dict[str, Any]]) -> None:
    check_case(case, duck_results[ALL_CASES.index(case)])


def test_every_row_classified_once(duck: Engine) -> None:
    bronze = bronze_table(ALL_CASES)
    t = ibis.memtable(bronze)
    out = duck.to_arrow(classify(t, get_profile("greenstream"), []))
    assert out.num_rows == bronze.num_rows
    assert sorted(out["_record_id"].to_pylist()) == sorted(bronze["_record_id"].to_pylist())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"unit_infer_kw_below": 2000}, "unit_infer", id="inference_bounds_crossed"),
        pytest.param({"grades": {"a": 50, "b": 75, "c": 60}}, "grades", id="grades_out_of_order"),
        pytest.param({"peak_start_hour": 21, "peak_end_hour": 17}, "peak", id="peak_reversed"),
        pytest.param({"roc_drop_pct": 100}, "roc_drop_pct", id="drop_100pct"),
    ],
)
def test_profile_validation(changes: dict[str, Any], message: str) -> None:
    data = PROFILES["greenstream"].model_dump() | changes
    with pytest.raises(ValueError, match=message):
        VeeProfile(**data)


def test_unknown_profile_is_input_error() -> None:
    with pytest.raises(InputError, match="greenstream"):
        get_profile("nope")


def test_uk_holidays_include_christmas() -> None:
    assert dt.date(2013, 12, 25) in uk_holidays(2013, 2013)


def _sorted_rows(t: pa.Table) -> list[dict[str, Any]]:
    return sorted(t.to_pylist(), key=lambda r: r["_record_id"])


def test_chunks_by_meter_give_the_same_result(duck: Engine) -> None:
    """Classifying meter by meter in small chunks is exactly classifying all at once."""
    bronze = bronze_table(ALL_CASES)
    table = duck.con.create_table("rule_cases_chunks", bronze, overwrite=True)
    profile, holidays = get_profile("greenstream"), uk_holidays(2012, 2024)
    whole = duck.to_arrow(classify(table, profile, holidays, checkpoint=duck.materialize))
    parts = [
        duck.to_arrow(p) for p in classify_chunks(duck, table, profile, holidays, max_readings=300)
    ]
    assert len(parts) > 3
    chunked = pa.concat_tables(parts)
    assert chunked.schema == whole.schema
    assert _sorted_rows(chunked) == _sorted_rows(whole)
    assert not [n for n in duck.con.list_tables() if n.startswith("wl_p")]  # released


def test_meter_chunks_keep_each_meter_whole() -> None:
    sizes = pa.table(
        {"meter_id": ["b", " a", "a", None, "c", "d"], "n": [5, 2, 2, 1, 9, 1]},
        schema=pa.schema([("meter_id", pa.string()), ("n", pa.int64())]),
    )
    chunks = meter_chunks(sizes, 5)
    # " a" and "a" are the same meter after stripping; "c" alone exceeds the limit.
    assert [(c.first, c.last, c.raw_min, c.raw_max, c.nulls, c.readings) for c in chunks] == [
        ("a", "a", " a", "a", False, 4),
        ("b", "b", "b", "b", False, 5),
        ("c", "c", "c", "c", False, 9),
        ("d", "d", "d", "d", True, 2),
    ]


def test_single_reading_meets_a_short_threshold(duck: Engine) -> None:
    """Profiles whose run threshold is one reading flag every member reading."""
    profile = get_profile("greenstream").model_copy(update={"overload_run_readings": 1})
    case = Case(
        [("2024-03-15T14:00:00", "1", "kW"), ("2024-03-15T14:30:00", "25", "kW")],
        rules={"fault_overload", "above_max"},
    )
    t = ibis.memtable(bronze_table([case]))
    out = duck.to_arrow(classify(t, profile, []))
    check_case(case, _sorted_rows(out)[-1])
