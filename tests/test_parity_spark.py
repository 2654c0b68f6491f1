"""One rule set, two engines: silver and gold on DuckDB and on local Spark, row for row."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from conftest import with_ctx
from rule_cases import CASES, Case
from test_vee_rules import check_case, classify_cases
from wattlake.config import Settings, load_settings
from wattlake.engine import DuckDBEngine, Engine
from wattlake.generate import generate
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.spec import TableSpec
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline

pytestmark = pytest.mark.spark

ALL_CASES: list[Case] = [p.values[0] for p in CASES]
COMPARED = (
    cat.SILVER_READINGS,
    cat.SILVER_QUARANTINE,
    cat.SILVER_USERS,
    cat.GOLD_HOURLY_METER,
    cat.GOLD_FLOW_HOURLY,
    cat.GOLD_DAILY_BALANCE,
    cat.GOLD_PEAK_HOURS,
)


@pytest.fixture(scope="module")
def spark_results(spark: Engine) -> dict[int, dict[str, Any]]:
    return classify_cases(spark)


@pytest.mark.parametrize("case", CASES)
def test_rule_case_spark(case: Case, spark_results: dict[int, dict[str, Any]]) -> None:
    check_case(case, spark_results[ALL_CASES.index(case)])


def _sorted(t: pa.Table, spec: TableSpec) -> list[dict[str, Any]]:
    cols = [c for c in spec.column_names if c not in ("_run_id",)]
    rows = t.select(cols).to_pylist()
    return sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r.values()))


@pytest.fixture(scope="module")
def two_homes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Settings]:
    root = tmp_path_factory.mktemp("parity")
    data = root / "in"
    res_lcl = generate(data / "lcl", 12, 4, seed=7, fmt="lcl", faults=True)
    res_csv = generate(
        data / "csv", 6, 4, seed=8, fmt="meter-csv", faults=True, start=dt.date(2024, 6, 1)
    )
    a = load_settings(home=root / "duck")
    with_ctx(a, ingest_files, [res_lcl.users_file, *res_lcl.files, *res_csv.files])
    b = load_settings(home=root / "spark")
    shutil.copytree(a.home, b.home)  # identical bronze, lineage and arrival times
    return a, b


def test_silver_and_gold_identical_on_duckdb_and_spark(
    two_homes: tuple[Settings, Settings], spark: Engine
) -> None:
    a, b = two_homes
    duck = DuckDBEngine()
    with_ctx(a, run_pipeline, engine=duck)
    with_ctx(b, run_pipeline, engine=spark)
    la, lb = Lake(a.home), Lake(b.home)
    for spec in COMPARED:
        ra, rb = _sorted(la.read(spec), spec), _sorted(lb.read(spec), spec)
        assert len(ra) == len(rb), spec.qualified
        assert len(ra) > 0, spec.qualified
        for x, y in zip(ra, rb, strict=True):
            for k in x:
                if isinstance(x[k], float):
                    assert x[k] == pytest.approx(y[k], rel=1e-9, abs=1e-9), (spec.qualified, k)
                else:
                    assert x[k] == y[k], (spec.qualified, k, x, y)


def test_spark_engine_reads_empty_tables(tmp_path: Path, spark: Engine) -> None:
    s = load_settings(home=tmp_path / "h")
    summary = with_ctx(s, run_pipeline, engine=spark)
    assert summary.step("silver").message == "no new bronze batches"
