"""The CLI as a user runs it: exit codes, one-line errors, outputs."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write

LCL = "LCLid,tstp,energy(kWh/hh)\nM1,2012-10-12 00:30:00.0000000,0.2\n"
CSV = "meter_id,timestamp,value,unit\nM1,2024-01-01T00:00:00Z,5,kW\n"


def wl(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wattlake.cli", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def wl_nohome(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wattlake.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    write(d / "good.csv", LCL)
    write(d / "empty.csv", "")
    write(d / "meter.csv", CSV)
    (d / "bad.csv.gz").write_bytes(b"\x1f\x8b\x08\x00nope")
    write(d / "mixed" / "a.csv", LCL)
    write(d / "mixed" / "b.csv", CSV)
    return d


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["ingest", "{in}/missing.csv"], "no such file", id="missing_file"),
        pytest.param(["ingest", "{in}/empty.csv"], "file is empty", id="empty_file"),
        pytest.param(
            ["ingest", "{in}/meter.csv", "--format", "lcl"], "not the lcl layout", id="wrong_format"
        ),
        pytest.param(
            ["ingest", "{in}/good.csv", "--format", "parquet"],
            "unknown format",
            id="unknown_format",
        ),
        pytest.param(["ingest", "{in}/bad.csv.gz"], "unreadable gzip", id="bad_gzip"),
        pytest.param(
            ["ingest", "{in}/mixed", "--format", "lcl"], "not the lcl layout", id="mixed_directory"
        ),
        pytest.param(["run", "--engine", "flink"], "unknown engine", id="unknown_engine"),
        pytest.param(
            ["--lake", "ftp://host/lake", "sql", "SELECT 1"],
            "unsupported scheme 'ftp'",
            id="lake_unsupported_scheme",
        ),
        pytest.param(
            ["--lake", "s3://Bad_Bucket/lake", "sql", "SELECT 1"],
            "not a valid S3 bucket name",
            id="lake_bad_bucket",
        ),
        pytest.param(["run", "--profile", "nope"], "unknown VEE profile", id="unknown_profile"),
        pytest.param(["sql", "DROP TABLE ops.runs"], "read-only", id="sql_write_refused"),
        pytest.param(["sql", "SELEC 1"], "SQL error", id="sql_syntax_error"),
        pytest.param(["sql", "SELECT * FROM nowhere"], "SQL error", id="sql_unknown_table"),
        pytest.param(
            ["sql", "SELECT 1", "--format", "xml"],
            "unknown output format",
            id="sql_bad_output_format",
        ),
    ],
)
def test_bad_input_one_line_nonzero(
    args: list[str], message: str, inputs: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    r = wl(*[a.replace("{in}", str(inputs)) for a in args], home=home)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr + r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--households", "0"], "households", id="zero_households"),
        pytest.param(["--days", "-1"], "days", id="negative_days"),
        pytest.param(["--format", "xml"], "unknown format", id="bad_format"),
        pytest.param(["--start", "2024-13-01"], "not a date", id="bad_start"),
    ],
)
def test_generate_bad_options(args: list[str], message: str, tmp_path: Path) -> None:
    r = wl_nohome("generate", "--out", str(tmp_path / "g"), *args)
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr


def test_ingest_run_sql_tables(inputs: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    gz = tmp_path / "good2.csv.gz"
    gz.write_bytes(gzip.compress(CSV.encode()))
    assert wl("ingest", str(inputs / "good.csv"), str(gz), home=home).returncode == 0
    r = wl("run", home=home)
    assert r.returncode == 0, r.stderr
    r = wl(
        "sql",
        "SELECT meter_id, kwh FROM silver.meter_readings ORDER BY 1, 2",
        "--format",
        "csv",
        home=home,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["meter_id,kwh", "M1,0.2", "M1,2.5"]
    r = wl("sql", "SELECT count(*) AS n FROM dw.fact_energy_flow", "--format", "json", home=home)
    assert json.loads(r.stdout) == [{"n": 2}]
    r = wl("tables", home=home)
    assert r.returncode == 0 and "silver.meter_readings" in r.stdout and "dw.dim_users" in r.stdout


def test_demo_small(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = wl("demo", "--households", "6", "--days", "2", home=home)
    assert r.returncode == 0, r.stderr
    for text in (
        "demo summary",
        "every line landed, a re-send, or a dead letter",
        "+ quarantined",
        "quality grades",
        "top peak hours",
    ):
        assert text in r.stdout
    log = (home / "logs" / "wattlake.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in log]
    assert events and all("batch_id" in e for e in events if e.get("step") == "ingest")
    assert any(e.get("event") == "step_done" for e in events)


def test_settings_from_env_and_toml(tmp_path: Path) -> None:
    home = tmp_path / "envhome"
    home.mkdir()
    (home / "wattlake.toml").write_text('profile = "nope"\n')
    r = wl_nohome("run", env={"WATTLAKE_HOME": str(home)})
    assert r.returncode != 0 and "unknown VEE profile 'nope'" in r.stderr
    r = wl_nohome("run", env={"WATTLAKE_HOME": str(home), "WATTLAKE_PROFILE": "greenstream"})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    ("layout", "fmt"),
    [
        pytest.param("lcl", [], id="lcl_detected"),
        pytest.param("meter-csv", [], id="meter_csv_detected"),
        pytest.param("meter-csv", ["--format", "meter-csv"], id="meter_csv_given"),
        pytest.param("lcl", ["--format", "lcl"], id="lcl_given"),
    ],
)
def test_generated_directory_ingests_as_it_is(tmp_path: Path, layout: str, fmt: list[str]) -> None:
    """`generate --faults` writes labels.csv and users.csv beside the readings: the directory
    ingests as it is (labels skipped with a note, profiles recognised by their header)."""
    g = tmp_path / "g"
    r = wl_nohome("generate", "--out", str(g), "--households", "3", "--days", "2",
                  "--format", layout, "--faults")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = wl("ingest", str(g), *fmt, home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
    assert "labels" in r.stdout and "skipped" in r.stdout
    n = json.loads(
        wl(
            "sql",
            "SELECT count(*) AS n FROM bronze.user_profiles",
            "--format",
            "json",
            home=tmp_path / "home",
        ).stdout
    )
    assert n[0]["n"] > 0


def test_run_with_only_external_data_is_nothing_to_process(tmp_path: Path) -> None:
    """Prices but no meter readings yet: `run` says so and succeeds (no failed gate)."""
    import pandas as pd

    from conftest import with_ctx
    from wattlake.config import load_settings
    from wattlake.generate.external import energy_charts_body
    from wattlake.pipeline.external import ingest_prices

    home = tmp_path / "home"
    idx = pd.date_range("2024-03-01", periods=24, freq="h", tz="UTC")
    body = energy_charts_body(pd.Series([0.1] * 24, index=idx))
    day = idx[0].date()
    out = with_ctx(load_settings(home=home), ingest_prices, "DE-LU", day, day, body=body)
    assert out.status == "success"
    r = wl("run", home=home)
    assert r.returncode == 0, r.stderr
    assert "no meter readings yet" in r.stdout


def test_run_on_an_empty_home_says_what_to_do(tmp_path: Path) -> None:
    r = wl("run", home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
    assert "nothing to process: no meter readings yet: run `wattlake ingest FILES`" in r.stdout


def test_failed_ingest_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    r = wl("ingest", str(tmp_path / "missing.csv"), home=home)
    assert r.returncode == 1 and "no such file" in r.stderr
    assert not home.exists()


def test_home_goes_before_or_after_the_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert wl("ingest", str(write(tmp_path / "m.csv", CSV)), home=home).returncode == 0
    sql = "SELECT count(*) AS n FROM bronze.meter_readings"
    before = wl_nohome("--home", str(home), "sql", sql, "--format", "json")
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout) == [{"n": 1}]


def test_reports_fit_80_columns(tmp_path: Path) -> None:
    home = tmp_path / "home"
    g = tmp_path / "sme"
    assert wl_nohome("generate", "--layout", "smart-meter-etl", "--households", "5", "--days",
                     "2", "--start", "2021-01-01", "--out", str(g)).returncode == 0  # fmt: skip
    assert wl("ingest", str(g / "agreements.db"), home=home).returncode == 0
    r = wl("report", "active-agreements", "--reference-date", "2021-01-01", home=home,
           env={"COLUMNS": "80"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "meter" in line)
    assert "…" not in header


def test_quarantine_list(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = CSV + "M1,2024-01-01T00:30:00Z,-3,kW\n"
    assert wl("ingest", str(write(tmp_path / "m.csv", bad)), home=home).returncode == 0
    assert wl("run", home=home).returncode == 0
    r = wl("quarantine", "list", "--rows", "5", home=home, env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "negative" in r.stdout and "M1" in r.stdout
    rid = json.loads(
        wl(
            "sql", "SELECT _record_id AS r FROM silver.quarantine", "--format", "json", home=home
        ).stdout
    )[0]["r"]
    assert rid in r.stdout  # the full id, ready for `quarantine release --record-id`
