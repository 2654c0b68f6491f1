"""The LCL household list as user profiles: `informations_households.csv` → the users layout.

`wattlake ingest informations_households.csv` (detected by its header, or
`--format lcl-households`; also accepted with `--format lcl` next to the half-hourly blocks)
lands each household as one user-profile row in `bronze.user_profiles`, so it flows through
the same path as `users.csv` into `silver.user_profiles` and `dw.dim_users`.

Mapping (`LCLid,stdorToU,Acorn,Acorn_grouped,file`, parsed by `lcl.parse_households`):

- `user_id` = `meter_id` = `LCLid` (the block files' meter ids), no PV meter;
- `user_type` `consumer`, `panel_kwp` 0 (the trial recorded no generation);
- `tariff` = `stdorToU` (`Std` | `ToU`); `acorn_group` = `Acorn_grouped` (empty when
  `ACORN-`, i.e. unknown); the detailed `Acorn` category has no profile column;
- `latitude`/`longitude`: the data set publishes no location, so every household is
  placed at central London (`lcl.LONDON_LAT`, `lcl.LONDON_LON`): enrichment then uses the
  London weather grid point;
- `effective_date` = `LCL_PROFILE_EFFECTIVE_DATE`, the start of the Low Carbon London
  trial's readings (the list is one snapshot; the warehouse joins earlier readings to the
  first version anyway).

The whole file is checked first (`lcl.parse_households`: LCLid present and unique,
`stdorToU` known); a bad file is rejected as a whole with one clear error.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow as pa

from wattlake.lake.catalog import USER_PROFILE_COLUMNS
from wattlake.sources.files import ParsedFile
from wattlake.sources.lcl import LONDON_LAT, LONDON_LON, parse_households

FORMAT = "lcl-households"
LCL_PROFILE_EFFECTIVE_DATE = dt.date(2011, 11, 1)
FIRST_DATA_LINE = 2  # the header is line 1


def households_as_profiles(data: bytes, name: str) -> ParsedFile:
    """Pure: the household list's bytes → a `users`-format `ParsedFile` (module doc)."""
    hh = parse_households(data, name)
    n = hh.num_rows

    def const(value: str) -> pa.Array:
        return pa.array([value] * n, pa.string())

    acorn = hh["acorn_grouped"].fill_null("")
    values: dict[str, pa.Array | pa.ChunkedArray] = {
        "user_id": hh["user_id"],
        "meter_id": hh["user_id"],
        "pv_meter_id": const(""),
        "user_type": const("consumer"),
        "panel_kwp": const("0"),
        "panel_tilt_deg": const(""),
        "panel_azimuth_deg": const(""),
        "latitude": const(f"{LONDON_LAT:.5f}"),
        "longitude": const(f"{LONDON_LON:.5f}"),
        "tariff": hh["tariff"],
        "acorn_group": acorn,
        "effective_date": const(LCL_PROFILE_EFFECTIVE_DATE.isoformat()),
    }
    rows = pa.table(
        {
            **{c: values.get(c, const("")) for c in USER_PROFILE_COLUMNS},
            "_row_number": pa.array(range(FIRST_DATA_LINE, FIRST_DATA_LINE + n), pa.int64()),
        }
    )
    dead = pa.table(
        {
            "line_number": pa.array([], pa.int64()),
            "raw_text": pa.array([], pa.string()),
            "reason": pa.array([], pa.string()),
        }
    )
    return ParsedFile(
        source_file=name,
        fmt="users",
        checksum=hashlib.sha256(data).hexdigest(),
        rows=rows,
        dead=dead,
        lines=n,
    )


__all__ = ["FORMAT", "LCL_PROFILE_EFFECTIVE_DATE", "households_as_profiles"]
