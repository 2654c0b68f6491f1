"""Benchmark the silver VEE rules (`classify`) on DuckDB and Spark against a pandas baseline.

Builds one bronze table from generated faulty meter-csv data (generate → parse_lines →
lineage columns with a fixed `_ingested_at`, exact re-sends dropped as bronze does), writes
it to a temp Parquet file laid out as `wattlake ingest` writes bronze (sorted by meter id, in
row groups of `tables.CLUSTERED_ROW_GROUP_ROWS`), then runs each engine in its own
subprocess so that peak RSS is per engine. Timed: `classify` end to end to an in-memory
result (Arrow for the Ibis engines, a DataFrame for pandas). Not timed, reported
separately: loading bronze into the engine (DuckDB table / pandas DataFrame / cached Spark
DataFrame), Spark JVM start-up, Spark's first (warm-up) run, and every engine's check
aggregates (`--check`).

Usage: ``python benchmarks/bench_silver.py --households 2000 --days 30 --check``
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
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
    """Generate faulty meter-csv files and write the bronze table to `out` (Parquet).

    File by file (memory stays small at any size), keeping one row per `_record_id` (first
    seen) as ingest does: exact re-sends are copies of a line of the same file (each meter is
    in one file), so deduplicating per file is deduplicating the whole table. Then sorted as
    one ingest of all the files lands them: by meter id (`BRONZE_READINGS.cluster_by`), ties
    in `_batch_id` and line order, in the lake's row groups (DuckDB sorts, spilling to disk).
    """
    from wattlake.generate import generate
    from wattlake.lake.catalog import BRONZE_READINGS
    from wattlake.lake.delta import CLUSTERED_ROW_GROUP_ROWS
    from wattlake.landing import batch_id_for
    from wattlake.sources.files import parse_lines

    t0 = time.perf_counter()
    total = 0
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="wl_bench_gen_") as tmp:
        res = generate(
            Path(tmp), households, days, seed=seed, fmt="meter-csv", faults=True, now=ARRIVAL
        )
        # The batch id is the checksum of the file's bytes (as `parse_lines` computes it).
        files = sorted(
            (batch_id_for(hashlib.sha256(p.read_bytes()).hexdigest()), p) for p in res.files
        )
        unsorted = Path(tmp) / "unsorted.parquet"
        with pq.ParquetWriter(unsorted, BRONZE_SCHEMA) as writer:
            for batch_id, path in files:
                pf = parse_lines(path.read_bytes(), "meter-csv", str(path))
                assert batch_id == batch_id_for(pf.checksum)
                rows = pf.rows
                n = rows.num_rows
                raw = pa.table(
                    {
                        "meter_id": rows["meter_id"],
                        "timestamp": rows["timestamp"],
                        "value": rows["value"],
                        "unit": rows["unit"],
                        "_format": pa.array(["meter-csv"] * n, pa.string()),
                        "_batch_id": pa.array([batch_id] * n, pa.string()),
                        "_source_file": pa.array([path.name] * n, pa.string()),
                        "_row_number": rows["_row_number"].cast(pa.int64()),
                        "_ingested_at": pa.array([ARRIVAL] * n, BRONZE_SCHEMA.field(8).type),
                    }
                )
                con.register("raw", raw)
                # `_record_id` as ingest computes it; one row per record id (first seen).
                part = con.execute(
                    """
                    SELECT * EXCLUDE (_rn) FROM (
                        SELECT *, row_number() OVER (
                            PARTITION BY _record_id ORDER BY _row_number) AS _rn
                        FROM (
                            SELECT *, sha256(concat_ws('|', meter_id, timestamp, value,
                                coalesce(unit, ''))) AS _record_id
                            FROM raw
                        )
                    ) WHERE _rn = 1 ORDER BY _row_number
                    """
                ).to_arrow_table()
                con.unregister("raw")
                writer.write_table(part.select(BRONZE_SCHEMA.names).cast(BRONZE_SCHEMA))
                total += part.num_rows
                path.unlink()  # keep the temporary directory small
        con.execute(f"SET memory_limit = '4GB'; SET temp_directory = '{tmp}/spill'")
        key = ", ".join([*BRONZE_READINGS.cluster_by, "_batch_id", "_row_number"])
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{unsorted}') ORDER BY {key}) TO '{out}' "
            f"(FORMAT parquet, ROW_GROUP_SIZE {CLUSTERED_ROW_GROUP_ROWS})"
        )
    con.close()
    return total, time.perf_counter() - t0


def clustered(path: Path) -> bool:
    """Whether the Parquet file's row groups hold ascending, disjoint meter-id ranges."""
    md = pq.ParquetFile(path).metadata
    col = md.schema.names.index("meter_id")
    stats = [md.row_group(i).column(col).statistics for i in range(md.num_row_groups)]
    if any(st is None or not st.has_min_max for st in stats):
        return False
    return all(a.max <= b.min for a, b in itertools.pairwise(stats))


# --- measurement helpers ----------------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB.

    Linux: `VmHWM`, the peak of this program since it started. Not `ru_maxrss`: a process
    started by fork + exec inherits its parent's peak there (a worker spawned after the
    bronze build would report the build's memory)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
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
    """Check aggregates of a classified result (Arrow); they add up over chunks
    (`add_stats`). The kWh sum is left unrounded (the check allows for summation order)."""
    import pyarrow.compute as pc

    from wattlake.transforms.vee.rules import ALL_RULES, column

    kwh = float(pc.sum(t["kwh"]).as_py() or 0.0)
    out: dict[str, Any] = {
        "rows": t.num_rows,
        "quarantined": int(pc.sum(t["quarantined"].cast(pa.int64())).as_py() or 0),
        "score_sum": int(pc.sum(t["quality_score"].cast(pa.int64())).as_py() or 0),
        "kwh_sum": kwh,
    }
    for g in "ABCF":
        out[f"grade_{g}"] = int(pc.sum(pc.equal(t["quality_grade"], g).cast(pa.int64())).as_py())
    for rule in ALL_RULES:
        if column(rule) in t.column_names:
            out[rule] = int(pc.sum(t[column(rule)].cast(pa.int64())).as_py() or 0)
    return out


def add_stats(total: dict[str, Any] | None, part: dict[str, Any]) -> dict[str, Any]:
    """Sum of two `stats_arrow` results."""
    if total is None:
        return dict(part)
    return {k: total.get(k, 0) + v for k, v in part.items()}


def stats_pandas(df: Any) -> dict[str, Any]:
    """Check aggregates of a classified result (pandas)."""
    from pandas_reference import ALL_RULES, column

    out: dict[str, Any] = {
        "rows": len(df),
        "quarantined": int(df["quarantined"].sum()),
        "score_sum": int(df["quality_score"].astype("int64").sum()),
        "kwh_sum": float(df["kwh"].sum()),
    }
    for g in "ABCF":
        out[f"grade_{g}"] = int((df["quality_grade"] == g).sum())
    for rule in ALL_RULES:
        out[rule] = int(df[column(rule)].sum())
    return out


# --- one engine, in its own process -----------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads), seconds."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Untimed:
    """Time spent inside `with untimed:` blocks (wall and CPU seconds), which `best_of`
    leaves out: the check aggregates a streamed engine computes chunk by chunk, as the other
    engines compute them after their timed run."""

    def __init__(self) -> None:
        self.seconds = self.cpu = 0.0

    def __enter__(self) -> None:
        self._t0, self._c0 = time.perf_counter(), cpu_seconds()

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._t0
        self.cpu += cpu_seconds() - self._c0


def best_of(
    repeat: int, fn: Any, res: dict[str, Any] | None = None, untimed: Untimed | None = None
) -> tuple[float, Any]:
    """Fastest of `repeat` runs of `fn` (seconds, less `untimed`) and the last result; the
    fastest run's CPU seconds go to `res["cpu_s"]` (on a busy machine CPU time is steadier
    than wall time) and its untimed seconds to `res["untimed_s"]`."""
    best, out = float("inf"), None
    for _ in range(max(repeat, 1)):
        out = None  # free the previous result before the next run
        skip = untimed or Untimed()
        skip.seconds = skip.cpu = 0.0
        t0, c0 = time.perf_counter(), cpu_seconds()
        out = fn()
        secs = time.perf_counter() - t0 - skip.seconds
        if secs < best:
            best = secs
            if res is not None:
                res["cpu_s"] = cpu_seconds() - c0 - skip.cpu
                if untimed is not None:
                    res["untimed_s"] = skip.seconds
    return best, out


def meter_sample(path: Path, readings: int | None) -> tuple[list[str] | None, int]:
    """Whole meters of about `readings` readings spread over the bronze file (every k-th
    meter id), and their number of readings; (None, all rows) when `readings` is None or
    not smaller. A prefix of the meter-sorted file would hold consumption meters only."""
    total = pq.ParquetFile(path).metadata.num_rows
    if readings is None or readings >= total:
        return None, total
    sizes = duckdb.sql(
        f"SELECT meter_id, count(*) FROM read_parquet('{path}') "
        "WHERE meter_id IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall()
    step = max(1, round(total / readings))
    picked = sizes[::step]
    return [m for m, _ in picked], sum(c for _, c in picked)


def run_worker(
    engine: str,
    bronze_path: Path,
    rows_cap: int | None,
    spark_master: str,
    repeat: int = 1,
    driver_memory: str | None = None,
    duck: dict[str, Any] | None = None,
) -> dict:
    """Load bronze, time `classify` on `engine`; returns the measurements as a dict."""
    from wattlake.transforms.calendar import uk_holidays
    from wattlake.transforms.vee.profile import get_profile

    duck = duck or {}
    profile = get_profile("greenstream")
    holidays = uk_holidays(2024, 2025)
    ids, n = meter_sample(bronze_path, rows_cap)

    def load() -> pa.Table:
        """The bronze rows (of the sampled meters) in memory."""
        filters = None if ids is None else [("meter_id", "in", ids)]
        return pq.read_table(bronze_path, schema=BRONZE_SCHEMA, filters=filters)

    res: dict[str, Any] = {"engine": engine, "readings": n}
    res["loadavg_start"] = os.getloadavg()[0]

    if engine == "pandas":
        from pandas_reference import classify_pandas

        t0 = time.perf_counter()
        bronze = load()
        df = bronze.to_pandas()
        res["load_s"] = time.perf_counter() - t0
        del bronze
        res["rss_before_mib"] = peak_rss_mib()
        res["seconds"], out = best_of(repeat, lambda: classify_pandas(df, profile, holidays), res)
        res["stats"] = stats_pandas(out)

    elif engine == "duckdb":
        from wattlake.engine import DuckDBEngine
        from wattlake.pipeline.vee_chunks import classify_chunks

        eng = DuckDBEngine(
            threads=duck.get("threads"),
            memory_limit=duck.get("memory_limit"),
            chunk_readings=duck.get("chunk_readings"),
        )
        t0 = time.perf_counter()
        if duck.get("source") == "parquet":
            # As the pipeline reads bronze: a scan of the files, nothing loaded first.
            table = eng.con.read_parquet(str(bronze_path))
            if ids is not None:
                table = table.filter(table.meter_id.isin(ids))
        else:
            table = eng.con.create_table("bronze", load(), temp=True)
        res["load_s"] = time.perf_counter() - t0
        res["source"] = duck.get("source", "memory")
        res["drain"] = duck.get("drain", "table")
        res["rss_before_mib"] = peak_rss_mib()

        def batches(part: Any) -> Any:
            """A chunk's result as Arrow record batches (see `--drain`)."""
            if duck.get("drain") == "stream":
                return part.to_pyarrow_batches(chunk_size=1_000_000)
            return eng.to_arrow(part).to_batches(max_chunksize=1_000_000)

        check = Untimed()

        def run() -> tuple[dict[str, Any], int]:
            # The result of each chunk of meters in Arrow, checked (untimed), then dropped
            # (a Spark job writing to the noop sink is the same): memory is bounded by the
            # chunk size, not the input size.
            total, chunks = None, 0
            for part in classify_chunks(eng, table, profile, holidays):
                for batch in batches(part):
                    with check:
                        total = add_stats(total, stats_arrow(pa.Table.from_batches([batch])))
                chunks += 1
            return total, chunks

        res["seconds"], (stats, res["chunks"]) = best_of(repeat, run, res, check)
        res["stats"] = stats

    elif engine == "spark":
        from wattlake.engine import SparkEngine
        from wattlake.transforms.silver import classify

        bronze = load()
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
    cmd += ["--duckdb-source", args.duckdb_source, "--drain", args.drain]
    for flag in ("duckdb_threads", "duckdb_memory_limit", "chunk_readings"):
        if getattr(args, flag) is not None:
            cmd += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    # The benchmarks directory first, then the caller's path (so that PYTHONPATH=<tree>/src
    # measures that tree's wattlake rather than the installed one).
    path = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
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
        if r["engine"] == "duckdb":
            notes.append(
                f"source {r.get('source', 'memory')}, {r.get('chunks', 1)} chunk(s), "
                f"drain {r.get('drain', 'stream')}"
            )
        if r.get("cpu_s"):
            notes.append(f"process CPU {r['cpu_s']:.1f} s")
        if r.get("untimed_s"):
            notes.append(f"check aggregates {r['untimed_s']:.1f} s not counted")
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
        d = ok["duckdb"]
        for other in ("pandas", "spark"):
            if other in ok:
                o = ok[other]
                same = o["readings"] == d["readings"]
                note = "" if same else " (different row counts: ratio of readings/s)"
                ratio = (d["readings"] / d["seconds"]) / (o["readings"] / o["seconds"])
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
            cells = [
                "–" if v is None else f"{v:,.3f}" if isinstance(v, float) else f"{v:,}"
                for v in vals
            ]
            print(f"| {k}{mark} | " + " | ".join(cells) + " |")
    print("\ncheck: " + ("all engines agree" if agree else "ENGINES DISAGREE (see above)"))
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument(
        "--spark-rows", type=int, default=None, help="cap Spark's readings (as --pandas-rows)"
    )
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--check", action="store_true", help="compare engine results")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per engine (best)")
    parser.add_argument(
        "--spark-driver-memory", default=None, help="e.g. 8g (default: SparkEngine's 2g)"
    )
    parser.add_argument(
        "--pandas-rows",
        type=int,
        default=None,
        help="cap pandas' readings (whole meters spread over the file, `meter_sample`)",
    )
    parser.add_argument(
        "--duckdb-source",
        choices=("memory", "parquet"),
        default="memory",
        help="DuckDB reads bronze from a table loaded in memory (untimed) or scans the "
        "Parquet file as the pipeline scans Delta (nothing held in memory)",
    )
    parser.add_argument(
        "--drain",
        choices=("table", "stream"),
        default="table",
        help="DuckDB: fetch each chunk's result as one Arrow table with the engine's "
        "`to_arrow` (converted in parallel, as the pipeline fetches results), or stream it "
        "with Ibis `to_pyarrow_batches` (DuckDB first collects the whole chunk, then converts "
        "it on one thread: slower, and no less memory); README figures "
        "taken before `--drain` existed used `stream`",
    )
    parser.add_argument("--duckdb-threads", type=int, default=None)
    parser.add_argument("--duckdb-memory-limit", default=None, help="e.g. 3GB")
    parser.add_argument(
        "--chunk-readings",
        type=int,
        default=None,
        help="readings per chunk of meters (default: DuckDBEngine.chunk_readings)",
    )
    parser.add_argument(
        "--bronze-file",
        type=Path,
        default=None,
        help="keep the generated bronze here and reuse it when it exists (same sizes/seed)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--bronze", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows-cap", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        duck = {
            "source": args.duckdb_source,
            "drain": args.drain,
            "threads": args.duckdb_threads,
            "memory_limit": args.duckdb_memory_limit,
            "chunk_readings": args.chunk_readings,
        }
        res = run_worker(
            args.worker,
            args.bronze,
            args.rows_cap,
            args.spark_master,
            args.repeat,
            args.spark_driver_memory,
            duck,
        )
        args.result.write_text(json.dumps(res))
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    command = "python benchmarks/bench_silver.py " + shlex.join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="wl_bench_silver_") as tmp:
        bronze = args.bronze_file or Path(tmp) / "bronze.parquet"
        if args.bronze_file and args.bronze_file.exists():
            n, secs = pq.ParquetFile(bronze).metadata.num_rows, 0.0
            print(f"bronze: {n:,} readings reused from {bronze}")
            if not clustered(bronze):
                print("  (not sorted by meter id as ingest writes bronze: delete it to rebuild)")
        else:
            n, secs = build_bronze(args.households, args.days, args.seed, bronze)
            print(f"bronze: {n:,} readings ({args.households} households × {args.days} days)")
        caps = {"spark": args.spark_rows, "pandas": args.pandas_rows}
        results = []
        for e in engines:
            print(f"running {e} ...", flush=True)
            results.append(spawn(e, bronze, caps.get(e), args))
        for other, cap in caps.items():
            if args.check and cap and cap < n and other in engines:
                # It ran on a sample of meters: compare it with DuckDB on the same meters.
                print(f"running duckdb on the {other} meters (check only) ...", flush=True)
                extra = spawn("duckdb", bronze, cap, args)
                extra["engine"] = f"duckdb ({other} rows)"
                results.append(extra)
        shown = [r for r in results if not r["engine"].endswith(" rows)")]
        report(shown, command, n, secs)
        if args.check and not check(results):
            sys.exit(1)


if __name__ == "__main__":
    main()
