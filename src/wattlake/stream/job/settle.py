"""Silver for the stream: the batch silver step on the landed micro-batches, beside the live
side, and what the live side needs from silver.

`Settler` runs `steps.silver_users` and `steps.silver` (through the runner: retries,
`ops.runs`) in a process of its own with its own `Context` (engine and SQL connection),
every `every_s` seconds while new batches have landed, and once more when the stream stops. The
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

import multiprocessing
import queue
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from wattlake.config import Settings
from wattlake.context import Context, build_context
from wattlake.lake import catalog as cat
from wattlake.logs import configure_logging, get_logger
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


def users_ready(ctx: Context) -> None:
    """Bring `silver.user_profiles` up to date before the stream starts (the household map
    comes from it), when profiles were ingested since the last silver step."""
    pending = silver.pending_batches(ctx.tables, ctx.lake, cat.BRONZE_USERS, silver_users.STEP)
    if pending:
        run = new_run(ctx)
        run_step(ctx, run, "silver_users", lambda: silver_users.build(ctx, run))


def settle_once(ctx: Context) -> list[str]:
    """One silver pass (profiles, then readings); returns the bronze batch ids it
    processed."""
    run = new_run(ctx)
    run_step(ctx, run, "silver_users", lambda: silver_users.build(ctx, run))
    before = silver.pending_batches(ctx.tables, ctx.lake, cat.BRONZE_READINGS, silver.STEP)
    run_step(ctx, run, "silver", lambda: silver.build(ctx, run))
    return before


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the runner that started it dies (a runner
    killed with SIGKILL takes its silver step with it, as one process would)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _settle_main(
    settings: dict[str, Any],
    every_s: float,
    landed: Any,
    stop: Any,
    final: Any,
    out: Any,
) -> None:
    """The settle process: a silver pass every `every_s` seconds while batches landed,
    one more at `stop` when `final` is set; results and errors go to the queue `out`."""
    _die_with_parent()
    s = Settings(**settings)
    configure_logging(s.home / "logs", s.log_level, s.log_stderr)
    log = get_logger(component="stream_settle")
    parent = multiprocessing.parent_process()
    next_pass = time.monotonic() + every_s
    while True:
        stopping = stop.wait(min(1.0, max(0.0, next_pass - time.monotonic())))
        if parent is not None and not parent.is_alive():
            return  # the runner is gone (killed): so is its silver step
        if not stopping and time.monotonic() < next_pass:
            continue
        next_pass = time.monotonic() + every_s
        if stopping and not final.is_set():
            break
        if landed.is_set() or stopping:
            landed.clear()
            t0 = time.time()
            try:
                with build_context(s) as ctx:
                    done = settle_once(ctx)
                    fresh = refresh(ctx)
            except Exception as exc:  # the live side stops with it
                log.error("settle_failed", error=repr(exc))
                out.put(("error", f"{type(exc).__name__}: {exc}"))
                return
            log.info("settled", batches=len(done), seconds=round(time.time() - t0, 3))
            out.put(("settled", done, time.time(), fresh))
        if stopping:
            break
    out.put(("stopped",))


class Settler:
    """Runs the silver step beside the live side, in a process of its own (its Python work
    — Ibis compiling the silver plan — would otherwise hold the live side's interpreter),
    every `every_s` seconds while new batches have landed, and once more at the end."""

    def __init__(
        self,
        settings: Settings,
        every_s: float,
        on_refresh: Callable[[Refresh], None],
        on_settled: Callable[[list[str], float], None] | None = None,
    ) -> None:
        mp = multiprocessing.get_context("spawn")
        self.settings, self.every_s = settings, every_s
        self.on_refresh, self.on_settled = on_refresh, on_settled
        self._landed, self._stop, self._final = mp.Event(), mp.Event(), mp.Event()
        self._out: Any = mp.Queue()
        self._proc = mp.Process(
            target=_settle_main,
            args=(
                settings.model_dump(),
                every_s,
                self._landed,
                self._stop,
                self._final,
                self._out,
            ),
            name="wattlake-settle",
            daemon=True,
        )
        self.error: str | None = None
        self.passes = 0

    def start(self) -> None:
        self._proc.start()

    def landed(self) -> None:
        """The live side committed a micro-batch with readings."""
        self._landed.set()

    def poll(self) -> None:
        """Hand over what the settle process reported (call between micro-batches)."""
        while True:
            try:
                msg = self._out.get_nowait()
            except queue.Empty:
                return
            self._handle(msg)

    def _handle(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "error":
            self.error = msg[1]
        elif msg[0] == "settled":
            _, done, at, fresh = msg
            self.passes += 1
            self.on_refresh(fresh)
            if self.on_settled is not None:
                self.on_settled(done, at)

    def stop(self, final: bool = True) -> None:
        """Stop the process; `final`: one last pass for what landed since the last one.
        Waits for it (the final pass included)."""
        if final and self.error is None:
            self._final.set()
        self._stop.set()
        while self._proc.is_alive() or not self._out.empty():
            try:
                msg = self._out.get(timeout=0.5)
            except queue.Empty:
                continue
            if msg[0] == "stopped":
                break
            self._handle(msg)
        self._proc.join(timeout=30)


__all__ = ["Settler", "empty_refresh", "refresh", "settle_once", "users_ready"]
