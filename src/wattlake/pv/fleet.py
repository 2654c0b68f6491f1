"""PV of a population of prosumers: modelled production per user and hour from gridded
weather (`modelled_production_for_users`), and PVGIS plane-of-array potential turned back
into weather (`pv_potential_as_weather`). Built on the single-system model of `pv.model`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pvlib import irradiance
from pvlib.location import Location

from wattlake.geo import nearest_point
from wattlake.pv.model import (
    DEFAULT_AZIMUTH_DEG,
    DEFAULT_LOSSES_PCT,
    DEFAULT_TILT_DEG,
    Label,
    _times,
    model_pv_kw_arrays,
)


def _num(value: Any, default: float) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(f) else f


def modelled_production_for_users(
    users: pd.DataFrame,
    weather: pd.DataFrame,
    *,
    losses_pct: float = DEFAULT_LOSSES_PCT,
    label: Label = "period_end",
    period_minutes: int = 60,
    max_distance_km: float | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Modelled PV energy per prosumer and hour (kWh), for modelled-vs-metered in gold.

    Args:
        users: `silver.user_profiles` rows: `user_id`, `panel_kwp` (kWp; versions without a
            positive value model nothing), `panel_tilt_deg` (default 35),
            `panel_azimuth_deg` (pvlib convention, 180 = south; default 180), `latitude`,
            `longitude`, and optionally `effective_date`: with several versions per user
            each hour uses the version in force on its (UTC) date.
        weather: `silver.weather` rows (`latitude`, `longitude`, `ts`, irradiance,
            temperature, wind). Each user takes the nearest grid point (haversine); the
            sun is computed at that point.
        losses_pct / label / period_minutes / model_kwargs: passed to `model_pv_kw`.
        max_distance_km: versions farther than this from every grid point model nothing.

    Returns:
        DataFrame `user_id`, `ts` (UTC start of the modelled period: `label − period` for
        `period_end` labels), `modelled_kwh` (energy over the period, kWh), sorted by
        (user_id, ts); rows with missing irradiance are dropped.

    A 1 kWp system is modelled once per (grid point, tilt, azimuth) and scaled by kWp:
    PVWatts DC and AC are linear in the nameplate at a fixed DC/AC ratio. All orientations
    of one grid point share one chain run (`model_pv_kw_arrays`).
    """
    cols = ["user_id", "ts", "modelled_kwh"]
    empty = pd.DataFrame(
        {
            "user_id": pd.Series(dtype="object"),
            "ts": pd.Series(dtype="datetime64[us, UTC]"),
            "modelled_kwh": pd.Series(dtype="float64"),
        }
    )
    if users.empty or weather.empty:
        return empty
    u = users.copy()
    u["panel_kwp"] = pd.to_numeric(u["panel_kwp"], errors="coerce")
    if not (u["panel_kwp"] > 0).any():
        return empty
    w = weather.copy()
    w["ts"] = _times(w)
    grid = w[["latitude", "longitude"]].drop_duplicates().to_numpy(dtype="float64")
    hours = pd.Timedelta(minutes=period_minutes) / pd.Timedelta(hours=1)
    shift = pd.Timedelta(minutes=period_minutes) if label == "period_end" else pd.Timedelta(0)
    has_dates = "effective_date" in u.columns

    # 1. Which versions model what: (user, version, next version's date, model key).
    plan: list[tuple[Any, dict[str, Any], Any, tuple[float, float, float, float]]] = []
    for user_id, versions in u.groupby("user_id", sort=True):
        if has_dates:
            versions = versions.sort_values("effective_date", na_position="first")
        rows = versions.to_dict("records")
        for i, v in enumerate(rows):
            if not v["panel_kwp"] > 0 or pd.isna(v["latitude"]) or pd.isna(v["longitude"]):
                continue  # no panels (yet, or any more) or no location: nothing to model
            lat, lon = float(v["latitude"]), float(v["longitude"])
            j, km = nearest_point(lat, lon, grid[:, 0], grid[:, 1])
            if max_distance_km is not None and km > max_distance_km:
                continue
            tilt = _num(v.get("panel_tilt_deg"), DEFAULT_TILT_DEG)
            az = _num(v.get("panel_azimuth_deg"), DEFAULT_AZIMUTH_DEG)
            nxt = rows[i + 1].get("effective_date") if has_dates and i + 1 < len(rows) else None
            plan.append((user_id, v, nxt, (float(grid[j, 0]), float(grid[j, 1]), tilt, az)))
    if not plan:
        return empty

    # 2. One chain run per grid point, one 1 kWp array per orientation.
    by_point: dict[tuple[float, float], set[tuple[float, float]]] = {}
    for *_, key in plan:
        by_point.setdefault((key[0], key[1]), set()).add((key[2], key[3]))
    cache: dict[tuple[float, float, float, float], pd.Series] = {}
    for (glat, glon), orientations in by_point.items():
        wg = w[(w["latitude"] == glat) & (w["longitude"] == glon)].sort_values("ts")
        per_array = model_pv_kw_arrays(
            wg,
            latitude=glat,
            longitude=glon,
            orientations=sorted(orientations),
            kwp=1.0,
            losses_pct=losses_pct,
            label=label,
            period_minutes=period_minutes,
            **dict(model_kwargs or {}),
        )
        for (tilt, az), series in per_array.items():
            cache[(glat, glon, tilt, az)] = series

    # 3. Scale by kWp over each version's validity.
    frames: list[pd.DataFrame] = []
    for user_id, v, nxt, key in plan:
        kw_per_kwp = cache[key]
        start = kw_per_kwp.index - shift
        keep = np.ones(len(start), dtype=bool)
        if has_dates:
            start_dates = start.date
            if pd.notna(v.get("effective_date")):
                keep &= start_dates >= pd.Timestamp(v["effective_date"]).date()
            if nxt is not None and pd.notna(nxt):
                keep &= start_dates < pd.Timestamp(nxt).date()
        energy = kw_per_kwp.to_numpy() * float(v["panel_kwp"]) * hours
        keep &= ~np.isnan(energy)
        frames.append(
            pd.DataFrame(
                {"user_id": user_id, "ts": start[keep], "modelled_kwh": energy[keep].round(4)}
            )
        )
    out = pd.concat(frames, ignore_index=True)
    if out.empty:
        return empty
    return out.sort_values(["user_id", "ts"], ignore_index=True)[cols]


def pv_potential_as_weather(potential: pd.DataFrame) -> pd.DataFrame:
    """PVGIS plane-of-array rows (`silver.pv_potential`) → horizontal irradiance rows.

    Lets `modelled_production_for_users` model each user's own tilt and azimuth from PVGIS
    data (label `"instant"`: PVGIS stamps `HH:10`). Per row, with the PVGIS plane's tilt β
    and azimuth (`azimuth_deg`, PVGIS convention 0 = south), the sun's zenith z (from
    `solar_elevation_deg`, else computed) and the angle of incidence θ on that plane:

    - `dni_w_m2 = poa_direct / cos θ` (0 when θ ≥ 85° or z ≥ 88°: the beam is not
      recoverable behind or grazing the plane);
    - `dhi_w_m2 = poa_sky_diffuse · 2 / (1 + cos β)` (isotropic sky);
    - `ghi_w_m2 = dni · cos z + dhi`.

    Exact for a horizontal PVGIS system (β = 0); approximate otherwise. Rows without the
    components (`components=1` not requested) are dropped. With several PVGIS systems at
    one location and time the flattest one is used.

    Returns:
        `latitude`, `longitude`, `ts`, `ghi_w_m2`, `dni_w_m2`, `dhi_w_m2` (W/m²),
        `temperature_c` (°C), `wind_speed_m_s` (m/s).
    """
    out_cols = [
        "latitude",
        "longitude",
        "ts",
        "ghi_w_m2",
        "dni_w_m2",
        "dhi_w_m2",
        "temperature_c",
        "wind_speed_m_s",
    ]
    p = potential.copy()
    if p.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in out_cols})
    p["ts"] = _times(p)
    p = p[p["poa_direct_w_m2"].notna() & p["poa_sky_diffuse_w_m2"].notna()]
    p = p.assign(tilt_deg=p["tilt_deg"].fillna(0.0), azimuth_deg=p["azimuth_deg"].fillna(0.0))
    p = p.sort_values(["latitude", "longitude", "ts", "tilt_deg", "azimuth_deg"])
    p = p.drop_duplicates(["latitude", "longitude", "ts"], keep="first")
    frames = []
    for (lat, lon), g in p.groupby(["latitude", "longitude"], sort=True):
        times = pd.DatetimeIndex(g["ts"])
        sp = Location(float(lat), float(lon), tz="UTC").get_solarposition(times)
        elev = g["solar_elevation_deg"].to_numpy(dtype="float64", na_value=np.nan)
        zenith = np.where(np.isnan(elev), sp["apparent_zenith"].to_numpy(), 90.0 - elev)
        tilt = g["tilt_deg"].to_numpy(dtype="float64")
        az = (g["azimuth_deg"].to_numpy(dtype="float64") + 180.0) % 360.0  # → pvlib
        theta = irradiance.aoi(tilt, az, zenith, sp["azimuth"].to_numpy())
        cos_t, cos_z = np.cos(np.radians(theta)), np.cos(np.radians(zenith))
        beam = g["poa_direct_w_m2"].to_numpy(dtype="float64").clip(min=0.0)
        ok = (theta < 85.0) & (zenith < 88.0)
        dni = np.where(ok, beam / np.where(ok, cos_t, 1.0), 0.0)
        sky = g["poa_sky_diffuse_w_m2"].to_numpy(dtype="float64").clip(min=0.0)
        dhi = sky * 2.0 / (1.0 + np.cos(np.radians(tilt)))
        frames.append(
            pd.DataFrame(
                {
                    "latitude": float(lat),
                    "longitude": float(lon),
                    "ts": times,
                    "ghi_w_m2": dni * np.clip(cos_z, 0.0, None) + dhi,
                    "dni_w_m2": dni,
                    "dhi_w_m2": dhi,
                    "temperature_c": g["temp_air_c"].to_numpy(dtype="float64"),
                    "wind_speed_m_s": g["wind_speed_m_s"].to_numpy(dtype="float64"),
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in out_cols})
    return pd.concat(frames, ignore_index=True)[out_cols]
