#!/usr/bin/env python3
"""Row count and content hash of every table of a wattlake home (lake + DuckDB warehouse).

    .venv/bin/python scripts/table_hashes.py HOME [--out FILE] [--compare FILE]

Used to show that a change keeps a run's results identical (e.g. a demo run before and after
a refactor): columns that differ between any two runs by nature — run and batch ids made of
random ids, wall-clock times, durations, log messages that name them — are left out, and
floats are rounded to 6 decimals (parallel sums may differ in the last bits). The hash is
order-independent (sorted row hashes). Reads the Delta tables under HOME/lake directly with
DuckDB's delta extension and the warehouse file HOME/warehouse.duckdb, so it does not depend
on wattlake's own modules and can compare homes written by different versions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

# Columns whose values differ between two runs of the same input by nature.
VOLATILE = {
    "_run_id",
    "run_id",
    "_ingested_at",
    "ingest_date",
    "ingested_at",
    "processed_at",
    "recorded_at",
    "alert_ts",
    "checked_at",
    "duration_s",
    "started_at",
    "_loaded_at",
    "computed_at",
    "fetched_at",
    "released_at",
    "message",
    "sample",
    "observed",
    "batch_id_run",
    "loaded_at",
}
# Tables that record the process itself (timings, run ids in values): compared by rows only.
PROCESS_TABLES = {"ops.runs", "ops.metrics", "ops.checkpoints", "ops.quality_results"}


def delta_extension() -> str:
    import duckdb_extension_delta

    root = Path(duckdb_extension_delta.__file__).parent
    found = sorted(root.rglob(f"v{duckdb.__version__}/delta.duckdb_extension"))
    return str(found[0])


def table_hashes(home: Path) -> dict[str, dict[str, object]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"INSTALL '{delta_extension()}'; LOAD delta;")
    relations: dict[str, str] = {}
    for log in sorted((home / "lake").glob("*/*/_delta_log")):
        table = log.parent
        relations[f"{table.parent.name}.{table.name}"] = f"delta_scan('{table}')"
    wh = home / "warehouse.duckdb"
    if wh.exists():
        con.execute(f"ATTACH '{wh}' AS wh (READ_ONLY)")
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = 'wh' AND table_schema = 'dw' ORDER BY 1"
        ).fetchall():
            relations[f"dw.{name}"] = f"wh.dw.{name}"
    out: dict[str, dict[str, object]] = {}
    for name, rel in relations.items():
        cols = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
        rows = con.execute(f"SELECT count(*) FROM {rel}").fetchone()[0]
        entry: dict[str, object] = {"rows": rows}
        if name not in PROCESS_TABLES:
            exprs = []
            for col, typ, *_ in cols:
                if col in VOLATILE or col.endswith("_run_id"):
                    continue
                q = f'"{col}"'
                exprs.append(f"round({q}, 6)" if typ in ("DOUBLE", "FLOAT") else q)
            row = "md5(CAST(ROW(" + ", ".join(exprs) + ") AS VARCHAR))" if exprs else "''"
            entry["hash"] = con.execute(
                f"SELECT md5(coalesce(string_agg(h, '' ORDER BY h), '')) "
                f"FROM (SELECT {row} AS h FROM {rel})"
            ).fetchone()[0]
        out[name] = entry
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--out", type=Path, help="write the hashes as JSON")
    ap.add_argument("--compare", type=Path, help="JSON from an earlier run: report differences")
    args = ap.parse_args()
    hashes = table_hashes(args.home)
    if args.out:
        args.out.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    for name, e in hashes.items():
        print(f"{name:40s} {e['rows']:>10,}  {e.get('hash', '(rows only)')}")
    if args.compare:
        before = json.loads(args.compare.read_text())
        diffs = [
            f"{n}: {before.get(n)} -> {hashes.get(n)}"
            for n in sorted(set(before) | set(hashes))
            if before.get(n) != hashes.get(n)
        ]
        print(f"\n{len(diffs)} table(s) differ" + (":" if diffs else ""))
        for d in diffs:
            print("  " + d)
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
