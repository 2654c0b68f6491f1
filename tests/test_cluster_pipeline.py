"""The whole pipeline on the Spark standalone cluster with the lake on S3 and the warehouse
on PostgreSQL, against DuckDB on the same S3 server (and DuckDB on local disk): every silver,
gold and warehouse table equal row for row; the executors wrote the rows.

One input (12 households, 4 days, faults, generated weather and prices: P2P trades, modelled
PV, quarantine, gaps and estimates all occur) goes into three lakes with a pinned clock
(identical bronze and lineage) in two parts, each followed by a run: the first 3 days (every
table created, the warehouse loaded whole), then the last day (silver rewrites the meters'
window with `replaceWhere` on meter and time, gold and the warehouse only the dates touched):

- `local`: DuckDB, lake on local disk, DuckDB warehouse file;
- `duck_s3`: DuckDB, lake on `s3://` (delta-rs + DuckDB httpfs), PostgreSQL warehouse (COPY);
- `spark_s3`: Spark on the cluster's executors (delta-spark over s3a), PostgreSQL warehouse
  staged by the executors over JDBC.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from wattlake.config import Settings, load_settings
from wattlake.context import build_context, lake_for
from wattlake.engine import DuckDBEngine, Engine, SparkEngine
from wattlake.generate import generate
from wattlake.lake import catalog as cat
from wattlake.lake.spec import TableSpec
from wattlake.pipeline.demo_external import synthetic_external
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.pipeline.runner import RunSummary

pytestmark = [pytest.mark.spark, pytest.mark.cluster]

FIXED = dt.datetime(2024, 9, 30, 12, 0, tzinfo=dt.UTC)
# Lake tables the run writes (sme tables are the demo's other input, not part of a run).
COMPARED = [
    spec
    for spec in cat.ALL_TABLES
    if spec.schema in ("silver", "gold") and not spec.name.startswith(("report_", "sme_"))
    and spec not in (cat.SILVER_AGREEMENTS, cat.SILVER_PRODUCTS, cat.SILVER_METERPOINTS)
    and spec not in cat.FORECAST_TABLES  # written by `wattlake forecast`, not by a run
]  # fmt: skip
# Empty with this input: no meter registry loaded, no PVGIS series (compared all the same).
NOT_IN_INPUT = {cat.SILVER_REGISTRY.qualified, cat.SILVER_PV_POTENTIAL.qualified}
# Columns that differ between two runs by nature (run ids, wall-clock times).
VOLATILE = {"_run_id", "run_id", "loaded_at", "_loaded_at"}


def assert_same_rows(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> None:
    """Equal row for row; floats within one unit of the 4th decimal: gold stores sums rounded
    to 4 decimals, and a sum in another order (Spark's partial aggregates) may round a
    x.xxxx5 value the other way."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(w), (g, w)
        for a, b in zip(g, w, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1.01e-4), (g, w)
            else:
                assert a == b, (g, w)


def rows_of(table: pa.Table, drop: set[str] = VOLATILE) -> list[tuple[Any, ...]]:
    """Rows without volatile columns, floats to 9 decimals, sorted (order-free compare)."""
    cols = [c for c in table.column_names if c not in drop]
    out = []
    for r in table.select(cols).to_pylist():
        out.append(tuple(round(v, 9) if isinstance(v, float) else v for v in r.values()))
    return sorted(out, key=lambda r: tuple((v is None, str(v)) for v in r))


SPLIT = dt.date(2024, 3, 4)  # the generator starts on 2024-03-01: 3 days, then 1


def split_by_day(files: list[Path], out: Path) -> tuple[list[Path], list[Path]]:
    """Each LCL file cut in two by `SPLIT` (its header in both): readings before, from."""
    first, second = [], []

    def day(line: str) -> str:  # a broken line (no second field) goes with the first part
        fields = line.split(",")
        return fields[1][:10] if len(fields) > 1 else ""

    for f in files:
        header, *lines = f.read_text().splitlines(keepends=True)
        before = [ln for ln in lines if day(ln) < SPLIT.isoformat()]
        after = [ln for ln in lines if day(ln) >= SPLIT.isoformat()]
        for part, rows, dest in (("a", before, first), ("b", after, second)):
            p = out / part / f.name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(header + "".join(rows))
            dest.append(p)
    return first, second


def _run(settings: Settings, engine: Engine, job_group: Any = None) -> RunSummary:
    with build_context(settings, engine=engine, clock=lambda: FIXED) as ctx:
        if job_group is not None:
            job_group("pipeline", "wattlake run on the cluster")
        return run_pipeline(ctx)


def _ingest(settings: Settings, files: list[Path]) -> None:
    with build_context(settings, clock=lambda: FIXED) as ctx:
        ingest_files(ctx, files)


@pytest.fixture(scope="module")
def runs(
    delta_spark: Any,
    s3_env: dict[str, str],
    pg_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    import pg

    root = tmp_path_factory.mktemp("cluster-pipeline")
    gen = generate(root / "in", 12, 4, seed=42, fmt="lcl", faults=True, now=FIXED)
    first, second = split_by_day(gen.files, root / "parts")
    prefix = f"s3://{s3_env['WATTLAKE_S3_BUCKET']}/wl-pipeline-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        for k, v in s3_env.items():  # the lake's S3 endpoint and keys (`S3Settings.from_env`)
            mp.setenv(k, v)
        homes = {
            "local": load_settings(home=root / "local"),
            "duck_s3": load_settings(
                home=root / "duck_s3",
                lake=f"{prefix}/duck",
                warehouse=stack.enter_context(pg.fresh_database(pg_server)),
            ),
            "spark_s3": load_settings(
                home=root / "spark_s3",
                lake=f"{prefix}/spark",
                warehouse=stack.enter_context(pg.fresh_database(pg_server)),
            ),
        }
        for s in homes.values():
            with build_context(s, clock=lambda: FIXED) as ctx:
                ingest_files(ctx, [gen.users_file, *first])
                synthetic_external(ctx, gen, 42, root / "in" / "api")
        duck, spark = DuckDBEngine(), delta_spark.spark
        engines = {"local": duck, "duck_s3": duck, "spark_s3": SparkEngine(session=spark)}
        summaries: dict[str, list[RunSummary]] = {}
        for name, s in homes.items():
            group = spark.sparkContext.setJobGroup if name == "spark_s3" else None
            summaries[name] = [_run(s, engines[name], group)]
            _ingest(s, second)
            summaries[name].append(_run(s, engines[name], group))
        spark.sparkContext.setJobGroup("check", "read-back")
        duck.close()
        yield {"homes": homes, "summaries": summaries, "prefix": prefix}


def _lake_rows(settings: Settings, spec: TableSpec) -> list[tuple[Any, ...]]:
    return rows_of(lake_for(settings).read(spec))


def test_runs_succeeded_and_the_data_covers_every_table(runs: dict[str, Any]) -> None:
    for name, (full, incremental) in runs["summaries"].items():
        assert full.engine == ("spark" if name == "spark_s3" else "duckdb")
        assert "all dates" in full.step("warehouse").message, name
        # The second part rewrote each meter's window and loaded only the dates it touched.
        assert " from 2024-03-0" in incremental.step("silver").message, name
        assert "all dates" not in incremental.step("warehouse").message, name
        assert incremental.step("warehouse").rows_out > 0, name
    local = runs["homes"]["local"]
    empty = {s.qualified for s in COMPARED if not _lake_rows(local, s)}
    assert empty == NOT_IN_INPUT


@pytest.mark.parametrize("spec", COMPARED, ids=lambda s: s.qualified)
@pytest.mark.parametrize("other", ["duck_s3", "spark_s3"])
def test_lake_tables_equal_row_for_row(runs: dict[str, Any], spec: TableSpec, other: str) -> None:
    homes = runs["homes"]
    assert_same_rows(_lake_rows(homes[other], spec), _lake_rows(homes["local"], spec))


def test_warehouse_tables_equal_row_for_row(runs: dict[str, Any]) -> None:
    """PostgreSQL loaded from Python (COPY, DuckDB engine) and from the Spark executors
    (JDBC): the same dims and facts, surrogate keys included."""
    import pg

    a, b = (runs["homes"][n].warehouse for n in ("duck_s3", "spark_s3"))
    names = [
        r[0]
        for r in pg.query(
            a,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dw' "
            "AND table_name !~ '_y[0-9]{4}m[0-9]{2}$' ORDER BY 1",
        )
    ]
    assert {"dim_users", "dim_time", "fact_energy_flow", "fact_energy_transactions"} <= set(names)
    for name in names:
        cols = [
            r[0]
            for r in pg.query(
                a,
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'dw' "
                f"AND table_name = '{name}' ORDER BY ordinal_position",
            )
            if r[0] not in VOLATILE
        ]
        sql = f"SELECT {', '.join(cols)} FROM dw.{name}"
        got_a, got_b = pg.query(a, sql), pg.query(b, sql)
        assert len(got_a) > 0 or name in ("dim_prices", "fact_forecasts"), name
        assert sorted(map(repr, got_a)) == sorted(map(repr, got_b)), name


def test_executors_wrote_the_rows(runs: dict[str, Any], delta_spark: Any) -> None:
    """Every task of the Spark run ran on an executor of the cluster; the rows the executors
    wrote include every silver reading (written there, not by the driver)."""
    tasks = delta_spark.tasks("pipeline")
    assert tasks
    assert {t["executor"] for t in tasks} - {"driver"} == {t["executor"] for t in tasks}
    assert len({t["executor"] for t in tasks}) == 2
    silver = len(_lake_rows(runs["homes"]["spark_s3"], cat.SILVER_READINGS))
    assert sum(t["records_written"] for t in tasks) > silver


def test_lake_objects_are_in_the_bucket(runs: dict[str, Any], s3_env: dict[str, str]) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_env["WATTLAKE_S3_ENDPOINT"],
        aws_access_key_id=s3_env["WATTLAKE_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_env["WATTLAKE_S3_SECRET_ACCESS_KEY"],
        region_name=s3_env.get("WATTLAKE_S3_REGION", "us-east-1"),
    )
    bucket, _, prefix = runs["prefix"].removeprefix("s3://").partition("/")
    for engine in ("duck", "spark"):
        key = f"{prefix}/{engine}/gold/energy_flow_hourly/_delta_log/"
        found = client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0)
        assert found >= 2, key  # the create and at least the run's commit
    assert not (Path(runs["homes"]["spark_s3"].home) / "lake").exists()
