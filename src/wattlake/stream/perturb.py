"""The simulator's labelled perturbations of the scheduled readings (pure): sensor failures
(stuck, zero, spike), dropouts, duplicates, out-of-order, late and malformed messages, placed at
random (seeded) so that no reading carries two of them; and the labels of what was placed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.stream.events import (
    Invalid,
    decode,
    finish,
    utc_text,
)
from wattlake.stream.replay import (
    FUTURE_DETAIL,
    MALFORMED_KINDS,
    event_ids,
    head_texts,
)
from wattlake.stream.topics import ENERGY_METERS


@dataclass(frozen=True)
class Perturbations:
    """How many of each perturbation to inject (counts; runs for stuck, zero and dropouts)
    and their shape: run lengths in readings, the spike factor, lateness in seconds."""

    stuck: int = 0
    zero: int = 0
    spikes: int = 0
    dropouts: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    late: int = 0
    malformed: int = 0
    stuck_readings: int = 48  # 24 h at 30 min: the VEE stuck-meter rule's minimum
    zero_readings: int = 96  # 48 h at 30 min: the VEE zero-run rule's minimum
    dropout_readings: int = 4
    spike_factor: float = 10.0
    late_by_s: int = 3 * 3600  # beyond the live ±1 h timestamp sanity window
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "spike_factor":
                if not (isinstance(v, int | float) and v > 1):
                    raise ValueError(f"spike_factor must be > 1, got {v!r}")
            elif isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{f.name} must be a non-negative integer, got {v!r}")
        for name in ("stuck_readings", "zero_readings", "dropout_readings", "late_by_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    @property
    def any(self) -> bool:
        return any(
            getattr(self, n)
            for n in (
                "stuck",
                "zero",
                "spikes",
                "dropouts",
                "duplicates",
                "out_of_order",
                "late",
                "malformed",
            )
        )


# ---- 3. perturbations -------------------------------------------------------------------


def _format_number(v: float) -> str:
    """A float as JSON number text (shortest round-trip repr, at most 6 decimals)."""
    x = round(float(v), 6)
    return repr(x) if x != int(x) or abs(x) >= 1e16 else str(int(x))


class _Placer:
    """Random, non-overlapping placement of perturbations on readings sorted by meter/ts."""

    def __init__(self, meter_code: np.ndarray, ok: np.ndarray, rng: np.random.Generator):
        self.meter, self.ok, self.rng = meter_code, ok, rng
        self.taken = np.zeros(len(ok), dtype=bool)
        self.candidates = np.flatnonzero(ok)

    def _same_meter(self, i: int, j: int) -> bool:
        return (
            0 <= i < len(self.meter)
            and 0 <= j < len(self.meter)
            and (self.meter[i] == self.meter[j])
        )

    def run(self, length: int, need_prev: bool = False, extra_ok: np.ndarray | None = None):
        """First row of a free run of `length` readings of one meter (+ a free margin
        reading on each side; `need_prev`: the reading before must be usable), or None."""
        if len(self.candidates) == 0:
            return None
        for _ in range(400):
            j = int(self.rng.choice(self.candidates))
            end = j + length - 1
            if not self._same_meter(j, end):
                continue
            block = slice(j, end + 1)
            if not (self.ok[block].all() and not self.taken[block].any()):
                continue
            if extra_ok is not None and not extra_ok[block].all():
                continue
            if need_prev and not (self._same_meter(j - 1, j) and self.ok[j - 1]):
                continue
            lo = j - 1 if self._same_meter(j - 1, j) else j
            hi = end + 1 if self._same_meter(end + 1, end) else end
            if self.taken[lo : hi + 1].any():
                continue
            self.taken[lo : hi + 1] = True
            return j
        return None


def perturb(t: pa.Table, p: Perturbations) -> tuple[pa.Table, list[dict[str, object]]]:
    """Apply `p` to scheduled readings (`schedule_readings`); return the readings to send
    (with `event_id`, `corrupt` = malformed kind or NULL) and one label per affected reading.

    Label fields (`LABEL_COLUMNS`): perturbation, topic, meter_id, ts (ISO UTC), event_id
    (of the event sent; for a dropout the one it would have had), sim_clock (when it was
    sent or due), detail.
    """
    n = t.num_rows
    rng = np.random.default_rng(p.seed)
    meter_code = (
        pc.dictionary_encode(t["meter_id"]).combine_chunks().indices.to_numpy(zero_copy_only=False)
    )
    value = t["value_num"].to_numpy(zero_copy_only=False).astype(np.float64)
    ok = (
        t["valid"].to_numpy(zero_copy_only=False)
        & ~t["future"].to_numpy(zero_copy_only=False)
        & ~np.isnan(value)
    )
    place = _Placer(meter_code, ok, rng)
    changes_values = p.stuck or p.zero or p.spikes
    value_json = t["value_json"].to_pylist() if changes_values else []
    due = t["due_s"].to_numpy(zero_copy_only=False).copy()
    interval_s = t["interval_minutes"].to_numpy(zero_copy_only=False).astype(np.int64) * 60
    kind: list[str | None] = [None] * n  # perturbation of each row
    detail: list[str] = [""] * n
    drop = np.zeros(n, dtype=bool)
    corrupt: list[str | None] = [None] * n
    dup_rows: list[int] = []

    for _ in range(p.stuck):
        j = place.run(p.stuck_readings, need_prev=True)
        if j is None:
            break
        for i in range(j, j + p.stuck_readings):
            value_json[i] = value_json[j - 1]
            kind[i], detail[i] = (
                "stuck",
                f"value repeated from the reading before ({value_json[j - 1]})",
            )
    for _ in range(p.zero):
        j = place.run(p.zero_readings)
        if j is None:
            break
        for i in range(j, j + p.zero_readings):
            kind[i], detail[i] = "zero", f"value {value_json[i]} sent as 0"
            value_json[i] = "0"
    for _ in range(p.dropouts):
        j = place.run(p.dropout_readings)
        if j is None:
            break
        for i in range(j, j + p.dropout_readings):
            kind[i], detail[i], drop[i] = "dropout", "not sent", True
    positive = value > 0
    for _ in range(p.spikes):
        j = place.run(1, extra_ok=positive)
        if j is None:
            break
        spiked = _format_number(value[j] * p.spike_factor)
        kind[j], detail[j] = (
            "spike",
            f"value {value_json[j]} sent as {spiked} (x{p.spike_factor:g})",
        )
        value_json[j] = spiked
    for _ in range(p.duplicates):
        j = place.run(1)
        if j is None:
            break
        kind[j], detail[j] = "duplicate", "sent twice (same event id), one interval apart"
        dup_rows.append(j)
    for _ in range(p.out_of_order):
        j = place.run(2)
        if j is None:
            break
        due[j] = due[j + 1] + 1
        kind[j], detail[j] = "out_of_order", "sent 1 s after the meter's next reading"
    for _ in range(p.late):
        j = place.run(1)
        if j is None:
            break
        due[j] = due[j] + p.late_by_s
        kind[j], detail[j] = "late", f"sent {p.late_by_s} s after it was due"
    for k in range(p.malformed):
        j = place.run(1)
        if j is None:
            break
        corrupt[j] = MALFORMED_KINDS[k % len(MALFORMED_KINDS)]
        kind[j], detail[j] = "malformed", corrupt[j]

    out = t
    if changes_values:
        out = t.set_column(
            t.schema.get_field_index("value_json"),
            "value_json",
            pa.array(value_json, pa.large_string()),
        )
    ids = event_ids(out)
    out = out.set_column(out.schema.get_field_index("due_s"), "due_s", pa.array(due, pa.int64()))
    out = out.append_column("event_id", ids).append_column(
        "corrupt", pa.array(corrupt, pa.string())
    )
    labels = _labels(out, kind, detail)
    for j in dup_rows:  # the re-send's label
        copy = out.slice(j, 1)
        resend = copy.set_column(
            copy.schema.get_field_index("due_s"),
            "due_s",
            pa.array([int(due[j] + interval_s[j])], pa.int64()),
        )
        out = pa.concat_tables([out, resend])
        labels += _labels(resend, ["duplicate"], ["the re-send"])
    keep = np.concatenate([~drop, np.ones(out.num_rows - n, dtype=bool)])
    return out.filter(pa.array(keep)), labels


def _labels(t: pa.Table, kind: list[str | None], detail: list[str]) -> list[dict[str, object]]:
    rows = [i for i, k in enumerate(kind) if k is not None]
    if not rows:
        return []
    sub = t.take(pa.array(rows, pa.int64()))
    ts = sub["ts"].to_pylist()
    return [
        {
            "perturbation": kind[i],
            "topic": ENERGY_METERS,
            "meter_id": m,
            "ts": utc_text(s) if s is not None else "",
            "event_id": e,
            "sim_clock": utc_text(dt.datetime.fromtimestamp(d, dt.UTC)),
            "detail": detail[i],
        }
        for i, m, s, e, d in zip(
            rows,
            sub["meter_id"].to_pylist(),
            ts,
            sub["event_id"].to_pylist(),
            sub["due_s"].to_pylist(),
            strict=True,
        )
    ]


def source_labels(t: pa.Table) -> list[dict[str, object]]:
    """Labels of readings that are not a valid event as the source wrote them
    (`source_invalid`, with the reason `decode` gives) or that are stamped after the
    replay's now (`future`)."""
    out: list[dict[str, object]] = []
    bad = pc.or_(pc.invert(t["valid"]), t["future"])
    sub = t.filter(bad)
    if sub.num_rows == 0:
        return out
    heads = [h.encode() for h in head_texts(sub).to_pylist()]
    for r, head in zip(sub.to_pylist(), heads, strict=True):
        if not r["valid"]:
            res = decode(finish(head, b"1970-01-01T00:00:00Z"))
            label, det = "source_invalid", res.reason if isinstance(res, Invalid) else "valid"
        else:
            label, det = "future", FUTURE_DETAIL
        out.append(
            {
                "perturbation": label,
                "topic": ENERGY_METERS,
                "meter_id": r["meter_id"],
                "ts": utc_text(r["ts"]) if r["ts"] is not None else r["timestamp"],
                "event_id": r["event_id"],
                "sim_clock": utc_text(dt.datetime.fromtimestamp(r["due_s"], dt.UTC)),
                "detail": f"{r['source_file']}:{r['_row_number']}: {det}",
            }
        )
    return out
