"""`wattlake run` end to end on a Spark standalone cluster against DuckDB, same input.

For each size (households × days of generated meter-csv readings with faults): generate
once, ingest once into a base home (the same bronze for both engines), then copy the base
home per engine and time `wattlake run` in its own process:

- DuckDB: `wattlake run` (embedded; the process's own RSS);
- Spark: `wattlake run --engine spark --spark-master spark://…` on a 2-worker standalone
  cluster (scripts/spark-cluster.sh; started here in a private run directory unless
  `--master` names one). The driver's peak RSS is the CLI's Python process plus its driver
  JVM (the process tree of the CLI); the executors run under the cluster's workers.

The machine is shared: the 1-minute load average is sampled during each run and printed
beside its figure. Cost per million readings at two sizes shows whether a run scales
linearly; the driver's peak RSS at two sizes shows whether the driver holds data.

Usage: ``python benchmarks/bench_spark.py --sizes 4000x52,16000x52 --work /tmp/wl-bench-spark``
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
WATTLAKE = [sys.executable, "-m", "wattlake.cli"]
GIB = 1024**3


class Sampler:
    """Peak RSS of a process tree (split by process name) and the mean 1-minute load
    average, sampled every `interval` seconds while a process runs."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid, self.interval = pid, interval
        self.peak_total = self.peak_python = self.peak_jvm = 0
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            py = jvm = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    name = p.name()
                except psutil.NoSuchProcess:
                    continue
                if name == "java":
                    jvm += rss
                else:
                    py += rss
            self.peak_python = max(self.peak_python, py)
            self.peak_jvm = max(self.peak_jvm, jvm)
            self.peak_total = max(self.peak_total, py + jvm)
            self.loads.append(os.getloadavg()[0])
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def load(self) -> float:
        return sum(self.loads) / len(self.loads) if self.loads else os.getloadavg()[0]


def wattlake(args: list[str], env: dict[str, str] | None = None) -> tuple[float, Sampler, str]:
    """Run a wattlake command; (seconds, its sampler, stdout). Raises on failure."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*WATTLAKE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    with Sampler(proc.pid) as sampler:
        out, err = proc.communicate()
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"wattlake {shlex.join(args)} exited {proc.returncode}: {err[-2000:]}")
    return secs, sampler, out


def sql_value(home: Path, query: str) -> Any:
    out = subprocess.run(
        [*WATTLAKE, "sql", query, "--format", "json", "--home", str(home)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row = json.loads(out)[0]
    return next(iter(row.values()))


def prepare(work: Path, households: int, days: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Generated input and the base home with it ingested (reused when present)."""
    tag = f"{households}x{days}"
    data, base = work / f"in-{tag}", work / f"base-{tag}"
    info_file = work / f"base-{tag}.json"
    if info_file.exists() and base.exists():
        return base, json.loads(info_file.read_text())
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(
        [*WATTLAKE, "generate", "--households", str(households), "--days", str(days),
         "--format", "meter-csv", "--faults", "--seed", str(seed), "--out", str(data)],
        check=True, capture_output=True,
    )  # fmt: skip
    gen_s = time.perf_counter() - t0
    secs, sampler, _ = wattlake(["ingest", str(data), "--format", "meter-csv", "--home", str(base)])
    info = {
        "households": households,
        "days": days,
        "generate_s": round(gen_s, 1),
        "ingest_s": round(secs, 1),
        "ingest_peak_rss_gib": round(sampler.peak_total / GIB, 2),
        "ingest_load": round(sampler.load, 1),
        "bronze_readings": int(sql_value(base, "SELECT count(*) AS n FROM bronze.meter_readings")),
    }
    info_file.write_text(json.dumps(info))
    return base, info


def run_engine(base: Path, home: Path, engine: str, master: str | None) -> dict[str, Any]:
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(base, home)
    args = ["run", "--home", str(home)]
    if engine == "spark":
        args += ["--engine", "spark", "--spark-master", master or "local[2]"]
    load_before = os.getloadavg()[0]
    secs, s, _ = wattlake(args)
    return {
        "engine": engine,
        "seconds": round(secs, 1),
        "peak_rss_gib": round(s.peak_total / GIB, 2),
        "peak_python_gib": round(s.peak_python / GIB, 2),
        "peak_jvm_gib": round(s.peak_jvm / GIB, 2),
        "load_before": round(load_before, 1),
        "load_mean": round(s.load, 1),
        "load_max": round(max(s.loads, default=load_before), 1),
        "silver_rows": int(sql_value(home, "SELECT count(*) AS n FROM silver.meter_readings")),
        "flow_kwh": round(
            float(sql_value(home, "SELECT sum(consumption_kwh) AS k FROM gold.energy_flow_hourly")),
            4,
        ),
        "facts": int(sql_value(home, "SELECT count(*) AS n FROM dw.fact_energy_flow")),
    }


def start_cluster(run_dir: Path, worker_memory: str) -> str:
    env = {**os.environ, "WATTLAKE_RUN_DIR": str(run_dir)}
    env["WATTLAKE_SPARK_WORKER_MEMORY"] = worker_memory
    out = subprocess.run(
        [str(ROOT / "scripts" / "spark-cluster.sh"), "start"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    return out.strip().splitlines()[-1].split("=", 1)[1]


def stop_cluster(run_dir: Path) -> None:
    env = {**os.environ, "WATTLAKE_RUN_DIR": str(run_dir)}
    subprocess.run([str(ROOT / "scripts" / "spark-cluster.sh"), "stop"], env=env, check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4000x52", help="HOUSEHOLDSxDAYS, comma-separated")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--master", help="spark://HOST:PORT of a running cluster (default: start one)")
    ap.add_argument("--worker-memory", default="3g", help="per worker, when started here")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "wl-bench-spark")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, help="append the results as JSON lines")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    engines = args.engines.split(",")
    print("command:", shlex.join([sys.executable, *sys.argv]), flush=True)
    run_dir = None
    master = args.master
    if "spark" in engines and master is None:
        run_dir = Path(tempfile.mkdtemp(prefix="wl-bench-cluster-"))
        master = start_cluster(run_dir, args.worker_memory)
        print(f"cluster {master} (2 workers, 1 core and {args.worker_memory} each)", flush=True)
    results = []
    try:
        for size in args.sizes.split(","):
            households, days = (int(x) for x in size.split("x"))
            base, info = prepare(args.work, households, days, args.seed)
            print(f"input {size}: {json.dumps(info)}", flush=True)
            for engine in engines:
                home = args.work / f"run-{engine}-{size}"
                r = {**info, **run_engine(base, home, engine, master)}
                r["s_per_m_readings"] = round(r["seconds"] / (info["bronze_readings"] / 1e6), 2)
                results.append(r)
                print(json.dumps(r), flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        f.write(json.dumps(r) + "\n")
                shutil.rmtree(home, ignore_errors=True)
    finally:
        if run_dir is not None:
            stop_cluster(run_dir)
    print("\n| engine | readings | run s | s per M readings | peak RSS (driver) | load avg |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        rss = f"{r['peak_rss_gib']} GiB"
        if r["engine"] == "spark":
            rss += f" (Python {r['peak_python_gib']} + JVM {r['peak_jvm_gib']})"
        print(
            f"| {r['engine']} | {r['bronze_readings'] / 1e6:.2f} M | {r['seconds']} | "
            f"{r['s_per_m_readings']} | {rss} | {r['load_mean']} (max {r['load_max']}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
