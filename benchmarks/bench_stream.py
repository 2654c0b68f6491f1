"""Benchmark `wattlake stream run` against a real Kafka broker (not a test).

Scenarios (each in a fresh lake, on topics under a fresh prefix):

- `throughput`: the topic is filled first (`stream simulate --fast`), then the runner drains
  it; readings/s = readings landed / wall time from the first poll to the last commit.
- `latency`: the simulator sends at `--rate` msg/s while the runner consumes; per reading,
  latency = commit time − `produced_at` (the producer's wall clock in the event), to the
  aggregate commit (`ops.stream_offsets`, the micro-batch's commit point, which comes
  after `stream.aggregates_5min`) and to the silver commit (the silver step that processed
  its batch). p50/p99/max over the readings sent after the first `--warmup` seconds.
- `soak`: `latency` for `--seconds`, reporting the process's RSS at start and end.

Every figure is printed with the load average of the machine (1 min) at its start and end.
Usage (the broker: `eval "$(scripts/kafka.sh start)"`):

    python benchmarks/bench_stream.py throughput --households 2000 --days 14
    python benchmarks/bench_stream.py latency --rate 1000 --seconds 120
    python benchmarks/bench_stream.py soak --rate 5000 --seconds 1800
    python benchmarks/bench_stream.py latency --engine spark --rate 1000 --seconds 120
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from wattlake.config import load_settings
from wattlake.context import build_context
from wattlake.logs import configure_logging
from wattlake.stream import simulate as sim
from wattlake.stream.job.local import RunOptions, run_local
from wattlake.stream.job.micro import BatchReport, StreamConfig


def load() -> float:
    return os.getloadavg()[0]


def pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q)) if len(a) else float("nan")


class Latency:
    """Per-reading latencies from batch reports and silver settle times."""

    def __init__(self, after: float, verbose: bool = False) -> None:
        self.verbose = verbose
        self.after = after  # only readings produced after this wall time (s)
        self.agg: list[np.ndarray] = []
        self.pending: list[tuple[list[str], np.ndarray]] = []
        self.silver: list[np.ndarray] = []
        self.lock = threading.Lock()

    def on_batch(self, r: BatchReport) -> None:
        if self.verbose:
            print(
                f"  batch {r.messages:,} msgs {r.seconds:.2f} s "
                + " ".join(f"{k}={v:.2f}" for k, v in r.stages.items())
            )
        if r.produced_at is None or len(r.produced_at) == 0:
            return
        produced = r.produced_at.cast("int64").to_numpy(zero_copy_only=False) / 1e6
        produced = produced[produced >= self.after]
        if len(produced):
            self.agg.append(r.committed_at - produced)
            with self.lock:
                self.pending.append((r.batch_ids, produced))

    def on_settled(self, batch_ids: list[str], at: float) -> None:
        done = set(batch_ids)
        with self.lock:
            keep = []
            for ids, produced in self.pending:
                if any(b in done for b in ids):
                    self.silver.append(at - produced)
                else:
                    keep.append((ids, produced))
            self.pending = keep

    def summary(self) -> dict[str, float]:
        a = np.concatenate(self.agg) if self.agg else np.array([])
        s = np.concatenate(self.silver) if self.silver else np.array([])
        return {
            "readings": len(a),
            "agg_p50": pct(a, 50),
            "agg_p99": pct(a, 99),
            "agg_max": float(a.max()) if len(a) else float("nan"),
            "silver_readings": len(s),
            "silver_p50": pct(s, 50),
            "silver_p99": pct(s, 99),
            "silver_max": float(s.max()) if len(s) else float("nan"),
        }


def generate(out: Path, households: int, days: int) -> Path:
    from wattlake.stream.inputs import generate_data

    generate_data(
        out, households, days, seed=7, fmt="meter-csv", faults=False, start=dt.date(2024, 3, 1),
        zone="DE-LU",
    )  # fmt: skip
    return out


def settings_for(home: Path, engine: str) -> Any:
    s = load_settings(home=home, engine=engine)
    configure_logging(s.home / "logs")
    return s


def throughput(args: argparse.Namespace, work: Path) -> None:
    boot = os.environ["WATTLAKE_KAFKA_BOOTSTRAP"]
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    data = generate(work / "data", args.households, args.days)
    t0 = time.perf_counter()
    rep = sim.simulate(boot, [data], zone="DE-LU", pacing=sim.Pacing("fast", 0.0), prefix=prefix)
    print(
        f"filled {rep.sent.total:,} messages in {time.perf_counter() - t0:.1f} s "
        f"(load {load():.1f})"
    )
    s = settings_for(work / "home", args.engine)
    l0 = load()
    rss0 = psutil.Process().memory_info().rss
    first: list[float] = []

    def on_batch(r: BatchReport) -> None:
        if not first:
            first.append(r.committed_at - r.seconds)
        print(
            f"  batch {r.messages:,} msgs {r.seconds:.2f} s "
            + " ".join(f"{k}={v:.2f}" for k, v in r.stages.items())
        )

    with build_context(s) as ctx:
        opts = RunOptions(
            max_messages=args.max_messages, until_idle_s=3.0, settle_every_s=args.settle_every
        )
        t_start = time.time()
        summ = run_local(ctx, StreamConfig(prefix=prefix), opts, on_batch=on_batch)
    live_s = max(r for r in [time.time()]) - t_start
    print(
        f"throughput ({args.engine}): {summ.landed:,} readings landed in {summ.batches} "
        f"micro-batches; run incl. idle wait and final silver: {summ.seconds:.1f} s; "
        f"RSS {rss0 / 2**20:.0f} → {psutil.Process().memory_info().rss / 2**20:.0f} MiB; "
        f"load {l0:.1f} → {load():.1f}; wall {live_s:.1f} s"
    )


def latency(args: argparse.Namespace, work: Path, soak: bool = False) -> None:
    boot = os.environ["WATTLAKE_KAFKA_BOOTSTRAP"]
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    need_days = max(1, int(args.rate * args.seconds / (args.households * 1.33 * 48)) + 1)
    data = generate(work / "data", args.households, need_days)
    s = settings_for(work / "home", args.engine)
    stop = threading.Event()
    start_wall = time.time() + args.warmup
    lat = Latency(start_wall, args.verbose)
    rss: list[tuple[float, float]] = []

    def produce() -> None:
        from wattlake.stream import outgoing, perturb
        from wattlake.stream.inputs import load_source

        src = load_source([data], "DE-LU")
        plan = sim.plan_replay(
            src, perturb.Perturbations(), outgoing.AlertRules(), dt.datetime.now(dt.UTC)
        )
        n = min(plan.messages.num_rows, int(args.rate * args.seconds))
        msgs = plan.messages.slice(0, n)
        when = sim.targets(msgs, plan.start_s, sim.Pacing("rate", args.rate))
        sent = sim.send(msgs, when, boot, prefix=prefix, config={"linger.ms": 5})
        print(f"  sent {sent.total:,} messages in {sent.seconds:.1f} s = {sent.rate:,.0f}/s")
        time.sleep(5)
        stop.set()

    def sample_rss() -> None:
        while not stop.is_set():
            rss.append((time.time(), psutil.Process().memory_info().rss / 2**20))
            stop.wait(10)

    l0 = load()
    with build_context(s) as ctx:
        from wattlake.stream.topics import ensure_topics, topic_specs

        ensure_topics(boot, topic_specs(4, prefix))
        threading.Thread(target=produce, daemon=True).start()
        threading.Thread(target=sample_rss, daemon=True).start()
        opts = RunOptions(
            max_messages=args.max_messages,
            max_wait_ms=args.max_wait_ms,
            settle_every_s=args.settle_every,
            start="earliest",
        )
        summ = run_local(
            ctx,
            StreamConfig(prefix=prefix),
            opts,
            stop=stop,
            on_batch=lat.on_batch,
            on_settled=lat.on_settled,
        )
    res = lat.summary()
    print(
        f"latency ({args.engine}, {args.rate:,.0f} msg/s, {args.seconds} s, warm-up "
        f"{args.warmup} s): {res['readings']:,} readings; produce→aggregate committed "
        f"p50 {res['agg_p50']:.3f} s, p99 {res['agg_p99']:.3f} s, max {res['agg_max']:.3f} s; "
        f"produce→silver committed ({res['silver_readings']:,}) p50 {res['silver_p50']:.2f} s, "
        f"p99 {res['silver_p99']:.2f} s, max {res['silver_max']:.2f} s; "
        f"{summ.batches} micro-batches, silver {summ.settles}×; load {l0:.1f} → {load():.1f}"
    )
    if rss:
        print(
            f"RSS {rss[0][1]:.0f} MiB at start, {rss[-1][1]:.0f} MiB at the end "
            f"(max {max(r for _, r in rss):.0f} MiB, {len(rss)} samples)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", choices=("throughput", "latency", "soak"))
    ap.add_argument("--households", type=int, default=1000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--warmup", type=float, default=15.0)
    ap.add_argument("--engine", default="duckdb", choices=("duckdb", "spark"))
    ap.add_argument("--max-messages", type=int, default=200_000)
    ap.add_argument("--max-wait-ms", type=int, default=250)
    ap.add_argument("--settle-every", type=float, default=10.0)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--verbose", action="store_true", help="a line per micro-batch")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wl-bench-stream-", dir=args.work) as tmp:
        work = Path(tmp)
        print(f"{args.scenario}: {vars(args)} (load {load():.1f})")
        if args.scenario == "throughput":
            throughput(args, work)
        else:
            latency(args, work, soak=args.scenario == "soak")


if __name__ == "__main__":
    main()
