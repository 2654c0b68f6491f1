"""Redis for the stream's latest state: a real redis-server started by scripts/redis.sh."""

from __future__ import annotations

import pytest

import services


def test_set_and_get_through_a_real_server(redis_server: services.Service) -> None:
    import redis

    r = redis.Redis.from_url(redis_server.address, socket_timeout=5)
    assert r.ping()
    r.set("wattlake:test:latest", b'{"kwh": 1.25}', ex=60)
    r.hset(
        "wattlake:test:household:H1", mapping={"window_start": "2024-03-01T00:00:00Z", "kwh": "0.5"}
    )
    assert r.get("wattlake:test:latest") == b'{"kwh": 1.25}'
    assert 0 < r.ttl("wattlake:test:latest") <= 60
    assert r.hgetall("wattlake:test:household:H1") == {
        b"window_start": b"2024-03-01T00:00:00Z",
        b"kwh": b"0.5",
    }
    r.delete("wattlake:test:latest", "wattlake:test:household:H1")
    assert r.get("wattlake:test:latest") is None
    r.close()


def test_script_status_and_idempotent_start(redis_server: services.Service) -> None:
    if redis_server.run_dir is None:
        pytest.skip("Redis of the environment (no state directory of ours to inspect)")
    assert services.run_script(services.REDIS_SH, "status", redis_server.run_dir) == ""
    assert services.run_script(services.REDIS_SH, "start", redis_server.run_dir) == (
        redis_server.address
    )
