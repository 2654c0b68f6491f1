"""Fast CSV text building with pyarrow: lookup tables + element-wise string joins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Format = Literal["lcl", "meter-csv"]

HEADERS: dict[str, str] = {
    "lcl": "LCLid,tstp,energy(kWh/hh)",
    "meter-csv": "meter_id,timestamp,value,unit",
}
FILE_PREFIX: dict[str, str] = {"lcl": "block", "meter-csv": "meters"}
# unit codes → label and factor from kWh per half hour to the written value
UNIT_KW, UNIT_KWH, UNIT_W, UNIT_WATTS, UNIT_NONE = 0, 1, 2, 3, 4
UNIT_LABELS = ("kW", "kWh", "W", "watts", "")
UNIT_FACTORS = np.array([2.0, 1.0, 2000.0, 2000.0, 2.0])


@dataclass
class Lines:
    """Reading lines of one file, in file order (all arrays of shape (N,)).

    meter: index into the file's meter ids; tidx: index into the timestamp table (grid
    intervals, then extra future timestamps); kwh: energy in kWh per half hour (before unit
    conversion); unit: unit code (see ``UNIT_LABELS``); raw: index into ``raw_text`` for
    verbatim (malformed) lines, -1 otherwise.
    """

    meter: np.ndarray
    tidx: np.ndarray
    kwh: np.ndarray
    unit: np.ndarray
    raw: np.ndarray
    raw_text: list[str]

    def __len__(self) -> int:
        return len(self.meter)


def _tail_table(fmt: Format) -> pa.Array:
    """Strings ``.123,kW\\n`` indexed by ``frac + 1000 * unit`` (``.123\\n`` for lcl)."""
    fracs = [f".{f:03d}" for f in range(1000)]
    if fmt == "lcl":
        return pa.array([f + "\n" for f in fracs], type=pa.large_string())
    return pa.array([f"{f},{u}\n" for u in UNIT_LABELS for f in fracs], type=pa.large_string())


class LineFormatter:
    """Formats :class:`Lines` into newline-terminated CSV rows (pyarrow large_string)."""

    def __init__(self, fmt: Format, timestamps: np.ndarray) -> None:
        """``timestamps``: formatted timestamp strings of the grid intervals, shape (T,)."""
        self.fmt = fmt
        self.timestamps = timestamps
        self._ts = pa.array(np.char.add(timestamps, ","), type=pa.large_string())
        self._tail = _tail_table(fmt)
        self._sign = pa.array(["", "-"], type=pa.large_string())

    def values(self, kwh: np.ndarray, unit: np.ndarray) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Sign, integer part and ``.fff[,unit]\\n`` tail strings of the written values."""
        out = kwh * UNIT_FACTORS[unit] if self.fmt == "meter-csv" else kwh
        milli = np.rint(out * 1000.0).astype(np.int64)
        neg = milli < 0
        np.abs(milli, out=milli)
        ip, frac = np.divmod(milli, 1000)
        if self.fmt == "meter-csv":
            frac += unit.astype(np.int64) * 1000
        sign = self._sign.take(pa.array(neg.astype(np.int8)))
        return sign, pc.cast(pa.array(ip), pa.large_string()), self._tail.take(pa.array(frac))

    def format(self, lines: Lines, meter_ids: np.ndarray, extra_ts: np.ndarray) -> pa.Array:
        """All lines of a file as one large_string array, each ending with ``\\n``."""
        meters = pa.array(np.char.add(meter_ids.astype(str), ","), type=pa.large_string())
        ts = self._ts
        if len(extra_ts):
            extra = pa.array(np.char.add(extra_ts, ","), type=pa.large_string())
            ts = pa.concat_arrays([ts, extra])
        sign, ip, tail = self.values(lines.kwh, lines.unit)
        text = pc.binary_join_element_wise(
            meters.take(pa.array(lines.meter)),
            ts.take(pa.array(lines.tidx)),
            sign,
            ip,
            tail,
            pa.scalar("", pa.large_string()),
        )
        if lines.raw_text:
            raw = pa.array([r + "\n" for r in lines.raw_text], type=pa.large_string())
            idx = np.arange(len(lines), dtype=np.int64)
            is_raw = lines.raw >= 0
            idx[is_raw] = len(lines) + lines.raw[is_raw]
            text = pa.concat_arrays([text, raw]).take(pa.array(idx))
        return text


def write_text(path: Path, header: str, text: pa.Array) -> None:
    """Write ``header`` and the concatenated bytes of ``text`` (a large_string array)."""
    with open(path, "wb") as f:
        f.write((header + "\n").encode())
        if len(text) == 0:
            return
        offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)
        begin, end = int(offsets[text.offset]), int(offsets[text.offset + len(text)])
        f.write(memoryview(text.buffers()[2])[begin:end])
