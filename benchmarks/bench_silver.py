"""Benchmark the silver VEE rules (`classify`) on DuckDB and Spark against a pandas baseline.

Builds one bronze table from generated faulty meter-csv data (generate → parse_lines →
lineage columns with a fixed `_ingested_at`, exact re-sends dropped as bronze does), writes
it to a temp Parquet file, then runs each engine in its own subprocess so that peak RSS is
per engine. Timed: `classify` end to end to an in-memory result (Arrow for the Ibis
engines, a DataFrame for pandas). Not timed, reported separately: loading bronze into the
engine (DuckDB table / pandas DataFrame / cached Spark DataFrame), Spark JVM start-up and
Spark's first (warm-up) run.

Usage: ``python benchmarks/bench_silver.py --households 2000 --days 30 --check``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

ARRIVAL = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
ENGINES = ("duckdb", "pandas", "spark")
BRONZE_SCHEMA = pa.schema(
    [
        ("meter_id", pa.string()),
        ("timestamp", pa.string()),
        ("value", pa.string()),
        ("unit", pa.string()),
        ("_format", pa.string()),
        ("_batch_id", pa.string()),
        ("_source_file", pa.string()),
        ("_row_number", pa.int64()),
        ("_ingested_at", pa.timestamp("us", tz="UTC")),
        ("_record_id", pa.string()),
    ]
)


# --- bronze ---------------------------------------------------------------------------------


def build_bronze(households: int, days: int, seed: int, out: Path) -> tuple[int, float]:
    """Generate faulty meter-csv files and write the bronze table to `out` (Parquet)."""
    from wattlake.generate import generate
    from wattlake.pipeline.ingest import batch_id_for
    from wattlake.sources.files import parse_lines

    t0 = time.perf_counter()
    parts: list[pa.Table] = []
    with tempfile.TemporaryDirectory(prefix="wl_bench_gen_") as tmp:
        res = generate(
            Path(tmp), households, days, seed=seed, fmt="meter-csv", faults=True, now=ARRIVAL
        )
        for path in res.files:
            pf = parse_lines(path.read_bytes(), "meter-csv", str(path))
            rows = pf.rows
            n = rows.num_rows
            parts.append(
                pa.table(
                    {
                        "meter_id": rows["meter_id"],
                        "timestamp": rows["timestamp"],
                        "value": rows["value"],
                        "unit": rows["unit"],
                        "_format": pa.array(["meter-csv"] * n, pa.string()),
                        "_batch_id": pa.array([batch_id_for(pf.checksum)] * n, pa.string()),
                        "_source_file": pa.array([path.name] * n, pa.string()),
                        "_row_number": rows["_row_number"].cast(pa.int64()),
                        "_ingested_at": pa.array([ARRIVAL] * n, BRONZE_SCHEMA.field(8).type),
                    }
                )
            )
    con = duckdb.connect()
    con.register("raw", pa.concat_tables(parts))
    # `_record_id` as ingest computes it; bronze keeps one row per record id (first seen).
    bronze = con.execute(
        """
        SELECT * EXCLUDE (_k, _rn) FROM (
            SELECT *, row_number() OVER (PARTITION BY _k ORDER BY _batch_id, _row_number) AS _rn
            FROM (
                SELECT *, sha256(concat_ws('|', meter_id, timestamp, value, coalesce(unit, '')))
                    AS _record_id, _record_id AS _k
                FROM raw
            )
        ) WHERE _rn = 1 ORDER BY _batch_id, _row_number
        """
    ).to_arrow_table()
    con.close()
    bronze = bronze.select(BRONZE_SCHEMA.names).cast(BRONZE_SCHEMA)
    pq.write_table(bronze, out)
    return bronze.num_rows, time.perf_counter() - t0


# --- measurement helpers ----------------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


class JvmRssSampler:
    """Peak RSS of the java child processes of this process (psutil), sampled every 0.2 s."""

    def __init__(self) -> None:
        self.peak_mib: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> JvmRssSampler:
        try:
            import psutil  # noqa: F401
        except ImportError:
            return self
        self._thread.start()
        return self

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    if "java" in child.name():
                        total += child.memory_info().rss
                except psutil.Error:
                    continue
            if total:
                self.peak_mib = max(self.peak_mib or 0.0, total / 2**20)
            self._stop.wait(0.2)

    def stop(self) -> float | None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.peak_mib


def stats_arrow(t: pa.Table) -> dict[str, Any]:
    """Check aggregates of a classified result (Arrow)."""
    import pyarrow.compute as pc

    from wattlake.transforms.vee.rules import ALL_RULES, column

    out: dict[str, Any] = {
        "rows": t.num_rows,
        "quarantined": int(pc.sum(t["quarantined"].cast(pa.int64())).as_py() or 0),
        "score_sum": int(pc.sum(t["quality_score"].cast(pa.int64())).as_py() or 0),
        "kwh_sum": round(float(pc.sum(t["kwh"]).as_py() or 0.0), 3),
    }
    for g in "ABCF":
        out[f"grade_{g}"] = int(pc.sum(pc.equal(t["quality_grade"], g).cast(pa.int64())).as_py())
    for rule in ALL_RULES:
        if column(rule) in t.column_names:
            out[rule] = int(pc.sum(t[column(rule)].cast(pa.int64())).as_py() or 0)
    return out


def stats_pandas(df: Any) -> dict[str, Any]:
    """Check aggregates of a classified result (pandas)."""
    from pandas_reference import ALL_RULES, column

    out: dict[str, Any] = {
        "rows": len(df),
        "quarantined": int(df["quarantined"].sum()),
        "score_sum": int(df["quality_score"].astype("int64").sum()),
        "kwh_sum": round(float(df["kwh"].sum()), 3),
    }
    for g in "ABCF":
        out[f"grade_{g}"] = int((df["quality_grade"] == g).sum())
    for rule in ALL_RULES:
        out[rule] = int(df[column(rule)].sum())
    return out


# --- one engine, in its own process -----------------------------------------------------------


def best_of(repeat: int, fn: Any) -> tuple[float, Any]:
    """Fastest of `repeat` runs of `fn` (seconds) and the last result."""
    best, out = float("inf"), None
    for _ in range(max(repeat, 1)):
        out = None  # free the previous result before the next run
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_worker(
    engine: str,
    bronze_path: Path,
    rows_cap: int | None,
    spark_master: str,
    repeat: int = 1,
    driver_memory: str | None = None,
) -> dict:
    """Load bronze, time `classify` on `engine`; returns the measurements as a dict."""
    from wattlake.transforms.calendar import uk_holidays
    from wattlake.transforms.vee.profile import get_profile

    profile = get_profile("greenstream")
    holidays = uk_holidays(2024, 2025)
    bronze = pq.read_table(bronze_path)
    if rows_cap is not None and rows_cap < bronze.num_rows:
        bronze = bronze.slice(0, rows_cap)
    res: dict[str, Any] = {"engine": engine, "readings": bronze.num_rows}
    res["loadavg_start"] = os.getloadavg()[0]

    if engine == "pandas":
        from pandas_reference import classify_pandas

        t0 = time.perf_counter()
        df = bronze.to_pandas()
        res["load_s"] = time.perf_counter() - t0
        del bronze
        res["rss_before_mib"] = peak_rss_mib()
        res["seconds"], out = best_of(repeat, lambda: classify_pandas(df, profile, holidays))
        res["stats"] = stats_pandas(out)

    elif engine == "duckdb":
        from wattlake.engine import DuckDBEngine
        from wattlake.transforms.silver import classify

        eng = DuckDBEngine()
        t0 = time.perf_counter()
        table = eng.con.create_table("bronze", bronze, temp=True)
        res["load_s"] = time.perf_counter() - t0
        del bronze
        res["rss_before_mib"] = peak_rss_mib()
        res["seconds"], out = best_of(
            repeat,
            lambda: eng.to_arrow(classify(table, profile, holidays, checkpoint=eng.materialize)),
        )
        res["stats"] = stats_arrow(out)

    elif engine == "spark":
        from wattlake.engine import SparkEngine
        from wattlake.transforms.silver import classify

        sampler = JvmRssSampler().start()
        t0 = time.perf_counter()
        if driver_memory:
            # Static setting: only takes effect when set before the JVM starts; SparkEngine
            # then reuses this session (getOrCreate) with its own runtime settings.
            from pyspark.sql import SparkSession

            SparkSession.builder.master(spark_master).config(
                "spark.driver.memory", driver_memory
            ).getOrCreate()
        eng = SparkEngine(spark_master)
        res["jvm_start_s"] = time.perf_counter() - t0
        heap = eng.spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
        res["driver_memory"] = f"max heap {heap / 2**30:.1f} GiB"
        with tempfile.TemporaryDirectory(prefix="wl_bench_spark_") as tmp:
            path = Path(tmp) / "bronze.parquet"
            pq.write_table(bronze, path)
            del bronze
            t0 = time.perf_counter()
            df = eng.spark.read.parquet(str(path)).cache()
            df.count()
            df.createOrReplaceTempView("bronze")
            table = eng.con.table("bronze")
            res["load_s"] = time.perf_counter() - t0
            res["rss_before_mib"] = peak_rss_mib()

            def noop() -> float:
                # Compute only (no collect to the driver): the plan into a no-op sink.
                expr = classify(table, profile, holidays, checkpoint=eng.materialize)
                sdf = eng.spark.sql(str(eng.con.compile(expr)))
                t0 = time.perf_counter()
                sdf.write.format("noop").mode("overwrite").save()
                return time.perf_counter() - t0

            res["warmup_s"] = noop()  # first query: JIT, code generation
            res["noop_s"] = min(noop() for _ in range(repeat))
            try:
                secs, out = best_of(
                    repeat,
                    lambda: eng.to_arrow(
                        classify(table, profile, holidays, checkpoint=eng.materialize)
                    ),
                )
                res["seconds"] = secs
                res["stats"] = stats_arrow(out)
            except Exception as exc:  # e.g. driver OOM collecting the result
                res["collect_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        res["jvm_peak_rss_mib"] = sampler.stop()
    else:
        raise SystemExit(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")

    res["peak_rss_mib"] = peak_rss_mib()
    res["loadavg_end"] = os.getloadavg()[0]
    return res


def spawn(engine: str, bronze: Path, cap: int | None, args: argparse.Namespace) -> dict[str, Any]:
    """Run one engine in a fresh interpreter; returns its JSON result (or an error)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result_path = Path(f.name)
    cmd = [sys.executable, __file__, "--worker", engine, "--bronze", str(bronze)]
    cmd += ["--result", str(result_path), "--spark-master", args.spark_master]
    cmd += ["--repeat", str(args.repeat)]
    if args.spark_driver_memory:
        cmd += ["--spark-driver-memory", args.spark_driver_memory]
    if cap is not None:
        cmd += ["--rows-cap", str(cap)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    try:
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
            return {"engine": engine, "error": f"exit {proc.returncode}: " + "\n".join(tail)}
        return json.loads(result_path.read_text())
    finally:
        result_path.unlink(missing_ok=True)


# --- report -----------------------------------------------------------------------------------


def fmt_num(x: float | None, spec: str = ",.0f") -> str:
    return "–" if x is None else format(x, spec)


def report(results: list[dict[str, Any]], command: str, bronze_rows: int, bronze_s: float) -> None:
    ok = {r["engine"]: r for r in results if "error" not in r and "seconds" in r}
    print(f"\nbronze: {bronze_rows:,} readings built in {bronze_s:.1f} s (not timed below)\n")
    print(
        "| engine | readings | seconds | readings/s | peak RSS (MiB) | load (s, untimed) | notes |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['engine']} | – | failed | – | – | – | see below |")
            continue
        notes = []
        notes.append(f"load avg {r['loadavg_start']:.1f}→{r['loadavg_end']:.1f}")
        if r["engine"] == "spark":
            notes.append(f"driver memory {r['driver_memory']}")
            notes.append(f"JVM start {r['jvm_start_s']:.1f} s")
            notes.append(f"first run (warm-up) {r['warmup_s']:.1f} s")
            notes.append(f"compute only (noop sink) {r['noop_s']:.1f} s")
            if "collect_error" in r:
                notes.append(f"collect to driver FAILED: {r['collect_error']}")
            notes.append(f"JVM peak RSS {fmt_num(r.get('jvm_peak_rss_mib'))} MiB")
            notes.append("RSS column = Python driver only")
        if r["engine"] == "pandas":
            notes.append("Arrow→pandas conversion in load")
        secs = r.get("seconds") or r.get("noop_s")
        label = r["engine"] + ("" if "seconds" in r else " (noop sink)")
        print(
            f"| {label} | {r['readings']:,} | {secs:.2f} | "
            f"{r['readings'] / secs:,.0f} | {r['peak_rss_mib']:,.0f} | "
            f"{r['load_s']:.2f} | {'; '.join(notes)} |"
        )
    if "duckdb" in ok:
        d = ok["duckdb"]["seconds"]
        for other in ("pandas", "spark"):
            if other in ok:
                same = ok[other]["readings"] == ok["duckdb"]["readings"]
                note = "" if same else " (different row counts: compare readings/s)"
                ratio = ok[other]["seconds"] / d
                word = f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"
                print(f"\nDuckDB vs {other}: DuckDB {word}{note}")
    print(f"\ncommand: {command}")
    for r in results:
        if "error" in r:
            print(f"\n{r['engine']} FAILED:\n{r['error']}")


def check(results: list[dict[str, Any]]) -> bool:
    """All engines on the same rows must agree on every check aggregate."""
    ok = [r for r in results if "error" not in r and "stats" in r]
    by_rows: dict[int, list[dict[str, Any]]] = {}
    for r in ok:
        by_rows.setdefault(r["readings"], []).append(r)
    agree = True
    for rows, group in by_rows.items():
        if len(group) < 2:
            print(f"\ncheck: only {group[0]['engine']} ran on {rows:,} rows, nothing to compare")
            continue
        keys = list(group[0]["stats"])
        print(f"\ncheck on {rows:,} readings ({', '.join(r['engine'] for r in group)}):")
        print("| aggregate | " + " | ".join(r["engine"] for r in group) + " |")
        print("|---|" + "---:|" * len(group))
        for k in keys:
            vals = [r["stats"].get(k) for r in group]
            if k == "kwh_sum" and None not in vals:  # float sums depend on the order
                same = all(math.isclose(x, vals[0], rel_tol=1e-9) for x in vals)
            else:
                same = len(set(map(str, vals))) == 1
            mark = "" if same else " **MISMATCH**"
            agree &= not mark
            cells = ["–" if v is None else f"{v:,}" for v in vals]
            print(f"| {k}{mark} | " + " | ".join(cells) + " |")
    print("\ncheck: " + ("all engines agree" if agree else "ENGINES DISAGREE (see above)"))
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--spark-rows", type=int, default=None, help="cap Spark's readings")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--check", action="store_true", help="compare engine results")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per engine (best)")
    parser.add_argument(
        "--spark-driver-memory", default=None, help="e.g. 8g (default: SparkEngine's 2g)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--bronze", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows-cap", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        res = run_worker(
            args.worker,
            args.bronze,
            args.rows_cap,
            args.spark_master,
            args.repeat,
            args.spark_driver_memory,
        )
        args.result.write_text(json.dumps(res))
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    command = "python benchmarks/bench_silver.py " + shlex.join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="wl_bench_silver_") as tmp:
        bronze = Path(tmp) / "bronze.parquet"
        n, secs = build_bronze(args.households, args.days, args.seed, bronze)
        print(f"bronze: {n:,} readings ({args.households} households × {args.days} days)")
        results = []
        for e in engines:
            cap = args.spark_rows if e == "spark" else None
            print(f"running {e} ...", flush=True)
            results.append(spawn(e, bronze, cap, args))
        if args.check and args.spark_rows and args.spark_rows < n and "spark" in engines:
            # Spark ran on a prefix: compare it with DuckDB on the same prefix.
            print("running duckdb on the spark prefix (check only) ...", flush=True)
            extra = spawn("duckdb", bronze, args.spark_rows, args)
            extra["engine"] = "duckdb (spark rows)"
            results.append(extra)
        shown = [r for r in results if not r["engine"].endswith("(spark rows)")]
        report(shown, command, n, secs)
        if args.check and not check(results):
            sys.exit(1)


if __name__ == "__main__":
    main()
