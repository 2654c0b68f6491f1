"""Running steps: retries, recording in `ops.runs`, notifying alerts.

A step is a function `(ctx, run, ...) -> StepResult | list[StepResult]` (the modules in
`pipeline.steps`). `Runner.step` calls it with the GreenStream resilience rules — an
unexpected error is retried after each wait of `settings.retry_backoff_s` (3 tries by
default), a `WattlakeError` (bad input, a failed gate) is not — and records every outcome in
`ops.runs` as `success` or `failed`; quality gates record `blocked`, `overridden` or `warned`
themselves. The local CLI, a DAG task and a stream micro-batch all run steps through it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from wattlake.context import Context
from wattlake.errors import PipelineError, WattlakeError
from wattlake.lake import catalog as cat
from wattlake.logs import bind_batch, clear_context, get_logger
from wattlake.observability.alerts import Alert, notify_all
from wattlake.quality.runner import QualityGateError
from wattlake.runlog import RunRecord, record_runs
from wattlake.transforms.vee.profile import VeeProfile, get_profile


@dataclass
class StepResult:
    step: str
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0
    message: str = ""


@dataclass
class RunSummary:
    run_id: str
    engine: str
    profile: str
    steps: list[StepResult] = field(default_factory=list)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.step == name), None)


@dataclass
class Run:
    """One run of the pipeline: its id, VEE profile and flags, and what it recorded."""

    run_id: str
    profile: VeeProfile
    engine: str
    rebuild: bool = False  # re-validate all of bronze
    force: bool = False  # promote past failed error-severity gates
    # The meters whose silver rows this run rewrote from a window (None: all, or none): the
    # scope of the bronze and silver gates (`steps.quality_gate`).
    silver_meters: list[str] | None = None
    summary: RunSummary = field(init=False)

    def __post_init__(self) -> None:
        self.summary = RunSummary(self.run_id, self.engine, self.profile.name)


def new_run(ctx: Context, profile: str | None = None, *, rebuild: bool = False,
            force: bool = False) -> Run:  # fmt: skip
    """A new run id (`run-<12 hex>`) with the log context bound to it."""
    run = Run(
        "run-" + uuid.uuid4().hex[:12],
        get_profile(profile or ctx.settings.profile),
        ctx.engine.name,  # the engine the steps run on (a context may be given one)
        rebuild=rebuild,
        force=force,
    )
    clear_context()
    bind_batch(batch_id=run.run_id)
    return run


def record(
    ctx: Context, run: Run, res: StepResult, started: dt.datetime, status: str = "success"
) -> None:
    """Add `res` to the run's summary and `ops.runs`, and log it."""
    run.summary.steps.append(res)
    record_runs(
        ctx.lake,
        [
            RunRecord(
                run_id=run.run_id,
                batch_id=run.run_id,
                step=res.step,
                source="lake",
                engine=run.engine,
                profile=run.profile.name,
                rows_in=res.rows_in,
                rows_out=res.rows_out,
                rows_quarantined=res.rows_quarantined,
                started_at=started,
                duration_s=res.seconds,
                status=status,
                message=res.message,
            )
        ],
    )
    get_logger(run_id=run.run_id, engine=run.engine).info(
        "step_done",
        step=res.step,
        rows_in=res.rows_in,
        rows_out=res.rows_out,
        rows_quarantined=res.rows_quarantined,
        seconds=round(res.seconds, 3),
        status=status,
        message=res.message,
    )


def run_step(
    ctx: Context,
    run: Run,
    name: str,
    fn: Callable[[], StepResult | list[StepResult]],
    progress: Callable[[str], None] | None = None,
) -> list[StepResult]:
    """Run one step with retries on unexpected errors and record its results (module doc)."""
    started = ctx.clock()
    if progress:
        progress(name)
    delays = list(ctx.settings.retry_backoff_s)
    log = get_logger(run_id=run.run_id, engine=run.engine)
    t0 = time.perf_counter()
    while True:
        try:
            out = fn()
            break
        except QualityGateError:
            raise  # recorded by the gate as "blocked"
        except WattlakeError as exc:
            res = StepResult(name, seconds=time.perf_counter() - t0, message=str(exc))
            record(ctx, run, res, started, "failed")
            raise
        except Exception as exc:
            if delays:
                delay = delays.pop(0)
                log.warning("step_retry", step=name, error=repr(exc), in_s=delay)
                time.sleep(delay)
                continue
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
            record(ctx, run, StepResult(name, seconds=time.perf_counter() - t0, message=msg),
                   started, "failed")  # fmt: skip
            raise PipelineError(f"step {name} failed after retries: {msg}") from exc
    results = out if isinstance(out, list) else [out]
    for r in results:
        record(ctx, run, r, started)
    return results


def notify_run(ctx: Context, run: Run) -> None:
    """Send every alert this run raised to the context's notifiers."""
    rows = ctx.lake.read(cat.OPS_ALERTS)
    mine = [Alert(**r) for r in rows.to_pylist() if r["run_id"] == run.run_id]
    if mine:
        for exc in notify_all(mine, ctx.notifiers):
            get_logger(run_id=run.run_id).warning("alert_notify_failed", error=repr(exc))
