"""`wattlake forecast train | predict | evaluate | models | champion | backtest`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wattlake.cli.common import HomeOpt, open_context, out, settings_for, sub_app
from wattlake.errors import InputError

forecast_app = sub_app(
    "forecast", "Day-ahead forecasts (consumption, solar, price) with P10/P50/P90 intervals."
)
ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        help="Model family (repeatable; default: all). "
        "consumption-household, consumption-aggregate, solar-prosumer, price-zone.",
    ),
]


def _families(models: list[str] | None) -> list[str]:
    from wattlake.forecast.dataset import FAMILIES, family

    return [family(m).name for m in models] if models else list(FAMILIES)


def _when(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"bad time '{text}': use ISO 8601, e.g. 2024-05-30T00:00") from None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _f(x: float, spec: str = ".4f") -> str:
    return "-" if x != x else format(x, spec)


@forecast_app.command("train")
def train_cmd(
    model: ModelOpt = None,
    holdout_days: Annotated[int, typer.Option(help="Backtest window (days).")] = 7,
    cv_folds: Annotated[int, typer.Option(help="Rolling-origin folds for tuning.")] = 3,
    time_budget: Annotated[float, typer.Option(help="Tuning time budget (s).")] = 300.0,
    no_weights: Annotated[
        bool, typer.Option("--no-weights", help="Train without the quality weights.")
    ] = False,
    until: Annotated[str | None, typer.Option(help="Ignore actuals from this UTC time.")] = None,
    home: HomeOpt = None,
) -> None:
    """Train, backtest and register models; the new version becomes champion only if it
    beats the current one on the same backtest window."""
    from wattlake.forecast.series import QualityWeights
    from wattlake.forecast.train import TrainOptions
    from wattlake.pipeline.runner import new_run
    from wattlake.pipeline.steps.forecast import train_step

    opts = TrainOptions(
        holdout_days=holdout_days,
        cv_folds=cv_folds,
        time_budget_s=time_budget,
        weights=QualityWeights.off() if no_weights else QualityWeights(),
        until=_when(until),
    )
    with open_context(home) as ctx:
        _, results = train_step(ctx, new_run(ctx), _families(model), opts)
    t = Table(title="forecast models trained (backtest: last window, day-ahead)")
    for c in (
        "model",
        "version",
        "champion",
        "level",
        "MAE",
        "rMAE/key",
        "R²",
        "MAPE",
        "coverage",
        "vs persistence",
        "s",
    ):
        t.add_column(c, justify="left" if c in ("model", "level", "champion") else "right")
    for r in results:
        champ = "new" if r.promoted else f"kept v{r.champion_before}"
        for lv, m in r.by_level.items():
            t.add_row(
                r.family,
                str(r.version),
                champ,
                lv,
                _f(m["mae"]),
                _f(m["key_mean_rmae"], ".3f"),
                _f(m["r2"], ".3f"),
                _f(m["mape"], ".1%"),
                _f(m["coverage"], ".1%"),
                _f(m["improvement_vs_persistence"], "+.1%"),
                f"{r.seconds:.0f}",
            )
    out.print(t)


@forecast_app.command("predict")
def predict_cmd(
    model: ModelOpt = None,
    issued_at: Annotated[
        str | None, typer.Option(help="Issue time (UTC); default: midnight after the last actual.")
    ] = None,
    version: Annotated[
        int | None, typer.Option(help="Registry version (default champion).")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Forecast the next 24 h → gold.forecasts, dw.fact_forecasts, gold.trading_advice."""
    from wattlake.pipeline.runner import new_run
    from wattlake.pipeline.steps.forecast import predict_step

    with open_context(home) as ctx:
        _, res = predict_step(ctx, new_run(ctx), model or None, _when(issued_at), version)
    if not res.rows:
        raise InputError(
            "no forecasts: "
            + (
                "; ".join(f"{k}: {v}" for k, v in res.skipped.items())
                or "no model has a champion (wattlake forecast train)"
            )
        )
    for name, n in res.rows.items():
        out.print(f"{name} v{res.versions[name]}: {n:,} forecast rows issued {res.issued_at}")
    for name, why in res.skipped.items():
        out.print(f"{name}: skipped ({why})")
    out.print(
        f"dw.fact_forecasts: {res.warehouse_rows:,} rows; "
        f"gold.trading_advice: {res.advice_rows:,} rows"
    )


@forecast_app.command("evaluate")
def evaluate_cmd(home: HomeOpt = None) -> None:
    """Accuracy of stored forecasts that now have actuals, feature drift, alerts."""
    from wattlake.pipeline.runner import new_run
    from wattlake.pipeline.steps.forecast import evaluate_step

    with open_context(home) as ctx:
        _, res = evaluate_step(ctx, new_run(ctx))
    out.print(
        f"gold.forecast_accuracy: {res.accuracy_rows} rows; gold.forecast_drift: "
        f"{res.drift_rows} rows; new alerts: {res.alerts}"
    )


@forecast_app.command("models")
def models_cmd(
    model: Annotated[str | None, typer.Option("--model", help="Only this family.")] = None,
    card: Annotated[int | None, typer.Option(help="Print the model card of this version.")] = None,
    home: HomeOpt = None,
) -> None:
    """Registered versions, their backtest MAE and which is champion."""
    from wattlake.forecast.registry import Registry

    reg = Registry(settings_for(home).home)
    if card is not None:
        if not model:
            raise InputError("--card needs --model")
        out.print(reg.card(model, card), markup=False)
        return
    t = Table(title="registered forecast models")
    for c in ("model", "version", "champion", "MAE", "window", "created (UTC)"):
        t.add_column(c)
    for v in reg.versions(model):
        t.add_row(
            v.name,
            str(v.version),
            "champion" if v.champion else "",
            _f(v.metrics.get("mae", float("nan"))),
            v.tags.get("window", ""),
            dt.datetime.fromtimestamp(v.created_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M"),
        )
    out.print(t)


@forecast_app.command("champion")
def champion_cmd(
    model: Annotated[str, typer.Argument(help="Model family, e.g. consumption-household.")],
    version: Annotated[int, typer.Argument(help="Version to serve (rollback).")],
    home: HomeOpt = None,
) -> None:
    """Make a version the champion (e.g. roll back to the previous one)."""
    from wattlake.forecast.dataset import family
    from wattlake.forecast.registry import Registry

    Registry(settings_for(home).home).set_champion(family(model).name, version)
    out.print(f"wattlake-{model}: champion is now version {version}")


@forecast_app.command("backtest")
def backtest_cmd(
    train: Annotated[Path, typer.Option("--train", help="Training CSV (wide).")],
    test: Annotated[Path, typer.Option("--test", help="Test CSV (same columns).")],
    target: Annotated[str, typer.Option("--target", help="Column to forecast.")],
    time_col: Annotated[str | None, typer.Option("--time-col", help="Timestamp column.")] = None,
    horizon: Annotated[str, typer.Option(help="Forecast horizon, e.g. 24h, 6h.")] = "24h",
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for results (default <home>/reports/forecast)."),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Backtest a series of your own (covariates known in advance) against persistence."""
    from wattlake.forecast.byo import backtest

    bt = backtest(train, test, target, time_col, horizon)
    t = Table(
        title=f"backtest of '{target}': {bt.test_rows:,} test steps of "
        f"{bt.step_minutes} min, horizon {bt.horizon_minutes // 60} h, "
        f"covariates: {', '.join(bt.covariates) or 'none'}"
    )
    for c in ("forecast", "MAE", "rMAE", "RMSE", "R²", "MAPE", "coverage P10-P90"):
        t.add_column(c, justify="left" if c == "forecast" else "right")
    for name, s in [("model (P50)", bt.model), *bt.baselines.items()]:
        t.add_row(
            name,
            _f(s.mae),
            _f(s.rmae),
            _f(s.rmse),
            _f(s.r2, ".3f"),
            _f(s.mape, ".1%"),
            _f(s.coverage, ".1%"),
        )
    out.print(t)
    d = out_dir or settings_for(home).home / "reports" / "forecast"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"backtest-{target}.json").write_text(json.dumps(bt.as_dict(), indent=2))
    bt.predictions.to_csv(d / f"backtest-{target}.csv", index=False)
    out.print(f"results: {d / f'backtest-{target}.json'} and .csv")
