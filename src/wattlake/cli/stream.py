"""`wattlake stream topics|simulate`: Kafka topics and the meter-event simulator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from wattlake.cli.common import HomeOpt, err, out, settings_for, sub_app
from wattlake.config import Settings
from wattlake.errors import InputError

if TYPE_CHECKING:
    from wattlake.stream import simulate as sim

stream_app = sub_app(
    "stream",
    "Real-time: Kafka topics and the meter-event simulator "
    "(broker: scripts/kafka.sh start; WATTLAKE_KAFKA_BOOTSTRAP).",
)
BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        help="Kafka bootstrap servers (default $WATTLAKE_KAFKA_BOOTSTRAP or 127.0.0.1:19092).",
    ),
]
PrefixOpt = Annotated[
    str | None,
    typer.Option(
        "--topic-prefix",
        help="Prefix of every topic name (default $WATTLAKE_KAFKA_TOPIC_PREFIX, none).",
    ),
]
PartitionsOpt = Annotated[
    int,
    typer.Option(
        "--partitions",
        help="Partitions of the per-meter topics when they are created (existing topics are "
        "left as they are).",
    ),
]


def _settings(home: Path | None, bootstrap: str | None, prefix: str | None = None) -> Settings:
    extra = {} if prefix is None else {"kafka_topic_prefix": prefix}
    return settings_for(home, kafka_bootstrap=bootstrap, **extra)


def _count(name: str, value: int) -> int:
    if value < 0:
        raise InputError(f"--{name} must be >= 0, got {value}")
    return value


@stream_app.command("topics")
def topics_cmd(
    partitions: PartitionsOpt = 4,
    list_only: Annotated[
        bool, typer.Option("--list", help="Only list the topics (create nothing).")
    ] = False,
    prefix: PrefixOpt = None,
    bootstrap: BootstrapOpt = None,
    home: HomeOpt = None,
) -> None:
    """Create wattlake's topics that are missing (idempotent) and list them."""
    from wattlake.stream.topics import ensure_topics, list_topics, topic_specs

    s = _settings(home, bootstrap, prefix)
    if partitions < 1:
        raise InputError(f"--partitions must be >= 1, got {partitions}")
    if list_only:
        for name, n in list_topics(s.kafka_bootstrap).items():
            typer.echo(f"{name}\t{n}")
        return
    table = Table("topic", "status", "partitions", title=f"Kafka {s.kafka_bootstrap}")
    for st in ensure_topics(s.kafka_bootstrap, topic_specs(partitions, s.kafka_topic_prefix)):
        note = "" if st.partitions == st.wanted else f" (asked {st.wanted}; left as it is)"
        table.add_row(st.name, st.status, f"{st.partitions}{note}")
    out.print(table)


@stream_app.command("simulate")
def simulate_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Meter files or directories in any ingest layout (e.g. `wattlake generate`'s "
            "output). None: generate --households × --days first."
        ),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Layout of PATHS (default: detected).")
    ] = None,
    households: Annotated[int, typer.Option(help="Generated: households.")] = 20,
    days: Annotated[int, typer.Option(help="Generated: days of half-hourly data.")] = 2,
    seed: Annotated[int, typer.Option(help="Generated: random seed.")] = 42,
    start: Annotated[str, typer.Option(help="Generated: first day, YYYY-MM-DD.")] = "2024-03-01",
    gen_format: Annotated[
        str, typer.Option("--gen-format", help="Generated: lcl or meter-csv.")
    ] = "meter-csv",
    faults: Annotated[
        bool, typer.Option("--faults", help="Generated: inject the generator's file faults.")
    ] = False,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Generated: write the data set here (default: temporary)."),
    ] = None,
    speedup: Annotated[
        float | None,
        typer.Option(help="Simulated seconds per wall second (default 1440: 1 day = 1 minute)."),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Fixed rate, messages per second.")] = None,
    fast: Annotated[bool, typer.Option("--fast", help="As fast as possible.")] = False,
    stuck: Annotated[int, typer.Option(help="Stuck-value runs (48 readings each).")] = 0,
    zero: Annotated[int, typer.Option(help="Zero runs (96 readings each).")] = 0,
    spikes: Annotated[int, typer.Option(help="Single readings × 10.")] = 0,
    dropouts: Annotated[int, typer.Option(help="Runs of 4 readings not sent.")] = 0,
    duplicates: Annotated[int, typer.Option(help="Readings sent twice (same event id).")] = 0,
    out_of_order: Annotated[
        int, typer.Option("--out-of-order", help="Readings sent after their successor.")
    ] = 0,
    late: Annotated[int, typer.Option(help="Readings sent --late-hours after due.")] = 0,
    late_hours: Annotated[float, typer.Option(help="How late a late reading is (h).")] = 3.0,
    malformed: Annotated[int, typer.Option(help="Readings sent as a broken message.")] = 0,
    perturb_seed: Annotated[int, typer.Option(help="Seed of the perturbation placement.")] = 0,
    labels: Annotated[
        Path | None,
        typer.Option(help="Labels CSV (default <home>/stream/labels-<UTC time>.csv)."),
    ] = None,
    zone: Annotated[
        str | None, typer.Option(help="Bidding zone of price files without one in their name.")
    ] = None,
    heat_above_c: Annotated[float, typer.Option(help="Weather alert: heat above (°C).")] = 35.0,
    cold_below_c: Annotated[float, typer.Option(help="Weather alert: cold below (°C).")] = -10.0,
    wind_above_m_s: Annotated[
        float, typer.Option(help="Weather alert: wind above (m/s, 10 m).")
    ] = 13.9,
    partitions: PartitionsOpt = 4,
    prefix: PrefixOpt = None,
    bootstrap: BootstrapOpt = None,
    home: HomeOpt = None,
) -> None:
    """Replay meter readings, spot prices and weather alerts onto Kafka in accelerated time,
    with labelled perturbations; prints the messages acknowledged per topic."""
    from wattlake.stream import outgoing, perturb
    from wattlake.stream import simulate as sim

    s = _settings(home, bootstrap, prefix)
    chosen = [m for m, on in (("speedup", speedup), ("rate", rate), ("fast", fast)) if on]
    if len(chosen) > 1:
        raise InputError(f"give one of --speedup, --rate, --fast (got --{', --'.join(chosen)})")
    try:
        if rate is not None:
            pacing = sim.Pacing("rate", rate)
        elif fast:
            pacing = sim.Pacing("fast", 0.0)
        else:
            pacing = sim.Pacing("speedup", sim.DEFAULT_SPEEDUP if speedup is None else speedup)
        perturbations = perturb.Perturbations(
            stuck=_count("stuck", stuck),
            zero=_count("zero", zero),
            spikes=_count("spikes", spikes),
            dropouts=_count("dropouts", dropouts),
            duplicates=_count("duplicates", duplicates),
            out_of_order=_count("out-of-order", out_of_order),
            late=_count("late", late),
            malformed=_count("malformed", malformed),
            late_by_s=max(1, round(late_hours * 3600)),
            seed=perturb_seed,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    rules = outgoing.AlertRules(
        heat_above_c=heat_above_c, cold_below_c=cold_below_c, wind_above_m_s=wind_above_m_s
    )
    generate = None
    if not paths:
        if gen_format not in ("lcl", "meter-csv"):
            raise InputError(f"unknown --gen-format '{gen_format}' (known: lcl, meter-csv)")
        try:
            first = dt.date.fromisoformat(start)
        except ValueError:
            raise InputError(f"--start '{start}' is not a date (YYYY-MM-DD)") from None
        generate = {
            "households": households,
            "days": days,
            "seed": seed,
            "fmt": gen_format,
            "faults": faults,
            "start": first,
        }
    if partitions < 1:
        raise InputError(f"--partitions must be >= 1, got {partitions}")
    now = dt.datetime.now(dt.UTC)
    labels_file = labels or s.home / "stream" / f"labels-{now:%Y%m%dT%H%M%SZ}.csv"
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as prog:
        task = prog.add_task("preparing", total=None)

        def progress(what: str, done: int, total: int) -> None:
            prog.update(task, description=what, completed=done, total=total)

        report = sim.simulate(
            s.kafka_bootstrap,
            paths,
            zone=zone or s.price_zone,
            fmt=fmt,
            generate=generate,
            data_dir=keep,
            perturbations=perturbations,
            rules=rules,
            pacing=pacing,
            partitions=partitions,
            labels_file=labels_file,
            now=now,
            progress=progress,
            prefix=s.kafka_topic_prefix,
        )
    _print_report(report, pacing)


def _print_report(report: sim.SimulationReport, pacing: sim.Pacing) -> None:
    from wattlake.stream.simulate import sim_time

    plan, sent = report.plan, report.sent
    table = Table("topic", "acknowledged", "failed", title="messages produced")
    for topic in sorted(sent.delivered):
        table.add_row(topic, f"{sent.delivered[topic]:,}", f"{sent.failed.get(topic, 0):,}")
    out.print(table)
    placed = ", ".join(f"{k} {plan.placed.get(k, 0)}/{v}" for k, v in plan.requested.items() if v)
    source = {k: v for k, v in plan.placed.items() if k not in plan.requested}
    pace = "as fast as possible" if pacing.mode == "fast" else f"{pacing.mode} {pacing.value:g}"
    out.print(
        f"{plan.readings:,} readings replayed from {sim_time(plan.start_s)} to "
        f"{sim_time(plan.end_s)} ({pace}); {sent.total:,} messages in {sent.seconds:.1f} s "
        f"= {sent.rate:,.0f} msg/s (preparing took {report.build_seconds:.1f} s)"
    )
    if placed:
        out.print(f"perturbations placed/asked: {placed}")
    if source:
        out.print("from the source: " + ", ".join(f"{k} {v}" for k, v in sorted(source.items())))
    for name, why in report.skipped:
        out.print(f"skipped {name}: {why}")
    if report.labels_file is not None:
        out.print(f"labels: {report.labels_file}")
    if report.data_dir is not None:
        out.print(f"data set: {report.data_dir}")
    if sent.failed:
        raise InputError(
            f"{sum(sent.failed.values())} messages failed: {sent.first_error or 'unknown error'}"
        )
