"""Silver for the stream: the batch silver step on the landed micro-batches, beside the live
side, and what the live side needs from silver.

`Settler` runs `steps.silver_users` and `steps.silver` (through the runner: retries,
`ops.runs`) in a thread of its own with its own `Context` (engine and SQL connection), every
`every_s` seconds while new batches have landed, and once more when the stream stops. The
silver step processes every bronze batch not yet checkpointed under `silver` — the stream's
micro-batches like files — with each meter's full history, and checkpoints them, so
`wattlake run` does not process them again. Meanwhile the live side keeps landing: the
tables they share are written by one side only (bronze, `stream.*`, offsets by the live
side; silver, quarantine, gaps, checkpoints by this one), except `ops.alerts`, to which
both only append.

After each silver step, `refresh` gives the live side the household map, the meters'
P99.9 thresholds from silver and the meter registry (`micro.Refresh`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pyarrow as pa

from wattlake.config import Settings
from wattlake.context import Context, build_context
from wattlake.lake import catalog as cat
from wattlake.logs import get_logger
from wattlake.observability.alerts import OUTLIER_MIN_READINGS, OUTLIER_QUANTILE
from wattlake.pipeline.runner import new_run, run_step
from wattlake.pipeline.steps import silver, silver_users
from wattlake.stream.job.micro import Refresh
from wattlake.stream.windows import households


def refresh(ctx: Context) -> Refresh:
    """Households, P99.9 thresholds and registry from the lake as it is now."""
    engine, lake = ctx.engine, ctx.lake
    mapping = engine.to_arrow(households(engine.read(lake, cat.SILVER_USERS)))
    thresholds: dict[str, float] = {}
    if lake.exists(cat.SILVER_READINGS):
        rows = (
            ctx.sql()
            .execute(
                f"""SELECT meter_id, quantile_cont(kwh, {OUTLIER_QUANTILE})
                FROM silver.meter_readings
                WHERE provenance = 'actual' AND kwh IS NOT NULL
                GROUP BY meter_id HAVING count(*) >= {OUTLIER_MIN_READINGS}"""
            )
            .fetchall()
        )
        thresholds = {m: float(q) for m, q in rows}
    known, vacant = silver.registry(lake)
    return Refresh(mapping, thresholds, known, vacant)


def empty_refresh() -> Refresh:
    """Nothing known yet: no households, thresholds or registry."""
    cols = ("meter_id", "household_id", "channel")
    return Refresh(pa.table({c: pa.array([], pa.string()) for c in cols}), {}, None, [])


def settle_once(ctx: Context) -> list[str]:
    """One silver pass (profiles, then readings); returns the bronze batch ids it
    processed."""
    run = new_run(ctx)
    run_step(ctx, run, "silver_users", lambda: silver_users.build(ctx, run))
    before = silver.pending_batches(ctx.engine, ctx.lake, cat.BRONZE_READINGS, silver.STEP)
    run_step(ctx, run, "silver", lambda: silver.build(ctx, run))
    return before


class Settler:
    """Runs the silver step beside the live side (module doc)."""

    def __init__(
        self,
        settings: Settings,
        every_s: float,
        on_refresh: Callable[[Refresh], None],
        on_settled: Callable[[list[str], float], None] | None = None,
    ) -> None:
        self.settings, self.every_s = settings, every_s
        self.on_refresh, self.on_settled = on_refresh, on_settled
        self.log = get_logger(component="stream_settle")
        self._landed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.passes = 0

    def landed(self) -> None:
        """The live side committed a micro-batch with readings."""
        self._landed.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="wattlake-settle", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.every_s)
            if self._stop.is_set():
                break
            if self._landed.is_set():
                try:
                    self.settle()
                except Exception as exc:  # reported by the live side, which stops
                    self.error = exc
                    self.log.error("settle_failed", error=repr(exc))
                    return

    def settle(self) -> list[str]:
        """One pass now (the thread's or the caller's; never two at once)."""
        with self._lock:
            self._landed.clear()
            t0 = time.time()
            with build_context(self.settings) as ctx:
                done = settle_once(ctx)
                fresh = refresh(ctx)
            self.passes += 1
            self.on_refresh(fresh)
            if self.on_settled is not None:
                self.on_settled(done, time.time())
            self.log.info("settled", batches=len(done), seconds=round(time.time() - t0, 3))
            return done

    def stop(self, final: bool = True) -> None:
        """Stop the thread; `final`: one last pass for what landed since the last one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if final and self.error is None:
            self.settle()


__all__ = ["Settler", "empty_refresh", "refresh", "settle_once"]
