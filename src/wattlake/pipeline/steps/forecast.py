"""Forecast steps (`forecast_train`, `forecast_predict`, `forecast_evaluate`): thin wrappers
that run `wattlake.forecast` through the runner, so each lands in `ops.runs` with retries.
A DAG task calls `run_forecast_steps(ctx, ...)` or one of the functions below."""

from __future__ import annotations

import datetime as dt
import time

from wattlake.context import Context
from wattlake.forecast import service
from wattlake.forecast.train import TrainOptions, TrainResult, train
from wattlake.pipeline.runner import Run, StepResult, new_run, run_step


def train_step(
    ctx: Context, run: Run, families: list[str], opts: TrainOptions
) -> tuple[list[StepResult], list[TrainResult]]:
    """Train each family (one `ops.runs` row per family)."""
    results: list[TrainResult] = []
    steps: list[StepResult] = []
    for name in families:

        def one(name: str = name) -> StepResult:
            r = train(ctx, name, opts)
            results.append(r)
            verdict = "champion" if r.promoted else f"kept champion v{r.champion_before}"
            return StepResult(
                f"forecast_train:{name}",
                r.rows_train,
                0 if r.predictions is None else len(r.predictions),
                seconds=r.seconds,
                message=f"v{r.version} MAE {r.mae:.4g} ({verdict})",
            )

        steps += run_step(ctx, run, f"forecast_train:{name}", one)
    return steps, results


def predict_step(
    ctx: Context,
    run: Run,
    families: list[str] | None = None,
    issued_at: dt.datetime | None = None,
    version: int | None = None,
) -> tuple[list[StepResult], service.PredictResult]:
    box: list[service.PredictResult] = []

    def go() -> StepResult:
        t0 = time.perf_counter()
        res = service.predict(ctx, families, issued_at, version)
        box.append(res)
        return StepResult(
            "forecast_predict",
            0,
            sum(res.rows.values()),
            seconds=time.perf_counter() - t0,
            message=f"issued {res.issued_at}; advice {res.advice_rows} rows",
        )

    return run_step(ctx, run, "forecast_predict", go), box[0]


def evaluate_step(ctx: Context, run: Run) -> tuple[list[StepResult], service.EvaluateResult]:
    box: list[service.EvaluateResult] = []

    def go() -> StepResult:
        t0 = time.perf_counter()
        res = service.evaluate(ctx)
        box.append(res)
        return StepResult(
            "forecast_evaluate",
            0,
            res.accuracy_rows,
            seconds=time.perf_counter() - t0,
            message=f"{res.drift_rows} drift rows, {res.alerts} new alerts",
        )

    return run_step(ctx, run, "forecast_evaluate", go), box[0]


def run_forecast_steps(ctx: Context, families: list[str], opts: TrainOptions) -> Run:
    """Train, predict and evaluate in one run (the demo's and a daily DAG's sequence)."""
    run = new_run(ctx)
    train_step(ctx, run, families, opts)
    predict_step(ctx, run, families)
    evaluate_step(ctx, run)
    return run
