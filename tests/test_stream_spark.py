"""Spark parity of the stream runner: the same events consumed by `wattlake stream run
--engine spark` (Structured Streaming's Kafka source, `foreachBatch`, the rules on Spark)
and by the local DuckDB runner give the same bronze, silver, quarantine, 5-minute
aggregates, late readings and dead letters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import services
from stream_support import (
    COMPARED,
    first_difference,
    generate,
    new_prefix,
    replay,
    run_stream,
    snapshot,
    stream_settings,
    with_profiles,
)
from wattlake.stream import perturb


def test_spark_runner_gives_what_the_local_runner_gives(
    kafka: services.Service, spark: object, tmp_path: Path
) -> None:
    del spark  # PySpark and Java present (the fixture fails or skips otherwise)
    data = generate(tmp_path / "data", 3, 1, seed=55)
    prefix = new_prefix()
    pert = perturb.Perturbations(malformed=2, duplicates=2, late=1, seed=4)
    replay(kafka.address, data, prefix, pert, tmp_path / "labels.csv")

    local = tmp_path / "local"
    s = stream_settings(local, kafka.address)
    with_profiles(s, data)
    run_stream(s, prefix, max_messages=100_000)

    on_spark = tmp_path / "spark"
    with_profiles(stream_settings(on_spark, kafka.address), data)
    # its own process: the Kafka connector's jars must be on the JVM's classpath from start
    cmd = [
        sys.executable, "-m", "wattlake.cli", "stream", "run", "--engine", "spark",
        "--home", str(on_spark), "--bootstrap", kafka.address, "--topic-prefix", prefix,
        "--until-idle", "4", "--max-messages", "100000", "--settle-every", "600",
    ]  # fmt: skip
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "silver settled 1×" in done.stdout

    want, got = snapshot(local), snapshot(on_spark)
    for name in COMPARED:
        assert got[name] == want[name], f"{name}: {first_difference(got[name], want[name])}"
    assert len(got["silver"]) > 100 and got["dead letters"] and got["aggregates"]
