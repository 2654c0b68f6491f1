"""The HTML quality report, rendered in headless Chromium: failing checks come first, the
trend covers the stored runs; a screenshot goes to `artifacts/quality-report.png`.

Needs Debian's `chromium` (`apt-get install -y chromium`); skipped when it is missing unless
WATTLAKE_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import sql_of, with_ctx
from wattlake.config import load_settings
from wattlake.generate import generate
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.quality.report import render_report
from wattlake.quality.runner import run_checks, store_results

REPO = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("WATTLAKE_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium not found and WATTLAKE_REQUIRE_BROWSER=1")
    pytest.skip("chromium not installed (apt-get install -y chromium)")


def _browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("report")
    gen = generate(root / "in", 8, 3, seed=5, fmt="lcl", faults=True, households_per_file=10)
    s = load_settings(home=root / "home")
    with_ctx(s, ingest_files, [gen.users_file, *gen.files])
    with_ctx(s, run_pipeline)
    lake = Lake(s.home)
    # The pipeline stored its own gate results (checked now, after NOW): start from none.
    shutil.rmtree(lake.path(cat.OPS_QUALITY_RESULTS), ignore_errors=True)
    for i in range(3):  # clean runs for the trend
        store_results(lake, run_checks(sql_of(s.home), f"q-clean-{i}", now=NOW))
    # Corrupt: a duplicate silver key and a negative gold consumption.
    silver = lake.read(cat.SILVER_READINGS).slice(0, 1)
    lake.append(cat.SILVER_READINGS, silver)
    flow = lake.read(cat.GOLD_FLOW_HOURLY)
    rows = flow.to_pylist()
    rows[0]["consumption_kwh"] = -2.0
    lake.replace_where(cat.GOLD_FLOW_HOURLY, pa.Table.from_pylist(rows, flow.schema), None)
    store_results(lake, run_checks(sql_of(s.home), "q-corrupt", now=NOW))
    return render_report(sql_of(s.home), root / "out")


def test_json_report(report: tuple[Path, Path]) -> None:
    data = json.loads(report[1].read_text())
    assert data["run_id"] == "q-corrupt"
    assert [t["run_id"] for t in data["trend"]][-1] == "q-corrupt"
    assert len(data["trend"]) == 4
    failing = [c["check_id"] for c in data["checks"] if c["passed"] is False]
    assert "silver.readings.unique_meter_ts" in failing
    assert "gold.energy_flow_hourly.non_negative" in failing
    assert [c["passed"] for c in data["checks"][: len(failing)]] == [False] * len(failing)
    assert data["layers"]["silver"]["pass_ratio"] < 1.0
    assert data["layers"]["gold"]["pass_ratio"] < 1.0
    assert data["layers"]["bronze"]["pass_ratio"] == 1.0


def test_html_in_headless_chromium(report: tuple[Path, Path], tmp_path: Path) -> None:
    chromium = _chromium()
    html_path = report[0]
    text = html_path.read_text()
    assert "<script" not in text and "<style>" in text  # self-contained, no JS
    res = _browser(chromium, tmp_path / "p1", "--dump-dom", html_path.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert "wattlake data quality" in dom
    ids = re.findall(r'<tr class="check ([a-z]+) (?:error|warn)" data-check-id="([^"]+)"', dom)
    assert ids, dom[:2000]
    statuses = [s for s, _ in ids]
    n_failed = statuses.count("failed")
    assert n_failed >= 2
    assert statuses[:n_failed] == ["failed"] * n_failed  # failing checks first
    first_ids = [cid for _, cid in ids[:n_failed]]
    assert "silver.readings.unique_meter_ts" in first_ids
    assert "gold.energy_flow_hourly.non_negative" in first_ids
    assert "<svg" in dom and "polyline" in dom  # trend sparkline
    # the sample failing key of the negative gold row is shown
    assert re.search(r"<li>[^<]+\|2024-03-0\d [0-9:]+\+00</li>", dom)

    shot = REPO / "artifacts" / "quality-report.png"
    shot.parent.mkdir(exist_ok=True)
    if shot.exists():
        shot.unlink()
    res = _browser(
        chromium,
        tmp_path / "p2",
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        "--hide-scrollbars",
        html_path.as_uri(),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000
