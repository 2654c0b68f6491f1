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
from wattlake.transforms.calendar import uk_holidays
from wattlake.transforms.silver import classify
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
