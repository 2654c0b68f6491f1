"""Synthetic data for the smart-meter-etl case: a SQLite database of meterpoints, products and
agreements plus one readings JSON file per day (layouts: `wattlake.sources.smart_meter_etl`).

Deterministic for a seed. With `bad_records`, a few records that the parsers must catch are
written in place of good ones: readings with a missing field, a value of the wrong type, a
non-integer meterpoint id (and, for JSON lines, a truncated line); agreement rows ending
before they start, naming an unknown product, and a duplicate product id.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Layout = Literal["array", "lines"]
DB_NAME = "agreements.db"
READINGS_DIR = "readings"
INTERVALS_PER_DAY = 48
PRODUCTS = (
    (1, "Flexible Electricity", 1),
    (2, "Fixed 12 Month", 0),
    (3, "Agile Half-Hourly", 1),
    (4, "Green Fixed 24 Month", 0),
)
REGIONS = ("London", "South East", "North West", "Yorkshire", "East Midlands", "Scotland")
FIRST_METERPOINT = 1001


@dataclass(frozen=True)
class SmartMeterEtlSample:
    """What `generate_smart_meter_etl` wrote.

    database: the SQLite file; readings_files: one JSON file per day; readings: records in
    the JSON files (bad ones included); bad_readings / bad_agreement_rows: records written to
    be rejected; agreements: agreement rows (bad included).
    """

    database: Path
    readings_files: list[Path]
    meterpoints: int
    days: int
    readings: int
    bad_readings: int
    agreements: int
    bad_agreement_rows: int

    @property
    def paths(self) -> list[Path]:
        return [self.database, *self.readings_files]


def _agreements(
    n: int, start: dt.date, days: int, rng: np.random.Generator
) -> list[tuple[int, int, int, str, str | None]]:
    """`(agreement_id, meterpoint_id, product_id, valid_from, valid_to)`, no overlaps.

    Meterpoint 1 switches product on `start`; about a third switch on a later day in the
    range; about one in ten has no agreement from some day in the range on.
    """
    rows: list[tuple[int, int, int, str, str | None]] = []
    aid = 1
    for i in range(n):
        mp = FIRST_METERPOINT + i
        first = start - dt.timedelta(days=int(rng.integers(30, 400)))
        prod = int(rng.integers(1, len(PRODUCTS) + 1))
        u = rng.random()
        if i == 0 or u < 0.35:
            switch = start if i == 0 else start + dt.timedelta(days=int(rng.integers(1, days + 1)))
            other = prod % len(PRODUCTS) + 1
            rows.append((aid, mp, prod, first.isoformat(), switch.isoformat()))
            rows.append((aid + 1, mp, other, switch.isoformat(), None))
            aid += 2
        elif u < 0.45:
            end = start + dt.timedelta(days=int(rng.integers(1, days + 1)))
            rows.append((aid, mp, prod, first.isoformat(), end.isoformat()))
            aid += 1
        else:
            rows.append((aid, mp, prod, first.isoformat(), None))
            aid += 1
    return rows


def write_database(
    path: Path, n: int, start: dt.date, days: int, rng: np.random.Generator, bad: bool
) -> tuple[int, int]:
    """Write the SQLite database; returns (agreement rows, bad rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.executescript(
            """
            CREATE TABLE meterpoints (meterpoint_id INTEGER, region TEXT);
            CREATE TABLE products (product_id INTEGER, display_name TEXT, is_variable INTEGER);
            CREATE TABLE agreements (
                agreement_id INTEGER, meterpoint_id INTEGER, product_id INTEGER,
                agreement_valid_from TEXT, agreement_valid_to TEXT
            );
            """
        )
        regions = rng.choice(len(REGIONS), size=n)
        con.executemany(
            "INSERT INTO meterpoints VALUES (?, ?)",
            [(FIRST_METERPOINT + i, REGIONS[int(r)]) for i, r in enumerate(regions)],
        )
        products = list(PRODUCTS)
        agreements = _agreements(n, start, days, rng)
        n_bad = 0
        if bad:
            products.append((2, "Fixed 12 Month (duplicate row)", 0))
            nxt = max(a[0] for a in agreements) + 1
            last = FIRST_METERPOINT + n - 1
            agreements.append((nxt, last, 1, "2020-06-01", "2020-05-01"))  # ends before start
            agreements.append((nxt + 1, last, 99, "2019-01-01", "2019-06-01"))  # no product 99
            n_bad = 3
        con.executemany("INSERT INTO products VALUES (?, ?, ?)", products)
        con.executemany("INSERT INTO agreements VALUES (?, ?, ?, ?, ?)", agreements)
        con.commit()
    finally:
        con.close()
    return len(agreements), n_bad


def consumption_kwh(n: int, days: int, rng: np.random.Generator) -> np.ndarray:
    """Household consumption in kWh per half hour, shape (n, days × 48), never negative.

    A base load, a morning and an evening peak (hours drawn per household) and mean-one
    lognormal noise.
    """
    hours = (np.arange(days * INTERVALS_PER_DAY) % INTERVALS_PER_DAY) / 2.0 + 0.25
    base = rng.uniform(0.15, 0.45, size=(n, 1))
    morning_h = rng.uniform(6.5, 8.5, size=(n, 1))
    evening_h = rng.uniform(17.5, 20.0, size=(n, 1))
    morning = rng.uniform(0.4, 1.2, size=(n, 1)) * np.exp(-0.5 * ((hours - morning_h) / 1.0) ** 2)
    evening = rng.uniform(0.8, 2.5, size=(n, 1)) * np.exp(-0.5 * ((hours - evening_h) / 1.6) ** 2)
    kw = base + morning + evening
    sigma = 0.25
    kw = kw * np.exp(rng.normal(-0.5 * sigma**2, sigma, size=kw.shape))
    return np.round(kw * 0.5, 3)


def _bad_reading(k: int, rec: dict[str, object]) -> str:
    """The k-th bad record, derived from a good one (JSON text)."""
    kind = k % 3
    if kind == 0:
        return json.dumps({key: v for key, v in rec.items() if key != "consumption_delta"})
    if kind == 1:
        return json.dumps({**rec, "consumption_delta": str(rec["consumption_delta"])})
    return json.dumps({**rec, "meterpoint_id": [rec["meterpoint_id"]]})


def write_readings(
    directory: Path,
    n: int,
    days: int,
    start: dt.date,
    rng: np.random.Generator,
    bad: bool,
    layout: Layout,
) -> tuple[list[Path], int, int]:
    """One file per day (`readings_YYYY-MM-DD.json`); returns (files, records, bad records)."""
    directory.mkdir(parents=True, exist_ok=True)
    kwh = consumption_kwh(n, days, rng)
    files: list[Path] = []
    total = n_bad = 0
    for d in range(days):
        day = start + dt.timedelta(days=d)
        bad_slots: set[int] = set()
        if bad and d == min(1, days - 1):
            bad_slots = {int(x) for x in rng.choice(n * INTERVALS_PER_DAY, size=3, replace=False)}
        texts: list[str] = []
        for j in range(INTERVALS_PER_DAY):
            ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=30 * j)
            for i in range(n):
                rec = {
                    "meterpoint_id": FIRST_METERPOINT + i,
                    "interval_start": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "consumption_delta": float(kwh[i, d * INTERVALS_PER_DAY + j]),
                }
                slot = j * n + i
                if slot in bad_slots:
                    texts.append(_bad_reading(n_bad, rec))
                    n_bad += 1
                else:
                    texts.append(json.dumps(rec))
        last = n * INTERVALS_PER_DAY - 1
        if bad and layout == "lines" and d == min(1, days - 1) and last not in bad_slots:
            texts[-1] = texts[-1][: len(texts[-1]) // 2]  # a truncated last line
            n_bad += 1
        body = "[\n" + ",\n".join(texts) + "\n]\n" if layout == "array" else "\n".join(texts) + "\n"
        path = directory / f"readings_{day.isoformat()}.json"
        path.write_text(body, encoding="utf-8")
        files.append(path)
        total += len(texts)
    return files, total, n_bad


def generate_smart_meter_etl(
    out_dir: Path,
    meterpoints: int = 20,
    days: int = 7,
    start: dt.date = dt.date(2021, 1, 1),
    seed: int = 42,
    *,
    bad_records: bool = True,
    layout: Layout = "array",
) -> SmartMeterEtlSample:
    """Write `<out_dir>/agreements.db` and `<out_dir>/readings/readings_<day>.json`.

    Readings are half-hourly kWh per meterpoint from `start` (UTC) for `days` days; see the
    module docstring for the bad records. `ValueError` for non-positive counts or an unknown
    layout.
    """
    if meterpoints < 1 or days < 1:
        raise ValueError("meterpoints and days must be at least 1")
    if layout not in ("array", "lines"):
        raise ValueError(f"unknown layout '{layout}' (known: array, lines)")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    db = out_dir / DB_NAME
    n_agreements, bad_rows = write_database(db, meterpoints, start, days, rng, bad_records)
    files, readings, bad = write_readings(
        out_dir / READINGS_DIR, meterpoints, days, start, rng, bad_records, layout
    )
    return SmartMeterEtlSample(
        database=db,
        readings_files=files,
        meterpoints=meterpoints,
        days=days,
        readings=readings,
        bad_readings=bad,
        agreements=n_agreements,
        bad_agreement_rows=bad_rows,
    )
