"""`wattlake stream simulate`: replay meter files (or freshly generated data) onto Kafka.

Input: files or directories in any ingest layout (`lcl`, `meter-csv`, `readings-json`, gzip
too), read with the ingest's own readers (`expand_paths`, `read_bytes`, `parse_file`).
In a directory, `users.csv` (profiles), fault/perturbation label files and SQLite
databases are skipped (and listed), and API bodies become the other topics: Open-Meteo
responses (`open_meteo_*.json`) give weather alerts, Energy-Charts `/price` responses
(`energy_charts_<zone>_*.json`) spot prices. Without paths, `wattlake generate`'s generator
writes a data set (readings, users, and the demo's synthetic weather and price bodies)
into a directory first, which is then replayed the same way.

Pacing (the simulator's clock runs from the first reading's due time to the last's):
`speedup` (simulated seconds per wall second; 1440 = one day per minute), `rate`
(messages per second), or `fast` (as fast as the producer goes). Each event carries the
simulated send time as `sim_clock` and the wall-clock time as `produced_at`.

Perturbations and their labels: `wattlake.stream.replay`. The labels file (CSV,
`replay.LABEL_COLUMNS`) lists every perturbed reading, every reading that is not a valid
event as written in its file (`source_invalid`, with the consumer's reason), every reading
stamped after the replay's start (`future`) and every line of a file that is not a row of
its layout (`source_dead_letter`, sent as the raw line).
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.errors import InputError
from wattlake.sources.files import (
    ParsedFile,
)
from wattlake.stream import outgoing, perturb, replay
from wattlake.stream.clients import KafkaUnavailableError, producer_config
from wattlake.stream.events import utc_text
from wattlake.stream.inputs import Source, generate_data, load_source
from wattlake.stream.topics import ENERGY_METERS, ensure_topics, topic_specs

PACINGS = ("speedup", "rate", "fast")
DEFAULT_SPEEDUP = 1440.0  # one simulated day per wall-clock minute
SEND_CHUNK = 2000  # messages produced per step (produced_at is refreshed per step)


@dataclass(frozen=True)
class Pacing:
    """`speedup` (simulated s per wall s), `rate` (messages per s) or `fast`."""

    mode: str = "speedup"
    value: float = DEFAULT_SPEEDUP

    def __post_init__(self) -> None:
        if self.mode not in PACINGS:
            raise ValueError(f"pacing must be one of {PACINGS}, got {self.mode!r}")
        if self.mode != "fast" and not self.value > 0:
            raise ValueError(f"{self.mode} must be > 0, got {self.value}")


@dataclass
class Plan:
    """Messages to send (sorted by `due_s`), their labels, and the replay's period."""

    messages: pa.Table
    labels: list[dict[str, object]]
    start_s: int
    end_s: int
    readings: int  # reading rows in the source files
    dead_lines: int  # source lines that are not a row of their layout
    placed: dict[str, int]  # perturbations placed (a duplicate counts once)
    requested: dict[str, int]

    @property
    def per_topic(self) -> dict[str, int]:
        return dict(Counter(self.messages["topic"].to_pylist()))


@dataclass
class SendStats:
    """What the producer did: messages acknowledged / failed per topic, wall seconds."""

    delivered: dict[str, int]
    failed: dict[str, int]
    seconds: float
    first_error: str | None = None

    @property
    def total(self) -> int:
        return sum(self.delivered.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SimulationReport:
    plan: Plan
    sent: SendStats
    labels_file: Path | None
    skipped: list[tuple[str, str]]
    build_seconds: float
    data_dir: Path | None = None


# ---- plan ---------------------------------------------------------------------------------


def plan_replay(
    src: Source,
    perturbations: perturb.Perturbations,
    rules: outgoing.AlertRules,
    now: dt.datetime,
) -> Plan:
    """Every message of the replay, sorted by send time, and the labels (module doc)."""
    rows = replay.reading_rows(src.parsed)
    typed = replay.typed_readings(rows)
    scheduled, start_s, end_s = replay.schedule_readings(typed, now)
    sent, labels = perturb.perturb(scheduled, perturbations)
    labels += perturb.source_labels(sent.filter(pc.invert(pc.is_valid(sent["corrupt"]))))
    produced_at = produced_at_text(now)
    dead = _dead_lines(src.parsed)
    for r in dead.to_pylist():
        labels.append(
            {
                "perturbation": "source_dead_letter",
                "topic": ENERGY_METERS,
                "meter_id": "",
                "ts": "",
                "event_id": "",
                "sim_clock": "",
                "detail": f"{r['source_file']}:{r['line_number']}: {r['reason']}",
            }
        )
    others: list[tuple[int, str, bytes | None, bytes]] = []
    for prices in src.prices:
        others += outgoing.price_messages(prices, start_s, end_s, now)
    weather = pa.concat_tables(src.weather) if src.weather else None
    if weather is not None:
        alerts = outgoing.weather_alerts(weather, rules)
        others += outgoing.weather_alert_messages(alerts, rules, start_s, end_s, now)
    readings, reasons = outgoing.reading_messages(sent, produced_at)
    for lb in labels:
        if lb["perturbation"] == "malformed":
            lb["detail"] = f"{lb['detail']}: {reasons[str(lb['event_id'])]}"
    messages = outgoing.merge_messages(
        [
            readings,
            outgoing.dead_line_messages(dead, scheduled, start_s),
            outgoing.other_messages(others),
        ]
    )
    placed = Counter(str(lb["perturbation"]) for lb in labels if lb["detail"] != "the re-send")
    requested = {
        "stuck": perturbations.stuck,
        "zero": perturbations.zero,
        "spike": perturbations.spikes,
        "dropout": perturbations.dropouts,
        "duplicate": perturbations.duplicates,
        "out_of_order": perturbations.out_of_order,
        "late": perturbations.late,
        "malformed": perturbations.malformed,
    }
    runs = {"stuck": perturbations.stuck_readings, "zero": perturbations.zero_readings}
    runs["dropout"] = perturbations.dropout_readings
    placed_events = {k: placed.get(k, 0) // runs.get(k, 1) for k in requested}
    placed_events |= {k: v for k, v in placed.items() if k not in requested}
    return Plan(
        messages=messages,
        labels=labels,
        start_s=start_s,
        end_s=end_s,
        readings=rows.num_rows,
        dead_lines=dead.num_rows,
        placed=placed_events,
        requested=requested,
    )


def _dead_lines(parsed: list[ParsedFile]) -> pa.Table:
    parts = [
        pf.dead.append_column("source_file", pa.array([pf.source_file] * pf.dead.num_rows))
        for pf in parsed
        if pf.dead.num_rows
    ]
    if not parts:
        return pa.table(
            {
                "line_number": pa.array([], pa.int64()),
                "raw_text": pa.array([], pa.string()),
                "reason": pa.array([], pa.string()),
                "source_file": pa.array([], pa.string()),
            }
        )
    return pa.concat_tables(parts)


def targets(messages: pa.Table, start_s: int, pacing: Pacing) -> np.ndarray:
    """Wall-clock send time of each message, in seconds after the replay starts."""
    n = messages.num_rows
    if pacing.mode == "fast":
        return np.zeros(n)
    if pacing.mode == "rate":
        return np.arange(n, dtype=np.float64) / pacing.value
    due = messages["due_s"].to_numpy(zero_copy_only=False)
    return np.maximum(due - start_s, 0).astype(np.float64) / pacing.value


def produced_at_text(t: dt.datetime | None = None) -> bytes:
    """`produced_at` text: UTC with milliseconds (`2026-01-01T00:00:00.123Z`)."""
    t = (t or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z".encode()


# ---- send ---------------------------------------------------------------------------------


def send(
    messages: pa.Table,
    when: np.ndarray,
    bootstrap: str,
    *,
    config: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    flush_timeout_s: float = 120.0,
    prefix: str = "",
) -> SendStats:
    """Produce `messages` at their wall-clock times `when` (seconds after the start); wait
    until every message is acknowledged or failed. `config` overrides producer settings;
    `prefix` goes before every topic name (`topics.prefixed`)."""
    from confluent_kafka import Producer

    failed: Counter[str] = Counter()
    first_error: list[str] = []

    def on_error(err: Any, msg: Any) -> None:  # delivery.report.only.error: failures only
        if err is not None:
            failed[msg.topic()] += 1
            if not first_error:
                first_error.append(str(err.str() if hasattr(err, "str") else err))

    conf = producer_config(bootstrap, **{"delivery.report.only.error": True, **(config or {})})
    conf["on_delivery"] = on_error
    producer = Producer(conf)
    n = messages.num_rows
    t0 = time.monotonic()
    done = [0]  # messages handed to the producer so far
    try:
        _send_loop(producer, messages, when, t0, done, progress, prefix)
    except KeyboardInterrupt:
        left = producer.flush(10)
        raise InputError(
            f"interrupted after {done[0]:,} of {n:,} messages "
            f"({left:,} of them not acknowledged); the rest were not sent"
        ) from None
    left = producer.flush(flush_timeout_s)
    seconds = time.monotonic() - t0
    if left:
        raise KafkaUnavailableError(
            f"{left} of {n} messages not acknowledged by Kafka at {bootstrap} "
            f"after {flush_timeout_s:.0f} s"
        )
    sent = Counter(prefix + t for t in messages["topic"].to_pylist())
    delivered = {t: sent[t] - failed.get(t, 0) for t in sent}
    return SendStats(delivered, dict(failed), seconds, first_error[0] if first_error else None)


def _send_loop(
    producer: Any,
    messages: pa.Table,
    when: np.ndarray,
    t0: float,
    done: list[int],
    progress: Callable[[int], None] | None,
    prefix: str = "",
) -> None:
    """Produce each message once the wall clock (seconds since `t0`) reaches `when`;
    `done[0]` counts the messages produced."""
    n = messages.num_rows
    i = 0
    while i < n:
        now = time.monotonic() - t0
        if when[i] > now:
            producer.poll(min(when[i] - now, 0.05))
            continue
        j = min(int(np.searchsorted(when, now, side="right")), i + SEND_CHUNK)
        j = max(j, i + 1)
        chunk = messages.slice(i, j - i)
        stamp = produced_at_text()
        tail = b'"}'
        for topic, key, head, complete in zip(
            chunk["topic"].to_pylist(),
            chunk["key"].to_pylist(),
            chunk["head"].to_pylist(),
            chunk["complete"].to_pylist(),
            strict=True,
        ):
            value = head if complete else head + stamp + tail
            while True:
                try:
                    producer.produce(prefix + topic, value, key)
                    break
                except BufferError:  # local queue full: let the broker catch up
                    producer.poll(0.05)
        producer.poll(0)
        i = done[0] = j
        if progress is not None:
            progress(i)


def write_labels(path: Path, labels: list[dict[str, object]]) -> None:
    """The labels as CSV (`replay.LABEL_COLUMNS`), sorted by perturbation, meter, ts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(labels, key=lambda r: (str(r["perturbation"]), str(r["meter_id"]), str(r["ts"])))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(replay.LABEL_COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def read_labels(path: Path) -> list[dict[str, str]]:
    """The rows of a labels file written by `write_labels`."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def simulate(
    bootstrap: str,
    paths: list[Path] | None,
    *,
    zone: str,
    fmt: str | None = None,
    generate: dict[str, Any] | None = None,
    data_dir: Path | None = None,
    perturbations: perturb.Perturbations | None = None,
    rules: outgoing.AlertRules | None = None,
    pacing: Pacing | None = None,
    partitions: int = 4,
    labels_file: Path | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    prefix: str = "",
) -> SimulationReport:
    """Replay `paths` (or data generated with `generate` = keyword arguments of
    `generate_data`, into `data_dir` or a temporary directory) onto the topics (created
    first when missing, names under `prefix`) of the broker at `bootstrap`."""
    perturbations = perturbations or perturb.Perturbations()
    rules = rules or outgoing.AlertRules()
    pacing = pacing or Pacing()
    now = now or dt.datetime.now(dt.UTC)
    t_build = time.perf_counter()
    ensure_topics(bootstrap, topic_specs(partitions, prefix))
    tmp: tempfile.TemporaryDirectory[str] | None = None
    try:
        if not paths:
            if data_dir is None:
                tmp = tempfile.TemporaryDirectory(prefix="wattlake-simulate-")
                data_dir = Path(tmp.name)
            data_dir.mkdir(parents=True, exist_ok=True)
            generate_data(data_dir, zone=zone, **(generate or {}))
            paths = [data_dir]
        src = load_source(paths, zone, fmt)
        plan = plan_replay(src, perturbations, rules, now)
    finally:
        if tmp is not None:
            tmp.cleanup()
            data_dir = None
    if labels_file is not None:
        write_labels(labels_file, plan.labels)
    build_s = time.perf_counter() - t_build
    when = targets(plan.messages, plan.start_s, pacing)
    total = plan.messages.num_rows
    stats = send(
        plan.messages,
        when,
        bootstrap,
        progress=(lambda k: progress("sending", k, total)) if progress else None,
        prefix=prefix,
    )
    return SimulationReport(plan, stats, labels_file, src.skipped, build_s, data_dir)


def sim_time(epoch_s: int) -> str:
    return utc_text(dt.datetime.fromtimestamp(epoch_s, dt.UTC))


__all__ = [
    "Pacing",
    "Plan",
    "SendStats",
    "SimulationReport",
    "plan_replay",
    "read_labels",
    "send",
    "simulate",
    "targets",
    "write_labels",
]
