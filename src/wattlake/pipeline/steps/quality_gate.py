"""Quality-gate step: run and store the checks of one layer; error-severity failures stop
promotion (`QualityGateError`, recorded as `blocked`) unless the run is forced."""

from __future__ import annotations

from wattlake.context import Context
from wattlake.pipeline.runner import Run, StepResult, record
from wattlake.quality.runner import QualityGateError, enforce_gate


def check(ctx: Context, run: Run, layer: str, force: bool | None = None) -> None:
    """The checks of `layer`; failures are recorded in `ops.runs` as `blocked` (raised),
    `overridden` (forced) or `warned` (the warehouse layer, after its commit)."""
    started = ctx.clock()
    override = run.force if force is None else force
    try:
        failures = enforce_gate(
            ctx.sql(),
            ctx.lake,
            run_id=run.run_id,
            layer=layer,
            force=override,
            profile=run.profile.name,
        )
    except QualityGateError as exc:
        record(ctx, run, StepResult(f"quality_gate_{layer}", message=str(exc)), started, "blocked")
        raise
    if failures:
        ids = ", ".join(f.check_id for f in failures)
        status = "overridden" if run.force and layer != "warehouse" else "warned"
        record(
            ctx, run, StepResult(f"quality_gate_{layer}", message=f"failed: {ids}"), started, status
        )
