"""Forecasting: features (gaps, DST, no history), leakage, quantile order, metrics,
baselines, register-if-better with a real MLflow store, predict → gold + warehouse, the
monitoring alert, and the bring-your-own-series backtest CLI."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from wattlake.forecast.baselines import like_day
from wattlake.forecast.features import build_features, feature_columns
from wattlake.forecast.metrics import coverage, mape, psi, rmae
from wattlake.forecast.models import QuantileModel, model_features
from wattlake.forecast.timeline import Grid, timeline
from wattlake.lake import catalog as cat
from wattlake.lake.spec import UTC_TS

T0 = dt.datetime(2024, 3, 18, tzinfo=dt.UTC)  # a Monday; DST starts 2024-03-31 in London


def _series(
    days: int,
    keys: tuple[str, ...] = ("a",),
    step_min: int = 60,
    seed: int = 0,
    drop: set[int] | None = None,
) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = days * 1440 // step_min
    ts = [T0 + dt.timedelta(minutes=step_min * i) for i in range(n)]
    rows: dict[str, list] = {"key": [], "ts": [], "y": [], "weight": []}
    for j, k in enumerate(keys):
        h = np.array([t.hour for t in ts])
        y = (1 + j) * (0.5 + np.exp(-0.5 * ((h - 19) / 2) ** 2)) * rng.lognormal(0, 0.1, n)
        for i in range(n):
            if drop and i in drop:
                continue
            rows["key"].append(k)
            rows["ts"].append(ts[i])
            rows["y"].append(float(y[i]))
            rows["weight"].append(1.0)
    return pa.table(
        {
            "key": pa.array(rows["key"]),
            "ts": pa.array(rows["ts"], UTC_TS),
            "y": rows["y"],
            "weight": rows["weight"],
        }
    )


def _features(
    series: pa.Table, days: int, keys: list[str], grid: Grid | None = None
) -> pd.DataFrame:
    grid = grid or Grid()
    tl = timeline(T0, T0 + dt.timedelta(days=days), grid)
    f = build_features(
        ibis.memtable(series), ibis.memtable(pa.table({"key": keys})), ibis.memtable(tl), grid
    )
    out = f.order_by(["key", "ts"]).to_pyarrow().to_pandas()
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    return out


@pytest.mark.parametrize(
    ("drop", "check"),
    [
        pytest.param(
            set(),
            lambda f: f.lag_1d.iloc[24 * 9 + 5] == f.y.iloc[24 * 8 + 5],
            id="lag_1d_is_same_hour_yesterday",
        ),
        pytest.param(
            {24 * 8 + 5},
            lambda f: np.isnan(f.lag_1d.iloc[24 * 9 + 5]),
            id="gap_gives_null_lag_not_a_shifted_value",
        ),
        pytest.param(
            {24 * 8 + 5},
            lambda f: f.lag_2d.iloc[24 * 9 + 5] == f.y.iloc[24 * 7 + 5],
            id="gap_does_not_shift_other_lags",
        ),
        pytest.param(
            set(),
            lambda f: f.roll7_count.iloc[24 * 9] == 7 * 24,
            id="rolling_window_is_seven_whole_days_before_issue",
        ),
        pytest.param(
            set(range(24 * 8, 24 * 9)),
            lambda f: f.roll7_count.iloc[24 * 9] == 6 * 24,
            id="missing_day_counts_fewer_hours",
        ),
    ],
)
def test_features_lags_and_gaps(drop: set[int], check) -> None:
    f = _features(_series(12, drop=drop), 12, ["a"])
    assert len(f) == 12 * 24  # complete grid even where rows are missing
    assert check(f)


@pytest.mark.parametrize(
    ("day", "one_am_local"),
    [
        pytest.param(dt.date(2024, 3, 31), 0, id="dst_start_skips_01_local"),
        pytest.param(dt.date(2024, 10, 27), 2, id="dst_end_repeats_01_local"),
        pytest.param(dt.date(2024, 6, 1), 1, id="ordinary_day"),
    ],
)
def test_timeline_dst_days_have_24_utc_hours(day: dt.date, one_am_local: int) -> None:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    tl = timeline(start, start + dt.timedelta(days=1), Grid()).to_pandas()
    assert len(tl) == 24 and (tl["issue_ts"] == pd.Timestamp(start)).all()
    assert list(tl["hour_utc"]) == list(range(24)) and list(tl["lead_steps"]) == list(range(24))
    assert int((tl["hour_local"] == 1.0).sum()) == one_am_local


def test_meter_with_no_history_gets_rows_with_null_history() -> None:
    f = _features(_series(10), 10, ["a", "new"])
    new = f[f.key == "new"]
    assert len(new) == 240
    assert new[["lag_1d", "lag_7d", "roll7_mean", "slot7_mean"]].isna().all().all()
    assert (new["roll7_count"] == 0).all()


@pytest.mark.parametrize(
    "horizon_h", [pytest.param(24, id="day_ahead"), pytest.param(48, id="two_days")]
)
def test_leakage_actuals_after_issue_do_not_change_forecast(horizon_h: int) -> None:
    grid = Grid(60, horizon_h * 60)
    s = _series(30, keys=("a", "b"))
    f = _features(s, 30, ["a", "b"], grid)
    feats = model_features(feature_columns(list(f.columns)))
    train = f[(f.ts < T0 + dt.timedelta(days=20)) & f.roll7_count.gt(0)]
    m = QuantileModel(feats, {"num_boost_round": 20, "max_depth": 3, "eta": 0.3}).fit(train)
    issue = pd.Timestamp(T0 + dt.timedelta(days=24))
    # change every actual at or after the issue time
    df = s.to_pandas()
    df.loc[pd.to_datetime(df.ts, utc=True) >= issue, "y"] *= 50.0
    f2 = _features(
        pa.Table.from_pandas(df, preserve_index=False).cast(s.schema), 30, ["a", "b"], grid
    )
    rows = f[f.issue_ts == issue].index
    assert len(rows) == 2 * horizon_h
    cols = [c for c in feats if c not in ("log_scale", "like_day")] + ["roll7_mean_abs"]
    pd.testing.assert_frame_equal(f.loc[rows, cols], f2.loc[rows, cols])
    pd.testing.assert_frame_equal(m.predict(f.loc[rows]), m.predict(f2.loc[rows]))
    assert not f.loc[rows, "y"].equals(f2.loc[rows, "y"])  # the actuals did change


def test_quantiles_are_ordered_and_interval_calibrated() -> None:
    f = _features(_series(30, keys=("a", "b", "c")), 30, ["a", "b", "c"])
    f = f[f.roll7_count > 0]
    feats = model_features(feature_columns(list(f.columns)))
    m = QuantileModel(feats, {"num_boost_round": 30, "max_depth": 3}, margin=0.05).fit(f)
    p = m.predict(f)
    assert (p.p10 <= p.p50).all() and (p.p50 <= p.p90).all() and (p.p10 >= 0).all()
    m.margin = -5.0  # a negative margin may narrow the interval but never cross P50
    p = m.predict(f)
    assert (p.p10 <= p.p50).all() and (p.p50 <= p.p90).all()


@pytest.mark.parametrize(
    ("fn", "args", "expected"),
    [
        pytest.param(rmae, ([0, 10], [1, 9]), 0.1, id="rmae_over_range"),
        pytest.param(mape, ([0.0, 10, 10], [5, 9, 11]), 0.1, id="mape_skips_near_zero"),
        pytest.param(
            coverage, ([1, 2, 3, 4], [0, 0, 0, 5], [1.5, 2.5, 2.5, 6]), 0.5, id="coverage_inclusive"
        ),
        pytest.param(rmae, ([5, 5], [4, 6]), float("nan"), id="rmae_flat_actuals_nan"),
    ],
)
def test_metrics(fn, args, expected) -> None:
    got = fn(*(np.array(a, dtype=float) for a in args))
    assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected)


def test_psi_detects_shift_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 5000)
    assert psi(base, rng.normal(0, 1, 2000)) < 0.05
    assert psi(base, rng.normal(1.5, 1, 2000)) > 0.25


def test_like_day_uses_same_kind_of_day() -> None:
    # Monday 2024-03-25: the like-day mean takes the last three working days (Fri, Thu, Wed)
    ts = pd.Series([pd.Timestamp("2024-03-25 12:00", tz="UTC")])
    lags = {f"lag_{k}d": [float(k)] for k in range(1, 8)}  # lag k = k days back
    got = like_day(pd.DataFrame({"ts": ts, **lags}))
    assert got[0] == pytest.approx((3 + 4 + 5) / 3)


# -- lake, registry, warehouse --------------------------------------------------------


def _write_silver(ctx, days: int = 24, meters: int = 4, seed: int = 3) -> None:
    s = _series(days, keys=tuple(f"M{i}" for i in range(meters)), step_min=30, seed=seed)
    df = s.to_pandas()
    n = len(df)
    rows = pa.table(
        {
            "meter_id": df["key"],
            "ts": pa.array(df["ts"], UTC_TS),
            "date": pa.array(pd.to_datetime(df["ts"], utc=True).dt.date, pa.date32()),
            "interval_minutes": pa.array(np.full(n, 30), pa.int32()),
            "kwh": df["y"] / 2,
            "kw": df["y"],
            "quality_score": pa.array(np.full(n, 100), pa.int32()),
            "quality_grade": ["A"] * n,
            "is_estimated": np.zeros(n, dtype=bool),
        }
    )
    ctx.lake.append(cat.SILVER_READINGS, rows)


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory):
    """A home with 24 days of 4 meters, one registered champion (v1) and a worse v2."""
    from conftest import with_ctx
    from wattlake.config import load_settings
    from wattlake.forecast.train import TrainOptions, train

    home = tmp_path_factory.mktemp("fc") / "home"
    settings = load_settings(home=home)
    small = dict(cv_folds=1, candidates=({},), refit=False, holdout_days=5)
    with_ctx(settings, _write_silver)
    first = with_ctx(
        settings,
        train,
        "consumption-household",
        TrainOptions(params={"num_boost_round": 40, "max_depth": 3}, **small),
    )
    worse = with_ctx(
        settings,
        train,
        "consumption-household",
        TrainOptions(params={"num_boost_round": 1, "max_depth": 1, "eta": 0.01}, **small),
    )
    return settings, first, worse


def test_register_if_better(trained_home) -> None:
    from wattlake.forecast.registry import Registry

    settings, first, worse = trained_home
    assert first.promoted and first.version == 1 and first.champion_before is None
    assert worse.version == 2 and not worse.promoted
    assert worse.champion_before == 1 and worse.champion_mae == pytest.approx(first.mae)
    assert worse.mae > first.mae
    reg = Registry(settings.home)
    assert reg.champion_version("wattlake-consumption-household") == 1
    reg.set_champion("consumption-household", 2)  # rollback / roll forward by hand
    assert reg.champion_version("wattlake-consumption-household") == 2
    reg.set_champion("consumption-household", 1)
    card = reg.card("consumption-household", 1)
    assert "training window" in card and "lag_1d" in card


@pytest.mark.parametrize(
    "target", [pytest.param("duckdb", id="duckdb"), pytest.param("postgres", id="postgres")]
)
def test_predict_writes_gold_and_warehouse(trained_home, target: str, request) -> None:
    from conftest import with_ctx
    from wattlake.forecast.service import predict
    from wattlake.warehouse.targets import open_target

    settings, _, _ = trained_home
    if target == "postgres":
        settings = settings.model_copy(update={"warehouse": request.getfixturevalue("pg_db")})
    issue = T0 + dt.timedelta(days=22)
    res = with_ctx(settings, predict, ["consumption-household"], issue)
    assert res.rows == {"consumption-household": 4 * 24} and res.warehouse_rows == 96
    again = with_ctx(settings, predict, ["consumption-household"], issue)  # idempotent
    assert again.warehouse_rows == 96
    gold = with_ctx(settings, lambda c: c.lake.read(cat.GOLD_FORECASTS).to_pandas())
    mine = gold[pd.to_datetime(gold.issued_at, utc=True) == pd.Timestamp(issue)]
    assert len(mine) == 96 and (mine.p10 <= mine.p50).all() and (mine.p50 <= mine.p90).all()
    from wattlake.lake.delta import Lake

    t = open_target(Lake(settings.home), settings.warehouse)
    try:
        n, lo, hi = t.rows(
            "SELECT count(*), min(lead_hours), max(lead_hours) FROM "
            "dw.fact_forecasts WHERE model = 'consumption-household'"
        )[0]
    finally:
        t.close()
    assert (n, lo, hi) == (96, 0, 23)
    advice = with_ctx(settings, lambda c: c.lake.read(cat.GOLD_TRADING_ADVICE).to_pandas())
    assert set(advice.action) <= {"SELL", "BUY", "HOLD"} and len(advice) == 96


def test_evaluate_writes_accuracy_and_raises_degradation_alert(trained_home) -> None:
    from conftest import with_ctx
    from wattlake.forecast.service import evaluate, predict
    from wattlake.observability.alerts import forecast_alerts

    settings, _, _ = trained_home
    with_ctx(settings, predict, ["consumption-household"], T0 + dt.timedelta(days=23))
    res = with_ctx(settings, evaluate)
    acc = with_ctx(settings, lambda c: c.lake.read(cat.GOLD_FORECAST_ACCURACY).to_pandas())
    assert res.accuracy_rows >= 1 and (acc.n > 0).all() and acc.coverage.between(0, 1).all()
    assert not with_ctx(settings, lambda c: forecast_alerts(c.sql()))  # healthy: no alert
    from wattlake.observability.metrics import prometheus_text

    text = with_ctx(settings, lambda c: prometheus_text(c.sql()))
    assert 'wattlake_forecast_interval_coverage{level="household"' in text
    bad = acc.iloc[[0]].assign(
        date=acc.date.max() + dt.timedelta(days=1), mae=acc.reference_mae.iloc[0] * 3, coverage=0.3
    )
    with_ctx(
        settings,
        lambda c: c.lake.append(
            cat.GOLD_FORECAST_ACCURACY, pa.Table.from_pandas(bad, preserve_index=False)
        ),
    )
    alerts = with_ctx(settings, lambda c: forecast_alerts(c.sql()))
    assert [a.rule for a in alerts] == ["forecast_degraded"]
    assert "coverage 30%" in alerts[0].message and "MAE" in alerts[0].message


# -- bring your own series -------------------------------------------------------------


def _wide(path: Path, start: str, days: int, step_min: int = 30, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * 1440 // step_min, freq=f"{step_min}min", tz="UTC")
    temp = 10 + 5 * np.sin(np.arange(len(ts)) / 200) + rng.normal(0, 1, len(ts))
    h = ts.hour + ts.minute / 60
    load = 100 + 40 * np.exp(-0.5 * ((h - 18) / 2) ** 2) - 2 * temp + rng.normal(0, 3, len(ts))
    pd.DataFrame(
        {"datetime": ts.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_mw": load, "temp_fc": temp}
    ).to_csv(path, index=False)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wattlake.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_byo_backtest_cli_beats_persistence(tmp_path: Path) -> None:
    tr = _wide(tmp_path / "train.csv", "2024-01-01", 35)
    te = _wide(tmp_path / "test.csv", "2024-02-05", 7, seed=1)
    r = _cli(
        "forecast",
        "backtest",
        "--train",
        str(tr),
        "--test",
        str(te),
        "--target",
        "load_mw",
        "--out",
        str(tmp_path / "out"),
        "--home",
        str(tmp_path / "h"),
    )
    assert r.returncode == 0, r.stderr
    import json

    res = json.loads((tmp_path / "out" / "backtest-load_mw.json").read_text())
    assert res["step_minutes"] == 30 and res["covariates"] == ["temp_fc"]
    best = min(res["baselines"]["persistence_1d"]["mae"], res["baselines"]["persistence_7d"]["mae"])
    assert res["model"]["mae"] < 0.85 * best
    assert 0.6 <= res["model"]["coverage"] <= 0.95


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        pytest.param(lambda p: p.write_text(""), (), "empty", id="empty_file"),
        pytest.param(
            lambda p: p.write_text("a,b\n1,2\n"), (), "no timestamp column", id="no_time_column"
        ),
        pytest.param(
            lambda p: p.write_text("timestamp,x\n2024-01-01,1\n"),
            (),
            "no target column 'load_mw'",
            id="no_target_column",
        ),
        pytest.param(
            lambda p: p.write_text("timestamp,load_mw\nnot a date,1\n"),
            (),
            "unparseable timestamp",
            id="bad_timestamp",
        ),
        pytest.param(
            lambda p: p.write_text("timestamp,load_mw\n2024-01-01 00:00,abc\n2024-01-01 01:00,2\n"),
            (),
            "non-numeric",
            id="non_numeric_target",
        ),
        pytest.param(
            lambda p: p.write_text("timestamp,load_mw\n2024-01-01 00:00,1\n2024-01-01 00:00,2\n"),
            (),
            "duplicate timestamp",
            id="duplicates",
        ),
        pytest.param(None, ("--horizon", "soon"), "bad horizon", id="bad_horizon"),
    ],
)
def test_byo_backtest_bad_files(tmp_path: Path, make, args, message: str) -> None:
    good = _wide(tmp_path / "test.csv", "2024-02-05", 7)
    bad = tmp_path / "train.csv"
    if make is None:
        _wide(bad, "2024-01-01", 20)
    else:
        make(bad)
    r = _cli(
        "forecast",
        "backtest",
        "--train",
        str(bad),
        "--test",
        str(good),
        "--target",
        "load_mw",
        *args,
        "--home",
        str(tmp_path / "h"),
    )
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr


@pytest.mark.spark
def test_features_identical_on_duckdb_and_spark(spark, duck) -> None:
    """The feature expressions give the same rows on Spark as on DuckDB (gaps, a meter
    without history, a DST change, a covariate)."""
    s = _series(12, keys=("a", "b"), drop={30, 31, 200})
    tl = timeline(T0, T0 + dt.timedelta(days=12), Grid())
    cov = pa.table({"ts": tl.column("ts"), "temperature_c": np.linspace(0, 20, tl.num_rows)})
    keys = pa.table({"key": ["a", "b", "new"]})

    def run(engine) -> pd.DataFrame:
        def table(name: str, t: pa.Table):
            if engine.name == "duckdb":
                return engine.con.create_table(name, t, overwrite=True)
            engine.spark.createDataFrame(t.to_pandas()).createOrReplaceTempView(name)
            return engine.con.table(name)

        f = build_features(
            table("fs", s),
            table("fk", keys),
            table("ftl", tl),
            Grid(),
            time_covariates=table("fc", cov),
        )
        out = engine.to_arrow(f).to_pandas()
        out["ts"] = pd.to_datetime(out["ts"], utc=True)
        return out.sort_values(["key", "ts"]).reset_index(drop=True)

    a, b = run(duck), run(spark)
    assert len(a) == 3 * 12 * 24
    cols = sorted(c for c in a.columns if c not in ("ts", "issue_ts"))
    pd.testing.assert_frame_equal(
        a[cols].astype(float, errors="ignore"),
        b[cols].astype(float, errors="ignore"),
        check_dtype=False,
    )


@pytest.mark.slow
def test_demo_trains_and_predicts(tmp_path: Path) -> None:
    """The demo's small train + predict: forecasts and advice appear in its summary."""
    from conftest import with_ctx
    from wattlake.config import load_settings
    from wattlake.pipeline.demo import DEMO_FORECAST_MIN_DAYS, run_demo

    s = load_settings(home=tmp_path / "home")
    report = with_ctx(s, run_demo, households=8, days=DEMO_FORECAST_MIN_DAYS, seed=3)
    fig = report.figures
    assert fig["forecasts (gold, next 24 h)"] > 0 and fig["trading advice rows"] > 0
    assert "forecast household MAE vs best persistence" in fig
    assert "forecast prosumer MAE vs best persistence" in fig
    n = with_ctx(s, lambda c: c.sql().execute("SELECT count(*) FROM dw.fact_forecasts").fetchone())
    assert n[0] == fig["forecasts (gold, next 24 h)"]
