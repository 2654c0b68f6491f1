"""Real servers for tests, started by the project's scripts: Kafka, Redis, the Spark
standalone cluster and the S3 server (the one helper that starts service scripts).

Each `*_service` gives the server named by its environment variables (scripts/test.sh starts
one of each per test run and exports them: `WATTLAKE_KAFKA_BOOTSTRAP`, `WATTLAKE_REDIS_URL`,
`WATTLAKE_TEST_SPARK_MASTER`, `WATTLAKE_S3_*`), or one this session starts with
`scripts/<name>.sh start` in a private run directory and stops at the end (with the pids
recorded at start, should the run directory have gone). A server that cannot be started
skips the tests, or fails them when its `WATTLAKE_REQUIRE_*=1` is set (CI).

Also helpers to read a topic back (`high_watermarks`, `consume_range`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "scripts" / "kafka.sh"
REDIS_SH = ROOT / "scripts" / "redis.sh"
SPARK_CLUSTER_SH = ROOT / "scripts" / "spark-cluster.sh"
S3_SH = ROOT / "scripts" / "s3.sh"
S3_VARIABLES = (
    "WATTLAKE_S3_ENDPOINT",
    "WATTLAKE_S3_BUCKET",
    "WATTLAKE_S3_ACCESS_KEY_ID",
    "WATTLAKE_S3_SECRET_ACCESS_KEY",
)


def unavailable(what: str, flag: str, reason: str) -> None:
    if os.environ.get(flag) == "1":
        pytest.fail(f"{what} required ({flag}=1) but unavailable: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


def parse_exports(text: str) -> dict[str, str]:
    """`export K=V` lines (as the service scripts print them) as a dict."""
    out = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line.removeprefix("export ").partition("=")
            out[key.strip()] = value.strip()
    return out


def script_output(script: Path, action: str, run_dir: Path | None, timeout: float = 600) -> str:
    """The stdout of `script action` with `WATTLAKE_RUN_DIR=run_dir` (None: the
    environment's). Raises on failure."""
    env = dict(os.environ)
    if run_dir is not None:
        env["WATTLAKE_RUN_DIR"] = str(run_dir)
    proc = subprocess.run(
        [str(script), action], capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-4:])
        raise RuntimeError(f"{script.name} {action} exited {proc.returncode}: {tail}")
    return proc.stdout


def run_script(script: Path, action: str, run_dir: Path | None, timeout: float = 600) -> str:
    """`script_output`'s last `export NAME=VALUE` value (or its last line)."""
    out = script_output(script, action, run_dir, timeout)
    line = out.strip().splitlines()[-1] if out.strip() else ""
    return line.split("=", 1)[1] if line.startswith("export ") else line


def kill_left(pids: list[int]) -> None:
    """End the service processes `stop` did not (their run directory went missing)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return
        time.sleep(2)


@dataclass
class Service:
    """A running server: its address (the first variable its script exports), every
    variable (`env`), and the run directory whose state it is (None: not ours to stop or
    restart)."""

    script: Path
    address: str
    run_dir: Path | None
    started_here: bool
    env: dict[str, str] = field(default_factory=dict)
    pids: list[int] = field(default_factory=list)

    def stop(self) -> None:
        if self.run_dir is not None:
            try:
                run_script(self.script, "stop", self.run_dir, timeout=120)
            finally:
                kill_left(self.pids)

    def start(self) -> str:
        if self.run_dir is None:
            raise RuntimeError(f"{self.address} was not started by this test session")
        self.address = run_script(self.script, "start", self.run_dir)
        return self.address


def _env_owned(script: Path, variable: str, address: str) -> Path | None:
    """The environment's run directory when its state belongs to the server at `address`
    (so a test may restart it), else None."""
    run_dir = os.environ.get("WATTLAKE_RUN_DIR")
    if not run_dir:
        return None
    try:
        ours = parse_exports(script_output(script, "env", Path(run_dir))).get(variable)
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return None
    return Path(run_dir) if ours == address else None


def start_service(
    script: Path,
    variables: tuple[str, ...],
    flag: str,
    what: str,
    private_dir: Path,
    given: dict[str, str] | None = None,
) -> Service:
    """The server of `given` (default: the environment's `variables`, when all are set),
    or one started by `script` in `private_dir` (its exported `variables`)."""
    if given is None and all(os.environ.get(v) for v in variables):
        given = {v: os.environ[v] for v in variables}
    if given:
        address = given[variables[0]]
        owned = _env_owned(script, variables[0], address)
        return Service(script, address, owned, started_here=False, env=given)
    private_dir.mkdir(parents=True, exist_ok=True)
    try:
        env = parse_exports(script_output(script, "start", private_dir, timeout=300))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        subprocess.run([str(script), "stop"], capture_output=True, env={
            **os.environ, "WATTLAKE_RUN_DIR": str(private_dir)})  # fmt: skip
        unavailable(what, flag, str(exc))
    pids = [int(f.read_text()) for f in private_dir.glob("*/*.pid")]
    svc = Service(script, "", private_dir, started_here=True, env=env, pids=pids)
    missing = [v for v in variables if v not in env]
    if missing:
        svc.stop()
        unavailable(what, flag, f"{script.name} start printed no {missing}")
    svc.address = env[variables[0]]
    return svc


def kafka_service(private_dir: Path) -> Service:
    return start_service(
        KAFKA_SH, ("WATTLAKE_KAFKA_BOOTSTRAP",), "WATTLAKE_REQUIRE_KAFKA", "Kafka", private_dir
    )


def redis_service(private_dir: Path) -> Service:
    return start_service(
        REDIS_SH, ("WATTLAKE_REDIS_URL",), "WATTLAKE_REQUIRE_REDIS", "Redis", private_dir
    )


def spark_cluster_service(private_dir: Path) -> Service:
    """The 2-worker standalone cluster: `$WATTLAKE_TEST_SPARK_MASTER` (scripts/test.sh keeps
    it out of `WATTLAKE_SPARK_MASTER`, so that no other test's settings point at it), else
    `$WATTLAKE_SPARK_MASTER`, else one started here."""
    url = os.environ.get("WATTLAKE_TEST_SPARK_MASTER")
    return start_service(
        SPARK_CLUSTER_SH,
        ("WATTLAKE_SPARK_MASTER",),
        "WATTLAKE_REQUIRE_SPARK",
        "Spark cluster",
        private_dir,
        given={"WATTLAKE_SPARK_MASTER": url} if url else None,
    )


def s3_service(private_dir: Path) -> Service:
    """The S3 server (moto): endpoint, bucket and credentials in `env`."""
    return start_service(S3_SH, S3_VARIABLES, "WATTLAKE_REQUIRE_S3", "S3 server", private_dir)


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
