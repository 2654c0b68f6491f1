"""Fault injection on one reading file's (meter × interval) grid, with ground-truth labels.

All faults are planned on a boolean ``taken`` mask so that no line carries more than one
fault class; runs (gap, stuck, zero) keep a one-interval margin to other faults, and each
spike's previous interval is reserved (clean) so the ratio test is meaningful.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wattlake.generate.writer import UNIT_KW, UNIT_NONE, UNIT_W, UNIT_WATTS, Format, Lines

LABEL_COLUMNS = ("fault", "meter_id", "timestamp", "file", "line", "detail")
MALFORMED_KINDS = (
    "wrong_field_count",
    "junk",
    "empty_meter_id",
    "non_numeric_value",
    "impossible_timestamp",
)
# (expected faults per clean line, minimum count in the first file)
RATES: dict[str, tuple[float, int]] = {
    "gap_short": (1 / 3000, 2),
    "gap_medium": (1 / 12000, 1),
    "gap_long": (1 / 40000, 1),
    "stuck": (1 / 25000, 1),
    "zero": (1 / 50000, 1),
    "spike": (1 / 2500, 3),
    "unit_w": (1 / 2500, 3),
    "missing_unit": (1 / 2500, 3),
    "negative": (1 / 2500, 3),
    "over_limit": (1 / 2500, 3),
    "duplicate": (1 / 2500, 3),
    "future": (1 / 4000, 3),
    "malformed": (1 / 2500, 5),
    "clock_offset": (1 / 50000, 1),
}
RUN_LENGTHS: dict[str, tuple[int, int]] = {
    "gap_short": (1, 7),
    "gap_medium": (8, 47),
    "gap_long": (48, 144),
    "stuck": (48, 48),
    "zero": (96, 120),
}
MAX_PLACEMENT_TRIES = 40
# Clock offset: one meter-week (UTC, Monday 00:00) whose readings are stamped 6 h late.
CLOCK_OFFSET_INTERVALS = 12
WEEK_INTERVALS = 7 * 48
JUNK_CHARS = np.array(sorted(set(string.printable[:94]) - {",", '"', "'"}))


@dataclass
class FileGrid:
    """One file's data: ``values`` kWh per half hour (M, T); reporting starts at
    ``valid_start`` (M,); per-meter unit codes ``unit`` (M,); meter ids (M,)."""

    values: np.ndarray
    valid_start: np.ndarray
    unit: np.ndarray
    meter_ids: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """(M, T) mask of intervals in which the meter reports."""
        return np.arange(self.values.shape[1])[None, :] >= self.valid_start[:, None]


@dataclass
class FaultResult:
    """Faulty lines of one file, extra (future) timestamps and label rows without file."""

    lines: Lines
    extra_times: np.ndarray
    labels: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def clean_lines(grid: FileGrid) -> Lines:
    """Lines of a file without faults: every valid interval, meter-major, time order."""
    n_t = grid.values.shape[1]
    flat = np.flatnonzero(grid.valid)
    meter = flat // n_t
    return Lines(
        meter=meter,
        tidx=flat % n_t,
        kwh=grid.values.ravel()[flat],
        unit=grid.unit[meter],
        raw=np.full(len(flat), -1, dtype=np.int64),
        raw_text=[],
    )


def fault_counts(n_lines: int, rng: np.random.Generator, first: bool) -> dict[str, int]:
    """Number of faults per class for a file with ``n_lines`` clean lines."""
    out = {}
    for name, (rate, minimum) in RATES.items():
        expected = rate * n_lines
        n = int(expected) + int(rng.random() < expected - int(expected))
        out[name] = max(n, minimum) if first else n
    return out


def _place_run(
    taken: np.ndarray, valid_start: np.ndarray, length: int, rng: np.random.Generator
) -> tuple[int, int] | None:
    """Random free (meter, start) for a run of ``length`` intervals with 1-interval margins."""
    n_m, n_t = taken.shape
    for _ in range(MAX_PLACEMENT_TRIES):
        m = int(rng.integers(n_m))
        lo = int(valid_start[m])
        if n_t - lo < length:
            continue
        t0 = int(rng.integers(lo, n_t - length + 1))
        if not taken[m, max(t0 - 1, lo) : t0 + length + 1].any():
            return m, t0
    return None


def week_starts(ts_iso: np.ndarray) -> np.ndarray:
    """Grid indices where a whole UTC week (Monday 00:00, 336 half hours) starts, from the
    grid's ISO timestamps ``YYYY-MM-DDTHH:MM:SSZ``."""
    t = np.array([x[:19] for x in ts_iso], dtype="datetime64[s]")
    days = t.astype("datetime64[D]").astype(np.int64)
    monday_midnight = ((days + 3) % 7 == 0) & (t == t.astype("datetime64[D]"))
    starts = np.flatnonzero(monday_midnight)
    return starts[starts + WEEK_INTERVALS <= len(ts_iso)]


def _place_week(
    taken: np.ndarray, starts: np.ndarray, rng: np.random.Generator
) -> tuple[int, int] | None:
    """Random (meter, week start) whose week, with 1-interval margins, is free."""
    free = [
        (m, s)
        for s in starts
        for m in np.flatnonzero(~taken[:, max(s - 1, 0) : s + WEEK_INTERVALS + 1].any(axis=1))
    ]
    if not free:
        return None
    m, s = free[int(rng.integers(len(free)))]
    return int(m), int(s)


def _pick(cand_mask: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` distinct random flat indices where ``cand_mask`` is True."""
    cand = np.flatnonzero(cand_mask)
    return np.sort(rng.choice(cand, size=min(n, cand.size), replace=False))


def _malformed_text(kind: str, meter: str, ts: str, fmt: Format, rng: np.random.Generator) -> str:
    """A garbage line of the given kind (never parses as a valid reading)."""
    tail = ",kW" if fmt == "meter-csv" else ""
    value = f"{rng.uniform(0.05, 1.5):.3f}"
    if kind == "wrong_field_count":
        if rng.random() < 0.5:
            return f"{meter},{ts}" if fmt == "lcl" else f"{meter},{ts},{value}"
        return f"{meter},{ts},{value}{tail},extra"
    if kind == "junk":
        return "".join(rng.choice(JUNK_CHARS, size=int(rng.integers(8, 60))))
    if kind == "empty_meter_id":
        return f",{ts},{value}{tail}"
    if kind == "non_numeric_value":
        return f"{meter},{ts},{rng.choice(['abc', 'n/a', '1.2.3', '--', '#VALUE!'])}{tail}"
    bad_ts = "2024-13-45 99:00:00" if fmt == "lcl" else "2024-13-45T99:00:00Z"
    return f"{meter},{bad_ts},{value}{tail}"


def inject_faults(
    grid: FileGrid,
    *,
    fmt: Format,
    rng: np.random.Generator,
    now: np.datetime64,
    ts_text: np.ndarray,
    ts_iso: np.ndarray,
    first: bool,
) -> FaultResult:
    """Inject all fault classes into one file and return its lines (file order) + labels.

    Args:
        grid: the file's clean data.
        fmt: output format (unit faults only for ``meter-csv``).
        rng: random generator of this file.
        now: arrival time (UTC, ``datetime64[s]``); future lines are 1–30 days after it.
        ts_text: grid timestamps as written in this format, shape (T,).
        ts_iso: grid timestamps as ISO strings for the labels, shape (T,).
        first: apply the per-class minimum counts (first file of a run).
    """
    values = grid.values.copy()
    n_m, n_t = values.shape
    valid = grid.valid
    unit = np.broadcast_to(grid.unit[:, None], values.shape).copy()
    taken = ~valid
    gap = np.zeros_like(valid)
    counts = fault_counts(int(valid.sum()), rng, first)
    if fmt != "meter-csv":
        counts["unit_w"] = counts["missing_unit"] = 0
    cell_labels: list[tuple[str, np.ndarray, list[str] | str]] = []

    # --- clock offset: the whole week is the fault (its correlation with the neighbours)
    starts = week_starts(ts_iso)
    for _ in range(counts["clock_offset"]):
        placed = _place_week(taken, starts, rng)
        if placed is None:
            continue
        m, t0 = placed
        sl = slice(t0, t0 + WEEK_INTERVALS)
        values[m, sl] = np.roll(values[m, sl], CLOCK_OFFSET_INTERVALS)
        taken[m, max(t0 - 1, 0) : t0 + WEEK_INTERVALS + 1] = True
        cells = m * n_t + np.arange(t0, t0 + WEEK_INTERVALS)
        cell_labels.append(("clock_offset", cells, f"late_hours={CLOCK_OFFSET_INTERVALS / 2:g}"))

    # --- runs
    for name, (lo, hi) in RUN_LENGTHS.items():
        for _ in range(counts[name]):
            length = int(rng.integers(lo, hi + 1))
            placed = _place_run(taken, grid.valid_start, length, rng)
            if placed is None:
                continue
            m, t0 = placed
            sl = slice(t0, t0 + length)
            taken[m, max(t0 - 1, 0) : t0 + length + 1] = True
            if name.startswith("gap"):
                gap[m, sl] = True
            elif name == "stuck":
                values[m, sl] = max(round(float(values[m, t0]), 3), 0.05)
            else:
                values[m, sl] = 0.0
            cells = m * n_t + np.arange(t0, t0 + length)
            fault = "gap" if name.startswith("gap") else name
            cell_labels.append((fault, cells, f"run_intervals={length}"))

    flat_v = values.ravel()
    flat_u = unit.ravel()
    # --- spikes: previous interval clean and in (0.05, 1.5) kWh
    prev_ok = np.zeros_like(valid)
    prev_ok[:, 1:] = ~taken[:, :-1] & (values[:, :-1] > 0.05) & (values[:, :-1] < 1.5)
    spikes = _pick(~taken & prev_ok, counts["spike"], rng)
    spikes = spikes[~np.isin(spikes - 1, spikes)]
    ratio = rng.uniform(7.0, 15.0, spikes.size)
    flat_v[spikes] = np.minimum(np.round(flat_v[spikes - 1], 3) * ratio, 9.9)
    taken.ravel()[spikes] = taken.ravel()[spikes - 1] = True
    cell_labels.append(
        ("spike", spikes, [f"ratio={r:.1f}" for r in flat_v[spikes] / flat_v[spikes - 1]])
    )

    # --- unit faults on kW meters
    if counts["unit_w"]:
        cells = _pick(~taken & (unit == UNIT_KW), counts["unit_w"], rng)
        flat_u[cells] = np.where(rng.random(cells.size) < 0.7, UNIT_W, UNIT_WATTS)
        taken.ravel()[cells] = True
        labels = ["unit=W" if u == UNIT_W else "unit=watts" for u in flat_u[cells]]
        cell_labels.append(("unit_w", cells, labels))
    if counts["missing_unit"]:
        cells = _pick(~taken & (unit == UNIT_KW), counts["missing_unit"], rng)
        flat_u[cells] = UNIT_NONE
        taken.ravel()[cells] = True
        cell_labels.append(("missing_unit", cells, "unit=empty"))

    # --- point value faults
    cells = _pick(~taken, counts["negative"], rng)
    flat_v[cells] = -np.maximum(np.round(flat_v[cells], 3), 0.011)
    taken.ravel()[cells] = True
    cell_labels.append(("negative", cells, "value made negative"))

    cells = _pick(~taken, counts["over_limit"], rng)
    flat_v[cells] = rng.uniform(12.5, 30.0, cells.size)
    taken.ravel()[cells] = True
    cell_labels.append(("over_limit", cells, [f"avg_kw={2 * v:.1f}" for v in flat_v[cells]]))

    # --- inserted lines: duplicates and malformed after a clean line
    dup_src = _pick(~taken, counts["duplicate"], rng)
    taken.ravel()[dup_src] = True
    mal_anchor = _pick(~taken, counts["malformed"], rng)
    taken.ravel()[mal_anchor] = True

    # --- future lines, after the meter's last interval
    n_future = counts["future"]
    fut_meter = rng.integers(0, n_m, n_future)
    fut_steps = rng.integers(48, 30 * 48 + 1, n_future)
    now_slot = now.astype("datetime64[m]").astype(np.int64) // 30 * 30
    fut_times = (np.datetime64(0, "m") + now_slot + fut_steps * 30).astype("datetime64[s]")

    # --- assemble lines: sort key = cell * 4 + slot (0 base, 1 dup, 2 malformed, 3 future)
    base = np.flatnonzero(valid & ~gap)
    n_mal = mal_anchor.size
    kinds = np.roll(np.array(MALFORMED_KINDS), int(rng.integers(len(MALFORMED_KINDS))))
    mal_kinds = kinds[np.arange(n_mal) % len(kinds)]
    raw_text = [
        _malformed_text(str(k), str(grid.meter_ids[a // n_t]), str(ts_text[a % n_t]), fmt, rng)
        for k, a in zip(mal_kinds, mal_anchor, strict=True)
    ]
    fut_cell = fut_meter * n_t + (n_t - 1)
    cell = np.concatenate([base, dup_src, mal_anchor, fut_cell])
    slot = np.concatenate(
        [np.zeros(base.size), np.ones(dup_src.size), np.full(n_mal, 2), np.full(n_future, 3)]
    ).astype(np.int64)
    sub = np.concatenate([np.zeros(cell.size - n_future, dtype=np.int64), fut_steps])
    order = np.lexsort((sub, cell * 4 + slot))
    line_no = np.empty(cell.size, dtype=np.int64)
    line_no[order] = np.arange(cell.size) + 2  # header is line 1

    tidx = np.concatenate([cell[: cell.size - n_future] % n_t, n_t + np.arange(n_future)])
    kwh = np.concatenate([flat_v[cell[: cell.size - n_future]], rng.uniform(0.05, 1.0, n_future)])
    lines = Lines(
        meter=(cell // n_t)[order],
        tidx=tidx[order],
        kwh=kwh[order],
        unit=np.concatenate([flat_u[cell[: cell.size - n_future]], grid.unit[fut_meter]])[order],
        raw=np.concatenate(
            [np.full(base.size + dup_src.size, -1), np.arange(n_mal), np.full(n_future, -1)]
        )[order],
        raw_text=raw_text,
    )

    # --- labels (one frame per file; cell faults first)
    frames = []
    cell_labels = [c for c in cell_labels if c[1].size]
    if cell_labels:
        cells = np.concatenate([c[1] for c in cell_labels])
        fault_names = np.concatenate([np.full(c[1].size, c[0], dtype=object) for c in cell_labels])
        details = np.concatenate(
            [np.broadcast_to(np.asarray(c[2], dtype=object), c[1].shape) for c in cell_labels]
        )
        pos = np.minimum(np.searchsorted(base, cells), max(base.size - 1, 0))
        line = pd.array(line_no[pos] if base.size else np.zeros(cells.size), dtype="Int64")
        line[fault_names == "gap"] = pd.NA
        frames.append(
            _label_frame(
                fault_names, grid.meter_ids[cells // n_t], ts_iso[cells % n_t], line, details
            )
        )
    n_b = base.size
    if dup_src.size:
        src_lines = line_no[np.searchsorted(base, dup_src)]
        frames.append(
            _label_frame(
                "duplicate",
                grid.meter_ids[dup_src // n_t],
                ts_iso[dup_src % n_t],
                line_no[n_b : n_b + dup_src.size],
                [f"copy_of_line={s}" for s in src_lines],
            )
        )
    if n_mal:
        frames.append(
            _label_frame(
                "malformed",
                np.where(mal_kinds == "empty_meter_id", "", grid.meter_ids[mal_anchor // n_t]),
                np.full(n_mal, ""),
                line_no[n_b + dup_src.size : n_b + dup_src.size + n_mal],
                list(mal_kinds),
            )
        )
    if n_future:
        from wattlake.generate.timegrid import iso_strings

        frames.append(
            _label_frame(
                "future",
                grid.meter_ids[fut_meter],
                iso_strings(fut_times),
                line_no[cell.size - n_future :],
                [f"hours_after_now={s / 2:.1f}" for s in fut_steps],
            )
        )
    labels = pd.concat(frames, ignore_index=True) if frames else empty_labels()
    found = labels["fault"].value_counts().to_dict()
    return FaultResult(lines, fut_times, labels, {str(k): int(v) for k, v in found.items()})


def empty_labels() -> pd.DataFrame:
    """An empty label frame with the label columns."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in LABEL_COLUMNS})


def _label_frame(
    fault: str | np.ndarray,
    meter_ids: np.ndarray,
    timestamps: np.ndarray,
    lines: np.ndarray | pd.api.extensions.ExtensionArray | None,
    detail: list[str] | str | np.ndarray,
) -> pd.DataFrame:
    """Label rows (``file`` is filled in by the caller)."""
    n = len(meter_ids)
    return pd.DataFrame(
        {
            "fault": np.broadcast_to(np.asarray(fault, dtype=object), (n,)),
            "meter_id": np.asarray(meter_ids, dtype=object),
            "timestamp": np.asarray(timestamps, dtype=object),
            "file": "",
            "line": pd.array(lines if lines is not None else [None] * n, dtype="Int64"),
            "detail": np.broadcast_to(np.asarray(detail, dtype=object), (n,)),
        },
        columns=list(LABEL_COLUMNS),
    )
