"""The PostgreSQL warehouse target on a real server: same contents as DuckDB, idempotent,
integrity, partitions, and the seed's dashboard queries on both targets.

The server is `$WATTLAKE_TEST_PG_URL`, or the throwaway cluster of `scripts/postgres.sh`
(installed and started when missing; skipped when impossible unless WATTLAKE_REQUIRE_PG=1).
Every test works in its own fresh database.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

import pg
from conftest import with_ctx
from wattlake.config import Settings, load_settings
from wattlake.generate import GenerationResult, generate
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.pipeline.steps.warehouse import load_warehouse
from wattlake.warehouse import loader
from wattlake.warehouse.targets import warehouse_path

# The seed's dashboard queries (p2p-trading-platform.md, UC3 "SQL Queries (examples)"),
# verbatim; they name tables without a schema, so sessions put `dw` on the search path.
KPI_SQL = """-- KPI: Total transactions
SELECT COUNT(*) as total_transactions,
       SUM(transaction_amount_eur) as total_revenue,
       SUM(energy_kwh) as total_volume
FROM fact_energy_transactions t
JOIN dim_time dt ON t.time_sk = dt.time_sk
WHERE dt.date >= CURRENT_DATE - INTERVAL '30 days';"""
HOURLY_SQL = """-- Energy flow hourly average
SELECT dt.hour,
       AVG(production_kwh) as avg_production,
       AVG(consumption_kwh) as avg_consumption
FROM fact_energy_flow f
JOIN dim_time dt ON f.time_sk = dt.time_sk
WHERE dt.date >= CURRENT_DATE - INTERVAL '30 days'
GROUP BY dt.hour
ORDER BY dt.hour;"""
# Generated data lives in March 2024: the same queries with a fixed "today".
REFERENCE_DATE = "DATE '2024-03-20'"

DW_TABLES = (
    "dim_time",
    "dim_users",
    "dim_weather",
    "dim_prices",
    "fact_energy_flow",
    "fact_energy_transactions",
    "fact_monthly_summary",
)
FLOW_MEASURES = (
    "production_kwh",
    "consumption_kwh",
    "self_consumption_kwh",
    "surplus_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "p2p_import_kwh",
    "p2p_export_kwh",
)
MONTHLY_MEASURES = (
    "total_production",
    "total_consumption",
    "total_self_consumption",
    "total_grid_import",
    "total_grid_export",
    "total_p2p_import",
    "total_p2p_export",
    "total_p2p_revenue",
    "total_revenue",
    "total_savings",
    "total_co2_saved",
)
USER_COLS = (
    "user_id",
    *loader.USER_ATTRS,
    "effective_date",
    "expiration_date",
    "is_current",
    "is_deleted",
)
# Rows by natural keys, portable SQL for both targets.
NATURAL_ROWS = {
    "dim_users": f"SELECT {', '.join(USER_COLS)} FROM dw.dim_users ORDER BY 1, 12",
    "fact_energy_flow": (
        f"SELECT u.user_id, u.effective_date, f.time_sk, {', '.join(FLOW_MEASURES)}, f.intervals "
        "FROM dw.fact_energy_flow f JOIN dw.dim_users u ON u.user_sk = f.user_sk "
        "ORDER BY 1, 3"
    ),
    "fact_monthly_summary": (
        f"SELECT u.user_id, u.effective_date, m.month_sk, m.month_start, "
        f"{', '.join(MONTHLY_MEASURES)} FROM dw.fact_monthly_summary m "
        "JOIN dw.dim_users u ON u.user_sk = m.user_sk ORDER BY 1, 2, 3"
    ),
    "dim_time": "SELECT * FROM dw.dim_time ORDER BY time_sk",
}


# -- reading both targets ------------------------------------------------------------------------
def duck_rows(home: Path, sql: str, setup: str | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(warehouse_path(home)), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if setup:
            con.execute(setup)
        return con.execute(sql).fetchall()
    finally:
        con.close()


def pg_one(url: str, sql: str) -> Any:
    return pg.query(url, sql)[0][0]


def same_rows(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], rel: float = 1e-9) -> bool:
    """Equal row lists; floats compared with a relative tolerance (summation order)."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for va, vb in zip(ra, rb, strict=True):
            if isinstance(va, float) and isinstance(vb, float):
                if not math.isclose(va, vb, rel_tol=rel, abs_tol=1e-9):
                    return False
            elif va != vb:
                return False
    return True


def pg_snapshot(url: str) -> dict[str, tuple[Any, ...]]:
    """Row count and an md5 of every row (surrogate keys included) per `dw` table."""
    return {
        t: tuple(
            pg.query(
                url,
                f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                f"FROM dw.{t} x",
            )[0]
        )
        for t in DW_TABLES
    }


# -- homes built end to end ---------------------------------------------------------------------
@dataclass
class Homes:
    gen: GenerationResult
    duck: Settings
    pg: Settings


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory, pg_server: str) -> Iterator[Homes]:
    """Faulty generated data (with profile history) through the whole pipeline twice:
    one home loads the DuckDB file, the other a fresh PostgreSQL database."""
    root = tmp_path_factory.mktemp("pg_e2e")
    gen = generate(root / "in", 12, 6, seed=3, fmt="lcl", faults=True, households_per_file=6)
    duck = load_settings(home=root / "duck")
    with_ctx(duck, ingest_files, [gen.users_file, *gen.files])
    with_ctx(duck, run_pipeline)
    with pg.fresh_database(pg_server) as url:
        s = load_settings(home=root / "pg", warehouse=url)
        with_ctx(s, ingest_files, [gen.users_file, *gen.files])
        with_ctx(s, run_pipeline)
        yield Homes(gen, duck, s)


def _reload(homes: Homes, url: str) -> Settings:
    """Full load of the PostgreSQL home's lake into the database at `url`."""
    s = load_settings(home=homes.pg.home, warehouse=url)
    with_ctx(s, load_warehouse, [], full_users=True)
    return s


# -- tests -------------------------------------------------------------------------------------
def test_same_contents_as_duckdb(homes: Homes) -> None:
    url = homes.pg.warehouse
    assert url is not None
    # The two lakes came from the same files: gold must match before the warehouse can.
    gold = [Lake(h.home).read(cat.GOLD_FLOW_HOURLY).num_rows for h in (homes.duck, homes.pg)]
    assert gold[0] == gold[1] > 0
    for table, sql in NATURAL_ROWS.items():
        d, p = duck_rows(homes.duck.home, sql), pg.query(url, sql)
        assert len(d) == len(p) > 0, table
        assert same_rows(d, p), table
    # Counts and sums per table (the natural-key comparison above is the stricter one).
    for table, cols in (
        ("fact_energy_flow", FLOW_MEASURES),
        ("fact_monthly_summary", MONTHLY_MEASURES),
        ("dim_users", ("panel_kwp", "latitude")),
    ):
        sql = f"SELECT count(*), {', '.join(f'sum({c})' for c in cols)} FROM dw.{table}"
        assert same_rows(duck_rows(homes.duck.home, sql), pg.query(url, sql)), table
    # SCD2 history is present and surrogate keys are assigned the same way.
    sql = "SELECT user_sk, user_id, effective_date FROM dw.dim_users ORDER BY 1"
    assert duck_rows(homes.duck.home, sql) == pg.query(url, sql)


def test_second_run_and_reloads_change_nothing(homes: Homes) -> None:
    url = homes.pg.warehouse
    assert url is not None
    before = pg_snapshot(url)
    summary = with_ctx(homes.pg, run_pipeline)
    assert summary.step("silver").message == "no new bronze batches"  # type: ignore[union-attr]
    assert pg_snapshot(url) == before
    # The loader itself is idempotent: incremental and full reloads of the same gold.
    dates = [
        d
        for (d,) in pg.query(
            url,
            "SELECT DISTINCT date FROM dw.dim_time t JOIN "
            "dw.fact_energy_flow f USING (time_sk) ORDER BY 1",
        )
    ]
    with_ctx(homes.pg, load_warehouse, dates[1:3], full_users=False)
    assert pg_snapshot(url) == before
    with_ctx(homes.pg, load_warehouse, [], full_users=True)
    assert pg_snapshot(url) == before


def test_integrity(homes: Homes, pg_db: str) -> None:
    _reload(homes, pg_db)
    # Energy balance identity on every fact row.
    assert (
        pg_one(
            pg_db,
            """SELECT count(*) FROM dw.fact_energy_flow WHERE abs(production_kwh
            + grid_import_kwh + p2p_import_kwh - consumption_kwh - grid_export_kwh
            - p2p_export_kwh) > 1e-6""",
        )
        == 0
    )
    # One current row per user; SCD2 history present.
    assert (
        pg_one(
            pg_db,
            "SELECT count(*) FROM (SELECT user_id FROM dw.dim_users GROUP BY 1 "
            "HAVING count(*) FILTER (WHERE is_current) <> 1) x",
        )
        == 0
    )
    assert (
        pg_one(pg_db, "SELECT max(n) FROM (SELECT count(*) n FROM dw.dim_users GROUP BY user_id) x")
        >= 2
    )
    # No orphans (the foreign keys enforce it; checked anyway), facts at the valid version.
    assert (
        pg_one(
            pg_db,
            "SELECT count(*) FROM dw.fact_energy_flow f WHERE user_sk NOT IN "
            "(SELECT user_sk FROM dw.dim_users) OR time_sk NOT IN "
            "(SELECT time_sk FROM dw.dim_time)",
        )
        == 0
    )
    assert (
        pg_one(
            pg_db,
            """SELECT count(*) FROM dw.fact_energy_flow f
            JOIN dw.dim_users u USING (user_sk) JOIN dw.dim_time t USING (time_sk)
            WHERE t.date >= u.expiration_date""",
        )
        == 0
    )
    # Monthly summary = sum of facts; facts = gold flow.
    diff = pg_one(
        pg_db,
        "SELECT abs(sum(total_consumption) - (SELECT sum(consumption_kwh) "
        "FROM dw.fact_energy_flow)) FROM dw.fact_monthly_summary",
    )
    assert diff < 1e-3
    gold = Lake(homes.pg.home).read(cat.GOLD_FLOW_HOURLY).num_rows
    assert pg_one(pg_db, "SELECT count(*) FROM dw.fact_energy_flow") == gold
    # A full reload into a fresh database equals what the pipeline loaded.
    assert homes.pg.warehouse is not None
    assert pg_snapshot(pg_db) == pg_snapshot(homes.pg.warehouse)


def test_fact_tables_are_partitioned_with_keys(homes: Homes, pg_db: str) -> None:
    _reload(homes, pg_db)
    parted = {
        r[0]
        for r in pg.query(
            pg_db, "SELECT partrelid::regclass::text FROM pg_partitioned_table ORDER BY 1"
        )
    }
    assert {"dw.fact_energy_flow", "dw.fact_monthly_summary"} <= parted
    children = pg.query(
        pg_db,
        "SELECT inhparent::regclass::text, inhrelid::regclass::text FROM pg_inherits ORDER BY 1, 2",
    )
    months = {
        r[0] for r in pg.query(pg_db, "SELECT DISTINCT time_sk / 10000 FROM dw.fact_energy_flow")
    }
    flow_parts = [c for p, c in children if p == "dw.fact_energy_flow"]
    assert sorted(flow_parts) == [
        f"dw.fact_energy_flow_y{m // 100}m{m % 100:02d}" for m in sorted(months)
    ]
    assert len([c for p, c in children if p == "dw.fact_monthly_summary"]) == len(months)
    # Every row sits in its month's partition (no default partition exists).
    for part in flow_parts:
        y, m = int(part[-7:-3]), int(part[-2:])
        bad = pg_one(pg_db, f"SELECT count(*) FROM {part} WHERE time_sk / 10000 <> {y * 100 + m}")
        assert bad == 0
    # Keys: PK includes the partition key, FKs to the dimensions, unique SCD2 key.
    cons = set(
        pg.query(
            pg_db,
            "SELECT conrelid::regclass::text, contype, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'dw'::regnamespace AND conparentid = 0",
        )
    )
    assert ("dw.fact_energy_flow", "p", "PRIMARY KEY (user_sk, time_sk)") in cons
    assert ("dw.fact_monthly_summary", "p", "PRIMARY KEY (user_sk, month_sk)") in cons
    assert ("dw.dim_users", "u", "UNIQUE (user_id, effective_date)") in cons
    fks = {(t, d) for t, c, d in cons if c == "f"}
    assert ("dw.fact_energy_flow", "FOREIGN KEY (user_sk) REFERENCES dw.dim_users(user_sk)") in fks
    assert ("dw.fact_energy_flow", "FOREIGN KEY (time_sk) REFERENCES dw.dim_time(time_sk)") in fks
    # A one-month query reads only that month's partition.
    m = min(months)
    assert scanned_partitions(pg_db, m) == {f"fact_energy_flow_y{m // 100}m{m % 100:02d}"}


def scanned_partitions(url: str, month_sk: int) -> set[str]:
    """Partitions of `fact_energy_flow` in the plan of a query on one month (yyyymm)."""
    nxt = month_sk + 1 if month_sk % 100 < 12 else (month_sk // 100 + 1) * 100 + 1
    plan = "\n".join(
        r[0]
        for r in pg.query(
            url,
            "EXPLAIN SELECT sum(consumption_kwh) FROM dw.fact_energy_flow "
            f"WHERE time_sk >= {month_sk * 10000} AND time_sk < {nxt * 10000}",
        )
    )
    return set(re.findall(r"on (fact_energy_flow_y\d{4}m\d{2})\b", plan))


@pytest.mark.parametrize("reference", [None, REFERENCE_DATE], ids=["as_written", "fixed_date"])
@pytest.mark.parametrize("sql", [KPI_SQL, HOURLY_SQL], ids=["kpi_30_days", "hourly_flow"])
def test_dashboard_queries_same_on_both(
    homes: Homes, pg_db: str, sql: str, reference: str | None
) -> None:
    _reload(homes, pg_db)
    if reference is not None:
        sql = sql.replace("CURRENT_DATE", reference)
    duck = duck_rows(homes.duck.home, sql, setup="SET schema = 'dw'")
    post = pg.query(pg_db, sql, setup="SET search_path = dw")
    assert same_rows(duck, post), (duck, post)
    if reference is not None and sql.startswith("-- Energy flow"):
        assert [r[0] for r in post] == list(range(24))
        assert sum(r[2] for r in post) > 0 and sum(r[1] for r in post) > 0
    if sql.startswith("-- KPI"):
        # The data are from 2024: trades in the 30 days before the fixed reference date,
        # none before today's date.
        assert (post[0][0] > 0) if reference is not None else (post[0][0] == 0)


def test_incremental_load_matches_duckdb_and_full_rebuild(
    tmp_path: Path, pg_db: str, pg_server: str
) -> None:
    """Two runs crossing a month boundary: the second run loads only new dates (and creates
    the April partitions); PostgreSQL equals DuckDB and a full rebuild."""
    first = generate(
        tmp_path / "a", 6, 3, seed=5, fmt="meter-csv", faults=True, start=dt.date(2024, 3, 29)
    )
    later = generate(
        tmp_path / "b", 6, 3, seed=5, fmt="meter-csv", faults=True, start=dt.date(2024, 4, 1)
    )
    duck = load_settings(home=tmp_path / "duck")
    post = load_settings(home=tmp_path / "pg", warehouse=pg_db)
    for s in (duck, post):
        with_ctx(s, ingest_files, [first.users_file, *first.files])
        with_ctx(s, run_pipeline)
        with_ctx(s, ingest_files, later.files)
        summary = with_ctx(s, run_pipeline)
        wh = summary.step("warehouse")
        assert wh is not None and "all dates" not in wh.message, wh.message
    for table, sql in NATURAL_ROWS.items():
        assert same_rows(duck_rows(duck.home, sql), pg.query(pg_db, sql)), table
    partitions = pg_one(
        pg_db,
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE c.relkind = 'r'",
    )
    assert partitions == 4  # 2 fact tables x (March, April)
    assert scanned_partitions(pg_db, 202404) == {"fact_energy_flow_y2024m04"}
    assert scanned_partitions(pg_db, 202403) == {"fact_energy_flow_y2024m03"}
    with pg.fresh_database(pg_server) as full_url:
        s = load_settings(home=post.home, warehouse=full_url)
        with_ctx(s, load_warehouse, [], full_users=True)
        for table, sql in NATURAL_ROWS.items():
            assert same_rows(pg.query(full_url, sql), pg.query(pg_db, sql)), table


def test_failed_load_rolls_back(homes: Homes, pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _reload(homes, pg_db)
    before = pg_snapshot(pg_db)

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("injected failure after the facts were replaced")

    monkeypatch.setattr(loader, "_load_monthly", boom)
    with pytest.raises(RuntimeError, match="injected"):
        with_ctx(s, load_warehouse, [], full_users=True)
    assert pg_snapshot(pg_db) == before
    # No temp or staging leftovers in the warehouse schema.
    names = {
        r[0] for r in pg.query(pg_db, "SELECT tablename FROM pg_tables WHERE schemaname = 'dw'")
    }
    assert not any(n.startswith(("stage_", "desired")) for n in names)
