"""End to end on generated faulty data: accounting, labels, idempotency, incrementality,
warehouse integrity."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import sql_of, with_ctx
from wattlake.config import Settings, load_settings
from wattlake.generate import GenerationResult, generate
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.query import run_sql
from wattlake.warehouse.targets import warehouse_path

DATA_TABLES = (
    cat.SILVER_READINGS,
    cat.SILVER_QUARANTINE,
    cat.GOLD_HOURLY_METER,
    cat.GOLD_FLOW_HOURLY,
    cat.GOLD_DAILY_BALANCE,
    cat.GOLD_PEAK_HOURS,
    cat.GOLD_P2P_TRADES,
    cat.GOLD_USER_KPIS,
    cat.GOLD_COMMUNITY_KPIS,
    cat.GOLD_USER_PROFILES,
)
# Malformed lines: structural breakage is a dead letter, an unparseable field is quarantined.
MALFORMED_WHERE = {
    "wrong_field_count": "dead_letter",
    "junk": "dead_letter",
    "empty_meter_id": "dead_letter",
    "non_numeric_value": "value_missing",
    "impossible_timestamp": "ts_unparseable",
}
LABEL_RULE = {"negative": "negative", "over_limit": "above_max", "future": "future_timestamp"}


def one(home: Path, sql: str) -> Any:
    return run_sql(sql_of(home), sql)[1][0][0]


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, GenerationResult]:
    root = tmp_path_factory.mktemp("e2e")
    gen = generate(root / "in", 30, 6, seed=3, fmt="lcl", faults=True, households_per_file=10)
    s = load_settings(home=root / "home")
    with_ctx(s, ingest_files, [gen.users_file, *gen.files])
    with_ctx(s, run_pipeline)
    return s, gen


def test_row_accounting(faulty: tuple[Settings, GenerationResult]) -> None:
    s, gen = faulty
    h = s.home
    bronze = one(h, "SELECT count(*) FROM bronze.meter_readings")
    silver = one(h, "SELECT count(*) FROM silver.meter_readings WHERE NOT is_estimated")
    quarantine = one(h, "SELECT count(*) FROM silver.quarantine")
    assert bronze == silver + quarantine
    assert one(h, "SELECT count(DISTINCT _record_id) FROM silver.meter_readings") == silver
    assert (
        one(
            h,
            "SELECT count(*) FROM silver.meter_readings WHERE is_estimated "
            "AND (_record_id IS NOT NULL OR provenance <> 'estimated')",
        )
        == 0
    )
    assert (
        one(
            h,
            "SELECT count(*) FROM bronze.meter_readings b WHERE _record_id NOT IN "
            "(SELECT _record_id FROM silver.meter_readings UNION ALL "
            "SELECT _record_id FROM silver.quarantine)",
        )
        == 0
    )
    lines = sum(len(f.read_text().splitlines()) - 1 for f in gen.files)
    dups = one(h, "SELECT sum(rows_duplicate) FROM ops.runs WHERE step = 'ingest'")
    dead = one(
        h,
        "SELECT count(*) FROM ops.dead_letter d JOIN ops.manifest m USING (batch_id) "
        "WHERE m.format = 'lcl'",
    )
    assert lines == bronze + dups + dead
    assert gen.readings == lines
    assert (
        one(
            h,
            "SELECT count(*) FROM (SELECT meter_id, ts FROM silver.meter_readings "
            "GROUP BY ALL HAVING count(*) > 1)",
        )
        == 0
    )


def _labels(gen: GenerationResult) -> list[dict[str, str]]:
    assert gen.labels_file is not None
    with open(gen.labels_file) as fh:
        return list(csv.DictReader(fh))


def test_labelled_faults_land_where_expected(faulty: tuple[Settings, GenerationResult]) -> None:
    s, gen = faulty
    h = s.home
    labels = _labels(gen)
    dead = {
        (Path(f).name, ln)
        for f, ln in run_sql(sql_of(h), "SELECT source_file, line_number FROM ops.dead_letter")[1]
    }
    quarantined = {
        (Path(f).name, ln): rules
        for f, ln, rules in run_sql(
            sql_of(h), "SELECT _source_file, _row_number, rules FROM silver.quarantine"
        )[1]
    }
    dup_total = one(h, "SELECT sum(rows_duplicate) FROM ops.runs WHERE step = 'ingest'")
    seen: dict[str, int] = {}
    for lab in labels:
        key = (lab["file"], int(lab["line"])) if lab["line"] else None
        kind = lab["fault"]
        seen[kind] = seen.get(kind, 0) + 1
        if kind == "malformed":
            where = MALFORMED_WHERE[lab["detail"]]
            if where == "dead_letter":
                assert key in dead, lab
            else:
                assert where in quarantined.get(key, ""), lab
        elif kind in LABEL_RULE:
            assert LABEL_RULE[kind] in quarantined.get(key, ""), lab
    assert dup_total == seen["duplicate"]
    assert {"malformed", "negative", "over_limit", "future", "duplicate"} <= set(seen)


def _versions(lake: Lake) -> dict[str, int]:
    return {s.qualified: lake.table(s).version() for s in DATA_TABLES}  # type: ignore[union-attr]


def _warehouse_counts(home: Path) -> dict[str, Any]:
    con = duckdb.connect(str(warehouse_path(home)), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM dw.{t}").fetchall()
            for t in ("dim_time", "dim_users", "fact_energy_flow", "fact_monthly_summary")
        }
    finally:
        con.close()


def test_second_run_changes_nothing(faulty: tuple[Settings, GenerationResult]) -> None:
    s, _ = faulty
    lake = Lake(s.home)
    before, wh_before = _versions(lake), _warehouse_counts(s.home)
    summary = with_ctx(s, run_pipeline)
    assert _versions(lake) == before
    assert _warehouse_counts(s.home) == wh_before
    assert summary.step("silver").message == "no new bronze batches"  # type: ignore[union-attr]


def test_warehouse_integrity(faulty: tuple[Settings, GenerationResult]) -> None:
    s, _ = faulty
    h = s.home
    # Energy balance identity on every fact row.
    assert (
        one(
            h,
            """SELECT count(*) FROM dw.fact_energy_flow WHERE abs(production_kwh
        + grid_import_kwh + p2p_import_kwh - consumption_kwh - grid_export_kwh
        - p2p_export_kwh) > 1e-6""",
        )
        == 0
    )
    # One current row per user, no orphans, SCD2 history present.
    assert (
        one(
            h,
            "SELECT count(*) FROM (SELECT user_id FROM dw.dim_users WHERE is_current "
            "GROUP BY 1 HAVING count(*) <> 1)",
        )
        == 0
    )
    assert one(h, "SELECT count(DISTINCT user_id) FROM dw.dim_users") == one(
        h, "SELECT count(*) FROM dw.dim_users WHERE is_current"
    )
    assert (
        one(
            h,
            "SELECT count(*) FROM dw.fact_energy_flow f WHERE user_sk NOT IN "
            "(SELECT user_sk FROM dw.dim_users) OR time_sk NOT IN "
            "(SELECT time_sk FROM dw.dim_time)",
        )
        == 0
    )
    assert one(h, "SELECT max(n) FROM (SELECT count(*) n FROM dw.dim_users GROUP BY user_id)") >= 2
    # Facts point at the version valid at that time.
    assert (
        one(
            h,
            """SELECT count(*) FROM dw.fact_energy_flow f
        JOIN dw.dim_users u USING (user_sk) JOIN dw.dim_time t USING (time_sk)
        WHERE t.date >= u.expiration_date""",
        )
        == 0
    )
    # Monthly summary = sum of facts; facts = gold flow.
    assert (
        one(
            h,
            """SELECT round(abs(sum(total_consumption) - (SELECT sum(consumption_kwh)
        FROM dw.fact_energy_flow)), 3) FROM dw.fact_monthly_summary""",
        )
        == 0
    )
    assert one(h, "SELECT count(*) FROM dw.fact_energy_flow") == one(
        h, "SELECT count(*) FROM gold.energy_flow_hourly"
    )
    # Daily balance = sum of hourly flow.
    assert (
        one(
            h,
            """SELECT count(*) FROM gold.daily_energy_balance d JOIN (
        SELECT user_id, date, sum(consumption_kwh) c FROM gold.energy_flow_hourly GROUP BY ALL
        ) h USING (user_id, date) WHERE abs(d.consumption_kwh - h.c) > 1e-3""",
        )
        == 0
    )
    # P2P market: what buyers import is what sellers export is what the transactions hold.
    traded = one(h, "SELECT round(sum(energy_kwh), 3) FROM dw.fact_energy_transactions")
    assert traded and traded > 0
    assert one(h, "SELECT round(sum(p2p_import_kwh), 3) FROM dw.fact_energy_flow") == traded
    assert one(h, "SELECT round(sum(p2p_export_kwh), 3) FROM dw.fact_energy_flow") == traded
    assert (
        one(
            h,
            "SELECT count(*) FROM dw.fact_energy_transactions WHERE seller_sk = buyer_sk "
            "OR energy_kwh <= 0",
        )
        == 0
    )
    assert one(h, "SELECT round(sum(energy_kwh), 3) FROM gold.p2p_trades") == traded
    # Money: monthly P2P revenue = Σ trade amounts = Σ the users' daily P2P revenue; the
    # monthly revenue (feed-in + P2P) = Σ the daily KPI revenue.
    sales = one(h, "SELECT round(sum(amount_eur), 2) FROM gold.p2p_trades")
    assert sales and sales > 0
    assert one(h, "SELECT round(sum(total_p2p_revenue), 2) FROM dw.fact_monthly_summary") == sales
    assert one(h, "SELECT round(sum(p2p_revenue_eur), 2) FROM gold.p2p_user_kpis_daily") == sales
    assert one(
        h,
        "SELECT abs((SELECT sum(total_revenue) FROM dw.fact_monthly_summary) - "
        "(SELECT sum(revenue_eur) FROM gold.p2p_user_kpis_daily))",
    ) == pytest.approx(0, abs=0.05)
    # Profiles: one per user, totals = Σ the daily KPIs, sellers sold.
    assert one(h, "SELECT count(*) FROM gold.p2p_user_profiles") == one(
        h, "SELECT count(DISTINCT user_id) FROM gold.energy_flow_hourly"
    )
    assert one(h, "SELECT round(sum(p2p_revenue_eur), 2) FROM gold.p2p_user_profiles") == sales
    assert (
        one(
            h,
            "SELECT count(*) FROM gold.p2p_user_profiles WHERE market_role = 'seller' "
            "AND p2p_export_kwh <= 0",
        )
        == 0
    )
    # Every user-day has a KPI row; communities trade only internally.
    assert one(h, "SELECT count(*) FROM gold.p2p_user_kpis_daily") == one(
        h, "SELECT count(*) FROM gold.daily_energy_balance"
    )
    assert (
        one(
            h,
            "SELECT count(*) FROM gold.p2p_community_kpis_daily "
            "WHERE abs(p2p_import_kwh - p2p_export_kwh) > 1e-6",
        )
        == 0
    )
    # Prosumers produce, top-3 peaks per day.
    assert one(h, "SELECT sum(production_kwh) FROM gold.daily_energy_balance") > 0
    assert one(h, "SELECT max(n) FROM (SELECT count(*) n FROM gold.peak_hours GROUP BY date)") == 3


def test_incremental_equals_full_rebuild(tmp_path: Path) -> None:
    first = generate(
        tmp_path / "a", 8, 3, seed=5, fmt="meter-csv", faults=True, start=dt.date(2024, 3, 1)
    )
    later = generate(
        tmp_path / "b", 8, 3, seed=5, fmt="meter-csv", faults=True, start=dt.date(2024, 3, 4)
    )
    inc = load_settings(home=tmp_path / "inc")
    with_ctx(inc, ingest_files, first.files)
    with_ctx(inc, run_pipeline)
    with_ctx(inc, ingest_files, later.files)
    summary = with_ctx(inc, run_pipeline)
    full = load_settings(home=tmp_path / "full")
    with_ctx(full, ingest_files, [*first.files, *later.files])
    with_ctx(full, run_pipeline)
    # Arrival times and batch ids differ between the homes: compare without lineage.
    assert _without_lineage(inc.home) == _without_lineage(full.home)
    # The second run re-read one day of history and rewrote only from the new data on.
    silver = summary.step("silver")
    assert silver is not None and "from 2024-03-04" in silver.message


def _without_lineage(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    lake = Lake(home)
    out = {}
    for spec in DATA_TABLES:
        cols = [c for c in spec.column_names if not c.startswith("_")]
        rows = lake.read(spec).select(cols).to_pylist()
        out[spec.qualified] = sorted(tuple(str(v) for v in r.values()) for r in rows)
    return out
