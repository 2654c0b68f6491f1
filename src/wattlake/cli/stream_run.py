"""`wattlake stream run|status`: the stream runner and where it is."""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from wattlake.cli.common import HomeOpt, check_engine, err, open_context, out, settings_for
from wattlake.cli.stream import BootstrapOpt, PartitionsOpt, PrefixOpt, stream_app
from wattlake.errors import InputError

GroupOpt = Annotated[
    str, typer.Option("--group", help="Kafka consumer group (and the lake's offsets key).")
]


def _positive(name: str, value: float) -> float:
    if value <= 0:
        raise InputError(f"--{name} must be > 0, got {value:g}")
    return value


@stream_app.command("run")
def run_cmd(
    engine: Annotated[
        str, typer.Option("--engine", help="duckdb (a local consumer loop) or spark.")
    ] = "duckdb",
    until_idle: Annotated[
        float | None,
        typer.Option(
            "--until-idle", help="Stop when no message came for this many seconds (drained)."
        ),
    ] = None,
    group: GroupOpt = "wattlake-stream",
    max_messages: Annotated[
        int, typer.Option("--max-messages", help="Largest micro-batch (messages).")
    ] = 200_000,
    max_wait_ms: Annotated[
        int,
        typer.Option("--max-wait-ms", help="A micro-batch closes this long after its first one."),
    ] = 250,
    settle_every: Annotated[
        float, typer.Option("--settle-every", help="Run the silver step every N seconds.")
    ] = 10.0,
    start: Annotated[
        str,
        typer.Option(
            "--start", help="Where a partition the lake has no offset for starts: earliest|latest."
        ),
    ] = "earliest",
    watermark_delay: Annotated[
        float, typer.Option("--watermark-delay", help="Watermark delay (minutes).")
    ] = 60.0,
    allowed_lateness: Annotated[
        float, typer.Option("--allowed-lateness", help="Allowed lateness (minutes).")
    ] = 5.0,
    context_hours: Annotated[
        float, typer.Option("--context-hours", help="Live VEE context (hours of arrivals).")
    ] = 2.0,
    partitions: PartitionsOpt = 4,
    prefix: PrefixOpt = None,
    bootstrap: BootstrapOpt = None,
    home: HomeOpt = None,
) -> None:
    """Consume energy-meters: land micro-batches in bronze, judge them, keep the 5-minute
    aggregates and anomalies, run the silver step beside; SIGTERM stops after the current
    micro-batch (a second one stops at once)."""
    from wattlake.stream.job.local import RunOptions, run_local
    from wattlake.stream.job.micro import StreamConfig
    from wattlake.stream.windows import Timing

    check_engine(engine)
    if start not in ("earliest", "latest"):
        raise InputError(f"--start must be earliest or latest, got '{start}'")
    if max_messages < 1 or max_wait_ms < 0 or partitions < 1:
        raise InputError("--max-messages and --partitions must be >= 1, --max-wait-ms >= 0")
    _positive("settle-every", settle_every)
    _positive("context-hours", context_hours)
    if until_idle is not None:
        _positive("until-idle", until_idle)
    try:
        timing = Timing(watermark_delay, allowed_lateness)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    overrides: dict[str, Any] = {"kafka_bootstrap": bootstrap, "engine": engine}
    if prefix is not None:
        overrides["kafka_topic_prefix"] = prefix
    s = settings_for(home, **overrides)
    config = StreamConfig(group, s.kafka_topic_prefix, timing, context_hours)
    opts = RunOptions(
        max_messages=max_messages,
        max_wait_ms=max_wait_ms,
        until_idle_s=until_idle,
        settle_every_s=settle_every,
        start=start,
        partitions=partitions,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            err.print("second signal: stopping now (the last micro-batch is not committed)")
            os._exit(128 + signum)
        err.print("stopping after the current micro-batch …")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with open_context(home, **overrides) as ctx:
        if engine == "spark":
            from wattlake.stream.job.spark import run_spark

            summary = run_spark(ctx, config, opts, stop=stop)
        else:
            summary = run_local(ctx, config, opts, stop=stop)
    out.print(
        f"{summary.batches:,} micro-batches, {summary.messages:,} messages: "
        f"{summary.landed:,} readings landed, {summary.duplicates:,} duplicates, "
        f"{summary.dead_letters:,} dead letters, {summary.windows_final:,} windows final, "
        f"{summary.alerts:,} anomalies; silver settled {summary.settles}×; "
        f"{summary.seconds:.1f} s (stopped: {summary.stopped_by})"
    )


@stream_app.command("status")
def status_cmd(
    fmt: Annotated[str, typer.Option("--format", help="table, json or prometheus.")] = "table",
    group: GroupOpt = "wattlake-stream",
    prefix: PrefixOpt = None,
    bootstrap: BootstrapOpt = None,
    home: HomeOpt = None,
) -> None:
    """Consumer lag per partition, committed offsets, throughput (also as Prometheus text)."""
    from wattlake.lake.delta import Lake
    from wattlake.observability.metrics import families_text, stream_families
    from wattlake.stream.status import kafka_positions, status_rows
    from wattlake.stream.topics import ENERGY_METERS, prefixed

    if fmt not in ("table", "json", "prometheus"):
        raise InputError(f"--format must be table, json or prometheus, got '{fmt}'")
    overrides: dict[str, Any] = {"kafka_bootstrap": bootstrap}
    if prefix is not None:
        overrides["kafka_topic_prefix"] = prefix
    s = settings_for(home, **overrides)
    topic = prefixed(ENERGY_METERS, s.kafka_topic_prefix)
    rows = status_rows(Lake(s.home), group, topic, kafka_positions(s.kafka_bootstrap, group, topic))
    if fmt == "prometheus":
        typer.echo(families_text(stream_families(rows)), nl=False)
        return
    if fmt == "json":
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    t = Table(
        "partition", "committed", "end", "lag", "kafka", "messages", "msg/s", "stream clock",
        title=f"{topic} · group {group}",
    )  # fmt: skip
    for r in rows:
        t.add_row(
            str(r["partition"]),
            _n(r["next_offset"]),
            _n(r["end_offset"]),
            _n(r["lag"]),
            _n(r["kafka_committed"]),
            _n(r["messages_total"]),
            "-" if r["messages_per_s"] is None else f"{r['messages_per_s']:,.0f}",
            "-" if r["stream_clock"] is None else f"{r['stream_clock']:%Y-%m-%d %H:%M}",
        )
    out.print(t)
    last = [r["committed_at"] for r in rows if r["committed_at"] is not None]
    if last:
        out.print(f"last commit {max(last):%Y-%m-%d %H:%M:%S} UTC")
    else:
        out.print("no micro-batch committed yet")


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"
