"""Public entry point: generate synthetic smart-meter reading files, users and labels."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from wattlake.generate.consumption import consumption_kwh
from wattlake.generate.faults import FileGrid, clean_lines, empty_labels, inject_faults
from wattlake.generate.population import Population, draw_population, meter_id
from wattlake.generate.pv import pv_kwh
from wattlake.generate.timegrid import (
    INTERVALS_PER_DAY,
    TimeGrid,
    iso_strings,
    lcl_strings,
    make_time_grid,
)
from wattlake.generate.weather import clearsky_ghi, daily_cloud_factor, daily_temperature
from wattlake.generate.writer import (
    FILE_PREFIX,
    HEADERS,
    UNIT_KW,
    UNIT_KWH,
    LineFormatter,
    write_text,
)

FORMATS = ("lcl", "meter-csv")
KW_UNIT_SHARE = 0.7
DEFAULT_START = datetime.date(2024, 3, 1)


@dataclass
class GenerationResult:
    """What :func:`generate` wrote.

    files: reading files in write order; users_file: users.csv (SCD2 history);
    labels_file: labels.csv (only with faults); households / meters: counts (meters =
    consumption + PV meters); readings: reading lines written (no header, faulty lines
    included); seconds: wall-clock duration in seconds; start / days: the period (UTC days);
    weather: the city weather the consumption and PV were drawn from (the offline demo turns
    it into synthetic Open-Meteo responses).
    """

    files: list[Path]
    users_file: Path
    labels_file: Path | None
    households: int
    meters: int
    readings: int
    seconds: float
    start: datetime.date | None = None
    days: int | None = None
    weather: Weather | None = None


@dataclass(frozen=True)
class Weather:
    """Shared weather: daily temperature in °C, daily cloud factor (0.2–1.0), clear-sky
    GHI in W/m² per interval."""

    temperature_c: np.ndarray
    cloud: np.ndarray
    ghi_w_m2: np.ndarray


def _validate(
    households: int, days: int, fmt: str, households_per_file: int, seed: int, start: object
) -> None:
    """Raise ``ValueError`` for invalid arguments."""
    for name, value in (
        ("households", households),
        ("days", days),
        ("households_per_file", households_per_file),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(start, datetime.date):
        raise ValueError(f"start must be a datetime.date, got {start!r}")


def _now64(now: datetime.datetime | None) -> np.datetime64:
    """``now`` as naive UTC ``datetime64[s]`` (naive input is taken as UTC)."""
    now = now or datetime.datetime.now(datetime.UTC)
    if now.tzinfo is not None:
        now = now.astimezone(datetime.UTC).replace(tzinfo=None)
    return np.datetime64(now, "s")


def file_grid(
    pop: Population,
    households: np.ndarray,
    grid: TimeGrid,
    weather: Weather,
    units: np.ndarray,
    rng: np.random.Generator,
) -> FileGrid:
    """Clean data of one file: consumption + PV meters of ``households``, meter-major.

    Meter order: each household's consumption meter, then its PV meter (if it has one).
    ``units`` are the unit codes per (household, [consumption, pv]), shape (H, 2).
    """
    cons = consumption_kwh(pop.behaviour.take(households), grid, weather.temperature_c, rng)
    pv_hh = households[pop.has_pv[households]]
    pv = pv_kwh(
        pop.kwp_by_day(pv_hh, grid.days),
        pop.orientation[pv_hh],
        weather.ghi_w_m2,
        weather.cloud,
        grid,
        rng,
    )
    has_pv = pop.has_pv[households].astype(np.int64)
    n_m = len(households) + len(pv_hh)
    cons_row = np.arange(len(households)) + np.concatenate([[0], np.cumsum(has_pv)[:-1]])
    pv_row = cons_row[has_pv == 1] + 1
    values = np.empty((n_m, grid.n_intervals))
    values[cons_row] = cons
    values[pv_row] = pv
    valid_start = np.zeros(n_m, dtype=np.int64)
    valid_start[pv_row] = pop.pv_install_day[pv_hh] * INTERVALS_PER_DAY
    unit = np.empty(n_m, dtype=np.int8)
    unit[cons_row] = units[households, 0]
    unit[pv_row] = units[pv_hh, 1]
    ids = np.empty(n_m, dtype=object)
    ids[cons_row] = meter_id(households)
    ids[pv_row] = meter_id(pv_hh, "PV")
    return FileGrid(values=values, valid_start=valid_start, unit=unit, meter_ids=ids.astype(str))


def generate(
    out_dir: Path,
    households: int,
    days: int,
    *,
    seed: int = 42,
    fmt: Literal["lcl", "meter-csv"] = "lcl",
    faults: bool = False,
    start: datetime.date = DEFAULT_START,
    households_per_file: int = 50,
    now: datetime.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> GenerationResult:
    """Generate half-hourly readings (kWh per half hour or kW), users.csv and labels.csv.

    Args:
        out_dir: output directory (created if needed).
        households: number of households (>= 1).
        days: number of days starting at ``start`` 00:00 UTC (>= 1).
        seed: seed of ``numpy.random.default_rng``; same seed → identical files.
        fmt: ``"lcl"`` (``block_{k}.csv``) or ``"meter-csv"`` (``meters_{k}.csv``).
        faults: inject faults and write ``labels.csv`` with the ground truth.
        start: first day (UTC).
        households_per_file: households per reading file.
        now: arrival time for future-timestamp faults (default: current UTC time).
        progress: called with the cumulative number of reading lines after each file.
    """
    _validate(households, days, fmt, households_per_file, seed, start)
    if isinstance(start, datetime.datetime):
        start = start.date()
    t_begin = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now_ts = _now64(now)

    ss_pop, ss_weather, ss_units, ss_files = np.random.SeedSequence(seed).spawn(4)
    grid = make_time_grid(start, days)
    pop = draw_population(households, days, start, np.random.default_rng(ss_pop))
    rng_w = np.random.default_rng(ss_weather)
    weather = Weather(
        temperature_c=daily_temperature(grid.day_of_year, rng_w),
        cloud=daily_cloud_factor(days, rng_w),
        ghi_w_m2=clearsky_ghi(grid),
    )
    units = np.where(
        np.random.default_rng(ss_units).random((households, 2)) < KW_UNIT_SHARE, UNIT_KW, UNIT_KWH
    ).astype(np.int8)
    if fmt == "lcl":
        units[:] = UNIT_KWH

    users_file = out_dir / "users.csv"
    pop.history.to_csv(users_file, index=False, lineterminator="\n")

    ts_iso = iso_strings(grid.times)
    ts_text = ts_iso if fmt == "meter-csv" else lcl_strings(grid.times)
    formatter = LineFormatter(fmt, ts_text)
    fmt_extra = iso_strings if fmt == "meter-csv" else lcl_strings

    chunks = range(0, households, households_per_file)
    file_seeds = ss_files.spawn(len(chunks))
    files: list[Path] = []
    label_frames: list[pd.DataFrame] = []
    readings = 0
    meters = 0
    for k, (lo, fseed) in enumerate(zip(chunks, file_seeds, strict=True)):
        rng = np.random.default_rng(fseed)
        hh = np.arange(lo, min(lo + households_per_file, households))
        fg = file_grid(pop, hh, grid, weather, units, rng)
        path = out_dir / f"{FILE_PREFIX[fmt]}_{k}.csv"
        if faults:
            res = inject_faults(
                fg, fmt=fmt, rng=rng, now=now_ts, ts_text=ts_text, ts_iso=ts_iso, first=k == 0
            )
            lines, extra = res.lines, fmt_extra(res.extra_times)
            res.labels["file"] = path.name
            label_frames.append(res.labels)
        else:
            lines, extra = clean_lines(fg), np.array([], dtype=str)
        write_text(path, HEADERS[fmt], formatter.format(lines, fg.meter_ids, extra))
        files.append(path)
        readings += len(lines)
        meters += len(fg.meter_ids)
        if progress is not None:
            progress(readings)

    labels_file = None
    if faults:
        labels_file = out_dir / "labels.csv"
        frames = [f for f in label_frames if len(f)]
        labels = pd.concat(frames, ignore_index=True) if frames else empty_labels()
        labels.to_csv(labels_file, index=False, lineterminator="\n")
    return GenerationResult(
        files=files,
        users_file=users_file,
        labels_file=labels_file,
        households=households,
        meters=meters,
        readings=readings,
        seconds=time.perf_counter() - t_begin,
        start=start,
        days=days,
        weather=weather,
    )
