"""End to end, as a user runs it: meter files in → warehouse out, with peak memory.

    .venv/bin/python benchmarks/bench_e2e.py --households 1000 --days 40
    .venv/bin/python benchmarks/bench_e2e.py --households 4000 --days 52 --engines duckdb,spark

1. `wattlake generate` writes N households × D days of faulty readings (LCL blocks or
   meter-csv), once, into a work directory (reused by later runs with the same size).
2. Per engine, in a fresh home: `wattlake ingest DIR` then `wattlake run [--engine spark]`,
   each a subprocess timed on the wall clock, with the peak RSS of its process tree (polled
   every 0.1 s) and the per-step seconds from `ops.runs`.
3. The plain pandas implementation of the core rules (`pandas_e2e.py`) on the same files,
   in the same run, in its own process.
4. A table: readings, seconds per phase, readings per second end to end, peak RSS, the ratio
   to pandas, and the disk footprint of each layer next to the input files.

The machine's load average is printed with the results: other work on a 2-core machine
changes the figures, so compare runs made under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
WATTLAKE = [sys.executable, "-m", "wattlake.cli"]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd`; wall seconds, peak RSS of its process tree (MiB), exit code, output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        try:
            parent = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                procs = [parent, *parent.children(recursive=True)]
                rss = 0
                for p in procs:
                    try:
                        rss += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
                peak = max(peak, rss)
            except psutil.NoSuchProcess:
                return
            stop.wait(0.1)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    out, err = proc.communicate()
    stop.set()
    th.join()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()[-2000:]}")
    return {"seconds": seconds, "peak_mib": peak / 2**20, "stdout": out, "stderr": err}


def du_mib(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def step_seconds(home: Path) -> dict[str, float]:
    out = subprocess.run(
        [*WATTLAKE, "sql", "SELECT step, sum(duration_s) AS s FROM ops.runs "
         "WHERE step NOT LIKE 'ingest%' GROUP BY 1 ORDER BY 2 DESC",
         "--format", "json", "--home", str(home)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {r["step"]: float(r["s"]) for r in json.loads(out.stdout)}


def generate(args: argparse.Namespace, work: Path) -> tuple[Path, int]:
    data = work / f"input-{args.format}-{args.households}x{args.days}-s{args.seed}"
    marker = data / ".readings"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        r = timed([*WATTLAKE, "generate", "--out", str(data), "--households", str(args.households),
                   "--days", str(args.days), "--seed", str(args.seed), "--format", args.format,
                   "--faults"])  # fmt: skip
        n = int(r["stdout"].split("wrote ", 1)[1].split(" ", 1)[0].replace(",", ""))
        marker.write_text(str(n))
        print(f"generated {n:,} readings in {r['seconds']:.1f} s → {data}")
    return data, int(marker.read_text())


def run_engine(engine: str, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    home = work / f"home-{engine}"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ}
    if args.duckdb_memory_limit:
        env["WATTLAKE_DUCKDB_MEMORY_LIMIT"] = args.duckdb_memory_limit
    if engine == "spark":
        env["WATTLAKE_SPARK_MASTER"] = args.spark_master
    ing = timed([*WATTLAKE, "ingest", str(data), "--home", str(home)], env)
    run = timed([*WATTLAKE, "run", "--engine", engine, "--home", str(home)], env)
    layers = {layer: du_mib(home / "lake" / layer) for layer in ("bronze", "silver", "gold", "ops")}
    layers["warehouse"] = du_mib(home / "warehouse.duckdb")
    return {
        "engine": engine,
        "ingest_s": ing["seconds"],
        "ingest_mib": ing["peak_mib"],
        "run_s": run["seconds"],
        "run_mib": run["peak_mib"],
        "steps": step_seconds(home),
        "layers_mib": layers,
    }


def run_pandas(data: Path, work: Path, fmt: str) -> dict[str, Any]:
    out = work / "pandas-out"
    shutil.rmtree(out, ignore_errors=True)
    r = timed([sys.executable, str(ROOT / "benchmarks" / "pandas_e2e.py"), str(data), str(out),
               "--format", fmt])  # fmt: skip
    parts = dict(kv.split("=") for kv in r["stdout"].split())
    return {"seconds": r["seconds"], "peak_mib": r["peak_mib"], "phases": parts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=1000)
    ap.add_argument("--days", type=int, default=40)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--format", default="meter-csv", choices=["meter-csv", "lcl"])
    ap.add_argument("--engines", default="duckdb", help="comma-separated: duckdb,spark")
    ap.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
    ap.add_argument("--spark-master", default="local[2]")
    ap.add_argument("--duckdb-memory-limit", default=None, help="e.g. 3GB")
    ap.add_argument("--work", type=Path, default=Path("/tmp/wattlake-bench-e2e"))
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data, readings = generate(args, args.work)
    csv_mib = du_mib(data)
    results = [run_engine(e, data, args.work, args) for e in args.engines.split(",") if e]
    pandas = None if args.no_pandas else run_pandas(data, args.work, args.format)
    load = os.getloadavg()

    print(f"\n{readings:,} readings ({args.households} households × {args.days} days, "
          f"{args.format}, {csv_mib:,.0f} MiB of files); load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")  # fmt: skip
    print(f"{'':10s} {'ingest s':>9s} {'run s':>8s} {'total s':>8s} {'readings/s':>11s} "
          f"{'peak MiB':>9s} {'vs pandas':>9s}")  # fmt: skip
    base = pandas["seconds"] if pandas else None
    for r in results:
        total = r["ingest_s"] + r["run_s"]
        ratio = f"{base / total:8.2f}x" if base else "-"
        peak = max(r["ingest_mib"], r["run_mib"])
        print(f"{r['engine']:10s} {r['ingest_s']:9.1f} {r['run_s']:8.1f} {total:8.1f} "
              f"{readings / total:11,.0f} {peak:9,.0f} {ratio:>9s}")  # fmt: skip
    if pandas:
        print(f"{'pandas':10s} {'':9s} {'':8s} {pandas['seconds']:8.1f} "
              f"{readings / pandas['seconds']:11,.0f} {pandas['peak_mib']:9,.0f} "
              f"(read {float(pandas['phases']['read_s']):.1f} s, VEE "
              f"{float(pandas['phases']['vee_s']):.1f} s, gaps+gold+write "
              f"{float(pandas['phases']['gold_write_s']):.1f} s)")  # fmt: skip
    for r in results:
        steps = ", ".join(f"{k} {v:.1f}" for k, v in r["steps"].items())
        layers = ", ".join(f"{k} {v:,.0f}" for k, v in r["layers_mib"].items())
        print(f"{r['engine']}: steps (s): {steps}\n  disk (MiB): files {csv_mib:,.0f}; {layers}")
    if args.json:
        args.json.write_text(json.dumps({"readings": readings, "load": load, "engines": results,
                                         "pandas": pandas}, indent=1, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
