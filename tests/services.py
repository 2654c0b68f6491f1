"""Real Kafka and Redis servers for tests, started by the project's scripts.

`KafkaService` / `RedisService`: the server named by `$WATTLAKE_KAFKA_BOOTSTRAP` /
`$WATTLAKE_REDIS_URL` (scripts/test.sh starts one per test run), or one this session
starts with `scripts/kafka.sh` / `scripts/redis.sh` in a private run directory and stops at
the end. A server that cannot be started skips the tests, or fails them when
`WATTLAKE_REQUIRE_KAFKA=1` / `WATTLAKE_REQUIRE_REDIS=1` (CI).

Also helpers to read a topic back (`high_watermarks`, `consume_range`).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "scripts" / "kafka.sh"
REDIS_SH = ROOT / "scripts" / "redis.sh"


def unavailable(what: str, flag: str, reason: str) -> None:
    if os.environ.get(flag) == "1":
        pytest.fail(f"{what} required ({flag}=1) but unavailable: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


def run_script(script: Path, action: str, run_dir: Path | None, timeout: float = 600) -> str:
    """Run `script action` with `WATTLAKE_RUN_DIR=run_dir` (None: the environment's); the
    value of the `export NAME=VALUE` line it prints (or its stdout). Raises on failure."""
    env = dict(os.environ)
    if run_dir is not None:
        env["WATTLAKE_RUN_DIR"] = str(run_dir)
    proc = subprocess.run(
        [str(script), action], capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-4:])
        raise RuntimeError(f"{script.name} {action} exited {proc.returncode}: {tail}")
    line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return line.split("=", 1)[1] if line.startswith("export ") else line


@dataclass
class Service:
    """A running server: its address, and the run directory whose state it is (None: not
    ours to stop or restart)."""

    script: Path
    address: str
    run_dir: Path | None
    started_here: bool

    def stop(self) -> None:
        if self.run_dir is not None:
            run_script(self.script, "stop", self.run_dir)

    def start(self) -> str:
        if self.run_dir is None:
            raise RuntimeError(f"{self.address} was not started by this test session")
        self.address = run_script(self.script, "start", self.run_dir)
        return self.address


def _env_owned(script: Path, address: str) -> Path | None:
    """The environment's run directory when its state belongs to the server at `address`
    (so a test may restart it), else None."""
    run_dir = os.environ.get("WATTLAKE_RUN_DIR")
    if not run_dir:
        return None
    try:
        ours = run_script(script, "env", Path(run_dir))
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return None
    return Path(run_dir) if ours == address else None


def start_service(script: Path, env_name: str, flag: str, what: str, private_dir: Path) -> Service:
    """The server of `$env_name`, or one started by `script` in `private_dir`."""
    given = os.environ.get(env_name)
    if given:
        return Service(script, given, _env_owned(script, given), started_here=False)
    try:
        address = run_script(script, "start", private_dir)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        unavailable(what, flag, str(exc))
    return Service(script, address, private_dir, started_here=True)


def kafka_service(private_dir: Path) -> Service:
    return start_service(
        KAFKA_SH, "WATTLAKE_KAFKA_BOOTSTRAP", "WATTLAKE_REQUIRE_KAFKA", "Kafka", private_dir
    )


def redis_service(private_dir: Path) -> Service:
    return start_service(
        REDIS_SH, "WATTLAKE_REDIS_URL", "WATTLAKE_REQUIRE_REDIS", "Redis", private_dir
    )


def port_open(address: str) -> bool:
    """True when something accepts connections at `host:port`."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


# ---- reading topics back ------------------------------------------------------------------


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition → next offset to be written."""
    import time

    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wattlake-tests-meta"})
    try:
        meta = c.list_topics(topic, timeout=15).topics[topic]
        out = {}
        for p in meta.partitions:
            for attempt in range(50):  # a loaded machine: leadership may still be moving
                try:
                    out[p] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
                    break
                except KafkaException:
                    if attempt == 49:
                        raise
                    time.sleep(0.2)
        return out
    finally:
        c.close()


def consume_range(
    bootstrap: str, topic: str, start: dict[int, int], timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """Every message of `topic` from the offsets `start` (partition → offset; missing
    partitions from 0) up to the current high watermarks, in partition then offset order:
    dicts with partition, offset, key, value, headers, timestamp_ms."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    end = high_watermarks(bootstrap, topic)
    todo = {p: (start.get(p, 0), e) for p, e in end.items() if e > start.get(p, 0)}
    out: list[dict[str, Any]] = []
    if not todo:
        return out
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "wattlake-tests-read",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    c.assign([TopicPartition(topic, p, s) for p, (s, _) in todo.items()])
    left = {p: e - s for p, (s, e) in todo.items()}
    deadline = time.monotonic() + timeout_s
    try:
        while any(v > 0 for v in left.values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {sum(left.values())} messages not read back")
            for m in c.consume(num_messages=10_000, timeout=1.0):
                if m.error():
                    raise RuntimeError(str(m.error()))
                p, off = m.partition(), m.offset()
                if off >= todo[p][1]:
                    continue
                left[p] -= 1
                out.append(
                    {
                        "partition": p,
                        "offset": off,
                        "key": m.key(),
                        "value": m.value(),
                        "headers": m.headers(),
                        "timestamp_ms": m.timestamp()[1],
                    }
                )
    finally:
        c.close()
    out.sort(key=lambda r: (r["partition"], r["offset"]))
    return out
