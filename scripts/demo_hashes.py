#!/usr/bin/env python3
"""Run the offline demo with a pinned clock and print (or compare) every table's hash.

    .venv/bin/python scripts/demo_hashes.py HOME --out before.json      # on the old version
    .venv/bin/python scripts/demo_hashes.py HOME --compare before.json  # on the new one

The clock is pinned to today 00:00 UTC (`--now` to choose another): the generator's
"future readings" and every arrival time derive from it, so two runs of the same code give
the same tables, and a change that keeps results identical gives the same hashes
(`table_hashes.py` leaves out run ids, wall-clock times and durations). HOME is emptied
first. Use the same HOME path for both runs: file paths are part of the lineage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

from wattlake.config import load_settings
from wattlake.context import build_context
from wattlake.logs import configure_logging
from wattlake.pipeline.demo import run_demo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--households", type=int, default=200)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--now", help="pinned clock, ISO 8601 (default: today 00:00 UTC)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--compare", type=Path)
    args = ap.parse_args()
    now = (
        dt.datetime.fromisoformat(args.now)
        if args.now
        else dt.datetime.combine(dt.date.today(), dt.time(), dt.UTC)
    )
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    shutil.rmtree(args.home, ignore_errors=True)
    settings = load_settings(home=args.home)
    configure_logging(settings.home / "logs")
    with build_context(settings, clock=lambda: now) as ctx:
        run_demo(ctx, households=args.households, days=args.days)
    cmd = [sys.executable, str(Path(__file__).with_name("table_hashes.py")), str(args.home)]
    if args.out:
        cmd += ["--out", str(args.out)]
    if args.compare:
        cmd += ["--compare", str(args.compare)]
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
