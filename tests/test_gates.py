"""Quality gates inside `wattlake run`: a corrupted batch stops promotion; --force records it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import sql_of, with_ctx, write
from wattlake.config import load_settings
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.quality.runner import QualityGateError
from wattlake.query import run_sql

HEADER = "meter_id,timestamp,value,unit\n"


def _day(meter: str, day: int) -> str:
    return "".join(
        f"{meter},2024-03-{day:02d}T{h:02d}:{m:02d}:00Z,{0.5 + h / 48:.3f},kW\n"
        for h in range(24)
        for m in (0, 30)
    )


def test_corrupted_silver_blocks_promotion_until_forced(tmp_path: Path) -> None:
    # Gates over every row (`gate_scope = "all"`): a corruption anywhere blocks.
    s = load_settings(home=tmp_path / "h", gate_scope="all")
    day1 = HEADER + _day("A", 4) + _day("B", 4) + _day("C", 4)
    with_ctx(s, ingest_files, [write(tmp_path / "d1.csv", day1)])
    with_ctx(s, run_pipeline)
    lake = Lake(s.home)
    facts_before = run_sql(sql_of(s.home), "SELECT count(*) FROM dw.fact_energy_flow")[1]
    # Corrupt silver outside the next batch's meters: a duplicated (meter_id, ts) key of C.
    silver = lake.read(cat.SILVER_READINGS)
    c_rows = silver.filter(pc.equal(silver["meter_id"], "C"))
    lake.append(cat.SILVER_READINGS, c_rows.slice(0, 1))
    with_ctx(s, ingest_files, [write(tmp_path / "d2.csv", HEADER + _day("A", 5) + _day("B", 5))])
    with pytest.raises(QualityGateError, match=r"silver\.readings\.unique_meter_ts"):
        with_ctx(s, run_pipeline)
    # Not promoted: the warehouse still has day 1 only; the gold checkpoint was not written.
    assert run_sql(sql_of(s.home), "SELECT count(*) FROM dw.fact_energy_flow")[1] == facts_before
    blocked = run_sql(
        sql_of(s.home),
        "SELECT step, status, message FROM ops.runs "
        "WHERE status IN ('blocked', 'overridden') ORDER BY started_at",
    )[1]
    assert blocked and blocked[0][1] == "blocked"
    failed = run_sql(
        sql_of(s.home),
        "SELECT sample FROM ops.quality_results WHERE NOT passed "
        "AND check_id = 'silver.readings.unique_meter_ts'",
    )[1]
    assert failed and "C" in failed[-1][0]
    # Forced: promoted, and the override is on record.
    with_ctx(s, run_pipeline, force=True)
    assert (
        run_sql(
            sql_of(s.home),
            "SELECT count(*) FROM ops.runs WHERE status = 'overridden' "
            "AND message LIKE '%unique_meter_ts%'",
        )[1][0][0]
        >= 1
    )
    days = run_sql(
        sql_of(s.home),
        "SELECT count(DISTINCT t.date) FROM dw.fact_energy_flow f "
        "JOIN dw.dim_time t USING (time_sk)",
    )[1][0][0]
    assert days == 2
    assert dt.date(2024, 3, 5) in {
        r[0]
        for r in run_sql(sql_of(s.home), "SELECT DISTINCT date FROM gold.daily_energy_balance")[1]
    }


def test_alerts_reach_a_webhook(tmp_path: Path) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict[str, object]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        s = load_settings(home=tmp_path / "h", alert_webhook_url=url)
        # Two days of meter A with a 30 h hole: a missing_extended (critical) alert.
        text = _day("A", 4).splitlines()[:20] + _day("A", 5).splitlines()[40:]
        with_ctx(s, ingest_files, [write(tmp_path / "gap.csv", HEADER + "\n".join(text) + "\n")])
        with_ctx(s, run_pipeline)
    finally:
        server.shutdown()
    alerts = [a for batch in received for a in batch["alerts"]]  # type: ignore[union-attr]
    assert any(a["rule"] == "missing_extended" and a["severity"] == "critical" for a in alerts)


def test_run_scoped_gates_judge_what_the_run_promotes(tmp_path: Path) -> None:
    """By default a gate checks the meters and dates its run writes: a corruption there
    blocks, one elsewhere is left to `wattlake quality report` (which checks every row)."""
    from wattlake.quality.runner import run_checks

    s = load_settings(home=tmp_path / "h")
    early_b = _day("B", 4).replace("2024-03-04", "2024-02-20")  # outside any later rewrite
    day1 = HEADER + early_b + _day("A", 4) + _day("B", 4) + _day("C", 4)
    with_ctx(s, ingest_files, [write(tmp_path / "d1.csv", day1)])
    with_ctx(s, run_pipeline)
    lake = Lake(s.home)
    silver = lake.read(cat.SILVER_READINGS)
    for meter in ("C", "A"):  # a duplicate outside (C) and inside (A) the next run's meters
        rows = silver.filter(pc.equal(silver["meter_id"], meter))
        lake.append(cat.SILVER_READINGS, rows.slice(0, 1))
    # Day 5 of A rewrites A from day 4 on (the lookback): A's duplicate is rewritten away.
    with_ctx(s, ingest_files, [write(tmp_path / "d2.csv", HEADER + _day("A", 5))])
    summary = with_ctx(s, run_pipeline)
    assert summary.step("warehouse") is not None
    # C's duplicate was outside the run: the full report finds it.
    full = {r.check_id: r for r in run_checks(sql_of(s.home), "audit")}
    assert full["silver.readings.unique_meter_ts"].failed
    assert "C" in " ".join(full["silver.readings.unique_meter_ts"].sample)
    # Now corrupt B's old day (not rewritten by the next run, but B is in its scope) and
    # load new B data: the scoped silver gate sees all of B's rows and blocks.
    silver = lake.read(cat.SILVER_READINGS)
    b = silver.filter(pc.equal(silver["meter_id"], "B"))
    old = b.filter(pc.less(b["ts"], pa.scalar(dt.datetime(2024, 3, 1, tzinfo=dt.UTC))))
    lake.append(cat.SILVER_READINGS, old.slice(0, 1))
    with_ctx(s, ingest_files, [write(tmp_path / "d3.csv", HEADER + _day("B", 5))])
    with pytest.raises(QualityGateError, match=r"silver\.readings\.unique_meter_ts"):
        with_ctx(s, run_pipeline)


@pytest.mark.parametrize(
    ("meters", "expected"),
    [
        pytest.param(["A"], "meter_id IN ('A')", id="one_meter"),
        pytest.param(["O'Brien"], "meter_id IN ('O''Brien')", id="quoted"),
        pytest.param([], "meter_id IN (NULL)", id="none"),
    ],
)
def test_meter_scope_filters(meters: list[str], expected: str) -> None:
    from wattlake.pipeline.steps.quality_gate import meter_scope

    scope = meter_scope(meters)
    assert scope[cat.SILVER_READINGS.qualified] == expected
    assert scope[cat.BRONZE_READINGS.qualified].endswith(expected.removeprefix("meter_id"))
