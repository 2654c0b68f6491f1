"""Observability: Prometheus metrics from the tables, ops.metrics, GreenStream alerts and
notifiers (the webhook against a real local HTTP server)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import sql_of, with_ctx
from wattlake.config import load_settings
from wattlake.generate import generate
from wattlake.lake import catalog as cat
from wattlake.lake.catalog import OPS_METRICS
from wattlake.lake.delta import Lake
from wattlake.observability.alerts import (
    Alert,
    LogNotifier,
    WebhookNotifier,
    evaluate_alerts,
    notify_all,
    raise_alerts,
    write_alerts,
)
from wattlake.observability.metrics import (
    collect_metrics,
    prometheus_text,
    store_metrics,
)
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.quality.runner import run_checks, store_results


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("metrics")
    gen = generate(root / "in", 8, 3, seed=11, fmt="lcl", faults=True, households_per_file=10)
    s = load_settings(home=root / "home")
    with_ctx(s, ingest_files, [gen.users_file, *gen.files])
    with_ctx(s, run_pipeline)
    store_results(Lake(s.home), run_checks(sql_of(s.home), "q-1"))
    return s.home, root


@pytest.fixture
def home(built: tuple[Path, Path], tmp_path: Path) -> Path:
    dst = tmp_path / "home"
    shutil.copytree(built[0], dst)
    return dst


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_prometheus_exposition(home: Path) -> None:
    text = prometheus_text(sql_of(home))
    s = _samples(text)
    names = {n for n, _ in s}
    assert {
        "wattlake_records_processed_total",
        "wattlake_step_duration_seconds",
        "wattlake_quarantined_records",
        "wattlake_quality_check_pass_ratio",
        "wattlake_source_freshness_seconds",
        "wattlake_estimated_records",
        "wattlake_ingestion_backlog_records",
    } <= names
    assert "# TYPE wattlake_records_processed_total counter" in text
    assert s[("wattlake_records_processed_total", (("layer", "bronze"),))] > 0
    assert s[("wattlake_step_duration_seconds", (("step", "silver"),))] > 0
    assert s[("wattlake_quality_check_pass_ratio", (("layer", "gold"),))] == 1.0
    assert s[("wattlake_source_freshness_seconds", (("source", "lcl"),))] >= 0
    assert s[("wattlake_ingestion_backlog_records", ())] == 0
    # per-rule quarantine counts equal the SQL count of rows naming the rule
    lake = Lake(home)
    q = lake.read(cat.SILVER_QUARANTINE, ["rules"])["rules"].to_pylist()
    rules = {r for rs in q for r in rs.split(",")}
    assert rules
    for rule in rules:
        expected = sum(rule in rs.split(",") for rs in q)
        assert s[("wattlake_quarantined_records", (("rule", rule),))] == expected


def test_freshness_relative_to_now(home: Path) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=30)
    s = _samples(prometheus_text(sql_of(home), now=later))
    assert s[("wattlake_source_freshness_seconds", (("source", "lcl"),))] > 30 * 3600 - 60


def test_ops_metrics_rows_idempotent(home: Path) -> None:
    lake = Lake(home)
    fams = collect_metrics(sql_of(home))
    n = store_metrics(lake, fams, "run-x")
    assert n == sum(len(f.samples) for f in fams) and n > 10
    assert store_metrics(lake, fams, "run-x") == 0
    rows = lake.read(OPS_METRICS).to_pylist()
    row = next(r for r in rows if r["metric"] == "wattlake_step_duration_seconds")
    assert json.loads(row["labels"])["step"] and row["run_id"] == "run-x"


def test_backlog_alert_and_idempotency(home: Path, built: tuple[Path, Path]) -> None:
    # Land more readings without running silver: they are pending.
    gen = generate(built[1] / "later", 8, 3, seed=12, fmt="lcl", start=dt.date(2024, 3, 10))
    with_ctx(load_settings(home=home), ingest_files, gen.files)
    s = _samples(prometheus_text(sql_of(home)))
    pending = s[("wattlake_ingestion_backlog_records", ())]
    assert pending > 1000
    alerts = evaluate_alerts(sql_of(home), "run-a")
    backlog = [a for a in alerts if a.rule == "ingestion_backlog"]
    assert len(backlog) == 1 and f"{int(pending)} bronze readings pending" in backlog[0].message
    first = raise_alerts(sql_of(home), Lake(home), "run-a")
    assert "ingestion_backlog" in {a.rule for a in first}
    assert raise_alerts(sql_of(home), Lake(home), "run-b") == []  # same state → nothing new


def test_failure_and_low_quality_alerts(home: Path) -> None:
    lake = Lake(home)
    now = dt.datetime.now(dt.UTC)
    lake.append(
        cat.OPS_RUNS,
        pa.Table.from_pylist(
            [
                {
                    "run_id": "run-failed",
                    "batch_id": "run-failed",
                    "step": "gold",
                    "status": "failed",
                    "message": "3 retries exhausted: disk full",
                    "started_at": now,
                }
            ]
        ),
    )
    alerts = evaluate_alerts(sql_of(home), "run-z", low_quality_score=101)
    rules = {a.rule: a for a in alerts}
    assert rules["transformation_failure"].severity == "critical"
    assert "disk full" in rules["transformation_failure"].message
    assert rules["transformation_failure"].run_id == "run-failed"
    assert "low_quality_score" in rules
    assert "low_quality_score" not in {a.rule for a in evaluate_alerts(sql_of(home), "run-z")}
    new = write_alerts(lake, alerts)
    assert len(new) == len(alerts)
    assert write_alerts(lake, alerts) == []
    # The pipeline already raised its fault alerts: no duplicate meter_fault for them.
    existing = lake.read(cat.OPS_ALERTS).to_pylist()
    pipeline_faults = {
        (r["rule"], r["meter_id"]) for r in existing if r["rule"].startswith("fault_")
    }
    for a in alerts:
        if a.rule == "meter_fault":
            assert (a.message.split(":")[0], a.meter_id) not in pipeline_faults


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012
    fail_first: int = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.received.append(
            {"json": json.loads(body), "content_type": self.headers["Content-Type"]}
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    _Receiver.fail_first = 0
    srv = HTTPServer(("127.0.0.1", 0), _Receiver)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()
    srv.server_close()


def _alert() -> Alert:
    return Alert(
        dt.datetime(2024, 3, 1, tzinfo=dt.UTC), "critical", "missing_extended", "M1", "gap", "r"
    )


def test_webhook_notifier_posts_json(receiver: str) -> None:
    _Receiver.fail_first = 2  # two 503s, then success on the third attempt
    n = WebhookNotifier(receiver, timeout_s=2.0, retries=2, backoff_s=0.01)
    n.notify([_alert()])
    n.close()
    assert len(_Receiver.received) == 1
    got = _Receiver.received[0]
    assert got["content_type"] == "application/json"
    assert got["json"]["source"] == "wattlake"
    assert got["json"]["alerts"][0]["rule"] == "missing_extended"
    assert got["json"]["alerts"][0]["alert_ts"].startswith("2024-03-01")


def test_webhook_gives_up_and_others_still_notified(receiver: str) -> None:
    _Receiver.fail_first = 5
    bad = WebhookNotifier(receiver, timeout_s=2.0, retries=1, backoff_s=0.01)
    with pytest.raises(httpx.HTTPStatusError):
        bad.notify([_alert()])
    seen: list[int] = []

    class Counting:
        def notify(self, alerts: Any) -> None:
            seen.append(len(alerts))

    unreachable = WebhookNotifier("http://127.0.0.1:9/none", timeout_s=0.5, retries=0)
    errors = notify_all([_alert()], [unreachable, LogNotifier(), Counting()])
    assert len(errors) == 1 and seen == [1]
