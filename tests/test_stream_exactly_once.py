"""Exactly-once results: `wattlake stream run` killed with SIGKILL at random moments, again
and again, and the broker restarted while it runs, ends with the same bronze, silver,
quarantine, 5-minute aggregates, late readings and dead letters as one clean run of the same
events; what it had published before a kill is published again with the same identity, so a
reader that keeps one message per identity sees what the clean run published."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import services
from stream_support import (
    COMPARED,
    first_difference,
    generate,
    new_prefix,
    replay,
    run_stream,
    snapshot,
    stream_settings,
    with_profiles,
)
from wattlake.stream import perturb
from wattlake.stream.topics import prefixed

PERTURB = perturb.Perturbations(malformed=4, duplicates=4, late=2, out_of_order=2, seed=9)
KILLS = 3
SEED = int(os.environ.get("WATTLAKE_STREAM_KILL_SEED", "20261203"))


def _runner(home: Path, prefix: str, bootstrap: str, *extra: str) -> subprocess.Popen[bytes]:
    """`wattlake stream run` in a process of its own (stdout/stderr to files in `home`)."""
    home.mkdir(parents=True, exist_ok=True)
    n = len(list(home.glob("runner-*.log")))
    log = (home / f"runner-{n}.log").open("wb")
    cmd = [
        sys.executable, "-m", "wattlake.cli", "stream", "run", "--home", str(home),
        "--bootstrap", bootstrap, "--topic-prefix", prefix, "--group", "killed",
        "--max-messages", "120", "--max-wait-ms", "50", "--settle-every", "2", *extra,
    ]  # fmt: skip
    env = {**os.environ, "WATTLAKE_LOG_STDERR": "0"}
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def _published(bootstrap: str, topic: str, start: dict[int, int]) -> dict[tuple[Any, ...], Any]:
    """Identity → message body of the windows published on `topic` after `start`; asserts
    that a repeated identity always carries the same body."""
    out: dict[tuple[Any, ...], Any] = {}
    for m in services.consume_range(bootstrap, topic, start):
        d = json.loads(m["value"])
        ident = (d["household_id"], d["channel"], d["window_start"], d["version"])
        body = {k: v for k, v in d.items() if k != "watermark"}
        assert out.setdefault(ident, body) == body, f"{ident} published with other values"
        out[ident] = body
    return out


def _committed(home: Path) -> int:
    """Messages the lake's offsets say are processed."""
    from wattlake.lake import catalog as cat
    from wattlake.lake.delta import Lake

    return sum(Lake(home).read(cat.OPS_STREAM_OFFSETS)["next_offset"].to_pylist())


def _progress(home: Path, proc: subprocess.Popen[bytes], since: int) -> None:
    """Wait until the runner committed more than `since` messages (startup takes seconds on
    a loaded machine, so fixed delays would often kill it before its first commit)."""
    deadline = time.monotonic() + 180
    while _committed(home) <= since:
        assert proc.poll() is None, "the runner exited"
        assert time.monotonic() < deadline, "no progress in 180 s"
        time.sleep(0.1)


def test_sigkill_and_broker_restart_lose_and_duplicate_nothing(
    kafka: services.Service, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    svc = kafka
    if svc.run_dir is None:  # a broker we may not restart: a private one
        svc = services.kafka_service(tmp_path_factory.mktemp("kafka-eo"))
    boot = svc.address
    data = generate(tmp_path / "data", 5, 3, seed=33)
    prefix = new_prefix()
    replay(boot, data, prefix, PERTURB, tmp_path / "labels.csv")
    dash = prefixed("dashboard-updates", prefix)

    # the reference: one clean run
    clean = tmp_path / "clean"
    s = stream_settings(clean, boot)
    with_profiles(s, data)
    before_clean = services.high_watermarks(boot, dash)
    summary = run_stream(s, prefix, max_messages=120)
    assert summary.batches > 10
    after_clean = services.high_watermarks(boot, dash)
    want = snapshot(clean)
    want_published = _published(boot, dash, before_clean)

    # the same events, killed at random moments
    killed = tmp_path / "killed"
    with_profiles(stream_settings(killed, boot), data)
    rng = random.Random(SEED)
    total = sum(services.high_watermarks(boot, prefixed("energy-meters", prefix)).values())
    progress = []
    for i in range(KILLS):
        proc = _runner(killed, prefix, boot)
        _progress(killed, proc, progress[-1] if progress else 0)
        if i == 1:  # the broker goes away and comes back while the runner works
            svc.stop()
            time.sleep(rng.uniform(0.5, 2.0))
            assert svc.start() == boot
            _progress(killed, proc, _committed(killed))  # it carries on
        time.sleep(rng.uniform(0.0, 1.0))  # a random moment of a micro-batch
        assert proc.poll() is None, (killed / f"runner-{i}.log").read_text()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        progress.append(_committed(killed))
    # the kills fell in the middle of the stream: work was committed before and after them
    assert progress == sorted(progress) and progress[-1] < total, progress
    final = _runner(killed, prefix, boot, "--until-idle", "3")
    assert final.wait(300) == 0, (killed / f"runner-{KILLS}.log").read_text()[-2000:]

    got = snapshot(killed)
    for name in COMPARED:
        assert got[name] == want[name], f"{name}: {first_difference(got[name], want[name])}"
    assert len(got["bronze"]) > 1000 and len(got["aggregates"]) > 1000
    assert got["dead letters"] and got["late"]

    # every window the clean run published was published by the killed runs, same values;
    # a re-publication after a kill repeats an identity (readers keep one)
    assert _published(boot, dash, after_clean) == want_published
