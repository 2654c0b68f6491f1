"""Physics model of rooftop PV production (pvlib `ModelChain`, PVWatts DC and AC).

This is an I/O-edge model on small per-system series (pandas + pvlib), not an Ibis
transform: gold joins its output (`modelled_production_for_users`) with the metered
production.

Model chain (`_model_chain`):

- **Geometry**: `Location(latitude, longitude, tz="UTC")`, one fixed `Array`
  (`surface_tilt` = tilt from horizontal, degrees; `surface_azimuth` in the **pvlib
  convention: 0 = north, 90 = east, 180 = south, 270 = west**). PVGIS uses 0 = south,
  90 = west, −90 = east; convert with `pvgis_to_pvlib_azimuth` (`+180 mod 360`).
  `silver.user_profiles.panel_azimuth_deg` is in the pvlib convention (the generator draws
  90–270, 180 = south).
- **Transposition** GHI/DNI/DHI → plane of array: Hay–Davies (sky diffuse) + isotropic
  ground reflection (albedo 0.25).
- **Reflection (IAM)**: `physical` (Fresnel/Snell, glass cover) by default; `no_loss` for a
  two-axis tracker (AOI is always 0) or when comparing with a POA series.
- **Spectral**: no correction.
- **Cell temperature**: Faiman, `T_cell = T_air + G_poa / (u0 + u1 · wind)` with PVGIS's
  coefficients (`FAIMAN_PARAMETERS`; free-standing c-Si by default).
- **DC**: PVWatts, `P_dc = G_eff / 1000 · pdc0 · (1 + γ (T_cell − 25))` with
  `pdc0 = kWp · 1000` W and `γ = gamma_pdc` (−0.004 /°C).
- **Losses**: one lumped DC derate `losses_pct` (%), applied to P_dc: soiling, shading,
  mismatch, wiring, connections, LID, nameplate and availability (PVWatts' breakdown of its
  default 14.08 %). The inverter is *not* part of it (see below); PVGIS's `loss` parameter
  does include the inverter, so PVGIS's 14 % ≈ our 10 % + the ~4 % inverter loss.
- **AC**: PVWatts inverter, nominal efficiency 0.96, DC input limit
  `pdc0_inv = kWp · 1000 / dc_ac_ratio` W (AC is clipped at 0.96 · pdc0_inv).

Time alignment (`label`):

- `"period_end"` (Open-Meteo, ERA5): the value labelled `ts` is the mean over the
  preceding period `[ts − period, ts)`; solar geometry is taken at the period midpoint
  `ts − period/2`, and the returned power is the mean AC power over the same period,
  labelled like the input.
- `"instant"` (PVGIS `HH:10` stamps): geometry at `ts` itself.

Missing DNI (`complete_irradiance`), per row, first that applies:
1. `dni_w_m2` given;
2. `direct_w_m2` (beam on the horizontal) given: `DNI = direct / cos(zenith)`;
3. `dhi_w_m2` given: `DNI = (GHI − DHI) / cos(zenith)`;
4. GHI only: the Erbs (1982) decomposition into DNI and DHI.
Cases 2–3 use `pvlib.irradiance.dni`: DNI is 0 for zenith ≥ 88° and capped at 1.1 × the
Ineichen clear-sky DNI for zenith ≥ 80° (the 1/cos blow-up near sunrise and sunset).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pvlib import inverter, irradiance
from pvlib.location import Location
from pvlib.modelchain import ModelChain
from pvlib.pvsystem import Array, FixedMount, PVSystem

Label = Literal["period_end", "instant"]

DEFAULT_LOSSES_PCT = 10.0
"""Lumped DC losses (%) excluding the inverter (PVWatts' default breakdown gives 14.08 %
including 3 % availability and 3 % shading; 10 % is typical for a clean unshaded roof)."""
DEFAULT_GAMMA_PDC = -0.004
"""Power temperature coefficient of c-Si modules (1/°C)."""
INVERTER_EFFICIENCY = 0.96
"""PVWatts nominal inverter efficiency."""
ALBEDO = 0.25
FAIMAN_PARAMETERS: dict[str, dict[str, float]] = {
    # PVGIS 5 (Huld & Gracia Amillo 2015): u0 in W/(°C·m²), u1 in W·s/(°C·m³).
    "free_standing": {"u0": 26.9, "u1": 6.2},
    "building_integrated": {"u0": 20.0, "u1": 0.0},
}
DEFAULT_TILT_DEG = 35.0
DEFAULT_AZIMUTH_DEG = 180.0  # pvlib: south


def pvgis_to_pvlib_azimuth(azimuth_deg: float) -> float:
    """PVGIS azimuth (0 = south, 90 = west, −90 = east) → pvlib (180 = south, 270 = west)."""
    return (azimuth_deg + 180.0) % 360.0


def pvlib_to_pvgis_azimuth(azimuth_deg: float) -> float:
    """pvlib azimuth (180 = south) → PVGIS (0 = south, in [−180, 180))."""
    return azimuth_deg % 360.0 - 180.0


def _times(df: pd.DataFrame) -> pd.DatetimeIndex:
    """UTC times from a `ts` column or the index (naive values are UTC)."""
    raw = df["ts"] if "ts" in df.columns else df.index
    idx = pd.DatetimeIndex(pd.to_datetime(raw))
    return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")


def _column(df: pd.DataFrame, *names: str) -> pd.Series | None:
    """The first of `names` present, as float (positional, index dropped)."""
    for n in names:
        if n in df.columns:
            return pd.Series(df[n].to_numpy(dtype="float64", na_value=np.nan))
    return None


def _geometry_times(times: pd.DatetimeIndex, label: Label, period_minutes: int) -> pd.DatetimeIndex:
    if label == "period_end":
        return times - pd.Timedelta(minutes=period_minutes / 2)
    if label == "instant":
        return times
    raise ValueError(f"label must be 'period_end' or 'instant', not {label!r}")


def complete_irradiance(
    weather: pd.DataFrame,
    location: Location,
    *,
    label: Label = "period_end",
    period_minutes: int = 60,
) -> pd.DataFrame:
    """GHI, DNI and DHI (W/m²) for every row, deriving whatever is missing (see module doc).

    Args:
        weather: `ghi_w_m2` plus any of `dni_w_m2`, `direct_w_m2` (beam on the horizontal),
            `dhi_w_m2`; times in `ts` or the index.
        location: where the sun is computed.
        label / period_minutes: time alignment of the irradiance values.

    Returns:
        DataFrame indexed by the geometry times (period midpoints for `period_end`) with
        `ghi`, `dni`, `dhi` (W/m²) and `solar_zenith` (degrees); NaN where GHI is missing.
    """
    gtimes = _geometry_times(_times(weather), label, period_minutes)
    ghi = _column(weather, "ghi_w_m2", "ghi")
    if ghi is None:
        raise ValueError("weather needs a ghi_w_m2 column (global horizontal irradiance, W/m²)")
    ghi.index = gtimes
    ghi = ghi.clip(lower=0.0)
    nan = pd.Series(np.nan, index=gtimes)

    def col(*names: str) -> pd.Series:
        s = _column(weather, *names)
        if s is None:
            return nan.copy()
        s.index = gtimes
        return s.clip(lower=0.0)

    dni_in, direct_in, dhi_in = col("dni_w_m2", "dni"), col("direct_w_m2"), col("dhi_w_m2", "dhi")
    sp = location.get_solarposition(gtimes)
    zenith = sp["zenith"]
    cs = location.get_clearsky(gtimes, solar_position=sp, model="ineichen")
    cosz = np.cos(np.radians(zenith))

    from_direct = irradiance.dni(direct_in, 0.0 * direct_in, zenith, dni_clear=cs["dni"]).fillna(
        0.0
    )
    from_dhi = irradiance.dni(ghi, dhi_in, zenith, dni_clear=cs["dni"]).fillna(0.0)
    erbs = irradiance.erbs(ghi, zenith, gtimes)

    dni = dni_in.where(dni_in.notna(), from_direct.where(direct_in.notna()))
    dni = dni.where(dni.notna(), from_dhi.where(dhi_in.notna()))
    dni = dni.where(dni.notna(), erbs["dni"].fillna(0.0))

    dhi = dhi_in.where(dhi_in.notna(), (ghi - direct_in).where(direct_in.notna()))
    dhi = dhi.where(dhi.notna(), (ghi - dni * cosz.clip(lower=0.0)).where(dni_in.notna()))
    dhi = dhi.where(dhi.notna(), erbs["dhi"])
    dhi = dhi.clip(lower=0.0).where(dhi <= ghi, ghi)

    out = pd.DataFrame({"ghi": ghi, "dni": dni.clip(lower=0.0), "dhi": dhi})
    out[ghi.isna()] = np.nan
    out["solar_zenith"] = zenith
    return out


def _lumped_losses(mc: ModelChain, *, factor: float) -> ModelChain:
    """ModelChain losses model: multiply DC power by `factor` (= 1 − losses_pct / 100).

    With several arrays `results.dc` is a tuple (one series per array)."""
    mc.results.losses = factor
    dc = mc.results.dc
    mc.results.dc = tuple(d * factor for d in dc) if isinstance(dc, tuple) else dc * factor
    return mc


def _model_chain(
    *,
    latitude: float,
    longitude: float,
    kwp: float,
    tilt_deg: float,
    azimuth_deg: float,
    altitude_m: float,
    losses_pct: float,
    gamma_pdc: float,
    dc_ac_ratio: float,
    mounting: str,
    aoi_model: str,
) -> ModelChain:
    return _model_chain_arrays(
        latitude=latitude,
        longitude=longitude,
        kwp=kwp,
        orientations=[(tilt_deg, azimuth_deg)],
        altitude_m=altitude_m,
        losses_pct=losses_pct,
        gamma_pdc=gamma_pdc,
        dc_ac_ratio=dc_ac_ratio,
        mounting=mounting,
        aoi_model=aoi_model,
    )


def _model_chain_arrays(
    *,
    latitude: float,
    longitude: float,
    kwp: float,
    orientations: list[tuple[float, float]],
    altitude_m: float,
    losses_pct: float,
    gamma_pdc: float,
    dc_ac_ratio: float,
    mounting: str,
    aoi_model: str,
) -> ModelChain:
    """One chain with an array of `kwp` per (tilt, pvlib azimuth) in `orientations`.

    Everything up to DC is computed per array; the chain's own AC (the sum over arrays) is
    not used with several arrays: `_array_ac_kw` applies the inverter to each array.
    """
    if not orientations:
        raise ValueError("at least one (tilt, azimuth) orientation is needed")
    if kwp <= 0:
        raise ValueError(f"kwp must be > 0, got {kwp}")
    if not 0.0 <= losses_pct < 100.0:
        raise ValueError(f"losses_pct must be in [0, 100), got {losses_pct}")
    if dc_ac_ratio <= 0:
        raise ValueError(f"dc_ac_ratio must be > 0, got {dc_ac_ratio}")
    if mounting not in FAIMAN_PARAMETERS:
        raise ValueError(f"mounting must be one of {sorted(FAIMAN_PARAMETERS)}, not {mounting!r}")
    location = Location(latitude, longitude, tz="UTC", altitude=altitude_m)
    arrays = [
        Array(
            FixedMount(surface_tilt=tilt_deg, surface_azimuth=azimuth_deg % 360.0),
            albedo=ALBEDO,
            module_parameters={"pdc0": kwp * 1000.0, "gamma_pdc": gamma_pdc},
            temperature_model_parameters=dict(FAIMAN_PARAMETERS[mounting]),
        )
        for tilt_deg, azimuth_deg in orientations
    ]
    system = PVSystem(
        arrays=arrays,
        inverter_parameters={
            "pdc0": kwp * 1000.0 / dc_ac_ratio,
            "eta_inv_nom": INVERTER_EFFICIENCY,
        },
    )
    return ModelChain(
        system,
        location,
        transposition_model="haydavies",
        dc_model="pvwatts",
        ac_model="pvwatts",
        aoi_model=aoi_model,
        spectral_model="no_loss",
        temperature_model="faiman",
        losses_model=functools.partial(_lumped_losses, factor=1.0 - losses_pct / 100.0),
    )


def _run(mc: ModelChain, weather: pd.DataFrame, label: Label, period_minutes: int) -> pd.Series:
    """Complete the irradiance, add temperature/wind, run `mc`; True where GHI was given."""
    irr = complete_irradiance(weather, mc.location, label=label, period_minutes=period_minutes)
    inputs = irr[["ghi", "dni", "dhi"]].fillna(0.0)
    for k, v in _temp_wind(weather, irr.index).items():
        inputs[k] = v
    mc.run_model(inputs)
    return irr["ghi"].notna()


def _ac_kw(mc: ModelChain, times: pd.DatetimeIndex, valid: pd.Series) -> pd.Series:
    ac = pd.Series(np.asarray(mc.results.ac, dtype="float64"), index=times) / 1000.0
    ac = ac.clip(lower=0.0)  # PVWatts returns -0.0 / tiny negatives at night
    ac[~valid.to_numpy()] = np.nan
    ac.name = "pv_ac_kw"
    return ac


def _array_ac_kw(
    dc_w: pd.Series, pdc0_inv_w: float, times: pd.DatetimeIndex, valid: pd.Series
) -> pd.Series:
    """AC (kW) of one array behind its own PVWatts inverter (as `ModelChain` does for one)."""
    ac_w = inverter.pvwatts(dc_w, pdc0_inv_w, eta_inv_nom=INVERTER_EFFICIENCY)
    ac = pd.Series(np.asarray(ac_w, dtype="float64"), index=times) / 1000.0
    ac = ac.clip(lower=0.0)
    ac[~valid.to_numpy()] = np.nan
    ac.name = "pv_ac_kw"
    return ac


def _temp_wind(df: pd.DataFrame, index: pd.DatetimeIndex) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    temp = _column(df, "temperature_c", "temp_air_c", "temp_air")
    wind = _column(df, "wind_speed_m_s", "wind_speed")
    # pvlib assumes 20 °C / 0 m/s for absent columns; fill gaps the same way.
    out["temp_air"] = (temp if temp is not None else pd.Series(20.0, index=range(len(df)))).fillna(
        20.0
    )
    out["wind_speed"] = (wind if wind is not None else pd.Series(0.0, index=range(len(df)))).fillna(
        0.0
    )
    for s in out.values():
        s.index = index
    return out


def model_pv_kw(
    weather: pd.DataFrame,
    *,
    latitude: float,
    longitude: float,
    kwp: float,
    tilt_deg: float = DEFAULT_TILT_DEG,
    azimuth_deg: float = DEFAULT_AZIMUTH_DEG,
    altitude_m: float = 0.0,
    losses_pct: float = DEFAULT_LOSSES_PCT,
    gamma_pdc: float = DEFAULT_GAMMA_PDC,
    dc_ac_ratio: float = 1.0,
    mounting: str = "free_standing",
    aoi_model: str = "physical",
    label: Label = "period_end",
    period_minutes: int = 60,
) -> pd.Series:
    """AC power (kW) of a fixed PV system from horizontal irradiance and weather.

    Args:
        weather: Open-Meteo-style rows (`silver.weather`): `ts` (or a DatetimeIndex, UTC),
            `ghi_w_m2` and optionally `dni_w_m2` / `direct_w_m2` / `dhi_w_m2` (W/m²),
            `temperature_c` (°C), `wind_speed_m_s` (m/s, 10 m). Missing DNI/DHI are derived
            (module doc); missing temperature/wind default to 20 °C / 0 m/s.
        latitude / longitude: degrees (WGS84) of the system.
        kwp: DC nameplate (kWp).
        tilt_deg: tilt from horizontal (degrees).
        azimuth_deg: **pvlib convention**, 180 = south (PVGIS: `pvgis_to_pvlib_azimuth`).
        altitude_m: site altitude (m) for clear-sky DNI (only caps derived DNI).
        losses_pct: lumped DC losses (%), excluding the inverter.
        gamma_pdc: power temperature coefficient (1/°C).
        dc_ac_ratio: DC nameplate / inverter DC input limit (1.0 = no clipping in practice).
        mounting: key of `FAIMAN_PARAMETERS` (cell temperature).
        aoi_model: pvlib IAM model (`physical`, `ashrae`, `martin_ruiz`, `no_loss`, ...).
        label / period_minutes: time alignment of the weather (module doc).

    Returns:
        Mean AC power in kW per input row, indexed by the input `ts` labels (UTC), named
        `pv_ac_kw`; NaN where GHI is missing. Energy of a row = kW × period hours.
    """
    times = _times(weather)
    mc = _model_chain(
        latitude=latitude,
        longitude=longitude,
        kwp=kwp,
        tilt_deg=tilt_deg,
        azimuth_deg=azimuth_deg,
        altitude_m=altitude_m,
        losses_pct=losses_pct,
        gamma_pdc=gamma_pdc,
        dc_ac_ratio=dc_ac_ratio,
        mounting=mounting,
        aoi_model=aoi_model,
    )
    valid = _run(mc, weather, label, period_minutes)
    return _ac_kw(mc, times, valid)


def model_pv_kw_arrays(
    weather: pd.DataFrame,
    *,
    latitude: float,
    longitude: float,
    orientations: Sequence[tuple[float, float]],
    kwp: float = 1.0,
    altitude_m: float = 0.0,
    losses_pct: float = DEFAULT_LOSSES_PCT,
    gamma_pdc: float = DEFAULT_GAMMA_PDC,
    dc_ac_ratio: float = 1.0,
    mounting: str = "free_standing",
    aoi_model: str = "physical",
    label: Label = "period_end",
    period_minutes: int = 60,
) -> dict[tuple[float, float], pd.Series]:
    """`model_pv_kw` for several (tilt, azimuth) systems of `kwp` at one site, in one run.

    Same chain and results as calling `model_pv_kw` per orientation, but the irradiance
    completion, solar position and air mass are computed once: one `ModelChain` with one
    array per orientation (azimuth in the pvlib convention), each behind its own PVWatts
    inverter.

    Returns:
        `{(tilt_deg, azimuth_deg): AC power in kW}` per distinct orientation, each series
        indexed by the input `ts` labels and NaN where GHI is missing.
    """
    keys = list(dict.fromkeys((float(t), float(a)) for t, a in orientations))
    times = _times(weather)
    mc = _model_chain_arrays(
        latitude=latitude,
        longitude=longitude,
        kwp=kwp,
        orientations=keys,
        altitude_m=altitude_m,
        losses_pct=losses_pct,
        gamma_pdc=gamma_pdc,
        dc_ac_ratio=dc_ac_ratio,
        mounting=mounting,
        aoi_model=aoi_model,
    )
    valid = _run(mc, weather, label, period_minutes)
    dc = mc.results.dc if isinstance(mc.results.dc, tuple) else (mc.results.dc,)
    pdc0_inv_w = kwp * 1000.0 / dc_ac_ratio
    return {key: _array_ac_kw(d, pdc0_inv_w, times, valid) for key, d in zip(keys, dc, strict=True)}


def model_pv_from_poa(
    poa: pd.DataFrame,
    *,
    latitude: float,
    longitude: float,
    kwp: float,
    tilt_deg: float = DEFAULT_TILT_DEG,
    azimuth_deg: float = DEFAULT_AZIMUTH_DEG,
    altitude_m: float = 0.0,
    losses_pct: float = DEFAULT_LOSSES_PCT,
    gamma_pdc: float = DEFAULT_GAMMA_PDC,
    dc_ac_ratio: float = 1.0,
    mounting: str = "free_standing",
    aoi_model: str = "physical",
    label: Label = "instant",
    period_minutes: int = 60,
) -> pd.Series:
    """AC power (kW) from plane-of-array irradiance (PVGIS `seriescalc`, `silver.pv_potential`).

    Runs `ModelChain.run_model_from_poa`; the chain is the one of `model_pv_kw`.

    Args:
        poa: `ts` (or index), `poa_global_w_m2` and, with PVGIS `components=1`,
            `poa_direct_w_m2`, `poa_sky_diffuse_w_m2`, `poa_ground_diffuse_w_m2` (W/m²);
            `temp_air_c` (°C), `wind_speed_m_s` (m/s). Without components the whole global
            POA is treated as beam (this only changes the reflection loss; with
            `aoi_model="no_loss"` it changes nothing).
        azimuth_deg: pvlib convention (180 = south); PVGIS `aspect` → `pvgis_to_pvlib_azimuth`.
        label: `instant` (PVGIS stamps `HH:10`: geometry at the stamp).
        Other arguments: as `model_pv_kw`.

    Returns:
        AC power in kW per input row (named `pv_ac_kw`), NaN where the POA global is missing.
    """
    times = _times(poa)
    mc = _model_chain(
        latitude=latitude,
        longitude=longitude,
        kwp=kwp,
        tilt_deg=tilt_deg,
        azimuth_deg=azimuth_deg,
        altitude_m=altitude_m,
        losses_pct=losses_pct,
        gamma_pdc=gamma_pdc,
        dc_ac_ratio=dc_ac_ratio,
        mounting=mounting,
        aoi_model=aoi_model,
    )
    gtimes = _geometry_times(times, label, period_minutes)
    direct = _column(poa, "poa_direct_w_m2")
    sky = _column(poa, "poa_sky_diffuse_w_m2")
    ground = _column(poa, "poa_ground_diffuse_w_m2")
    glob = _column(poa, "poa_global_w_m2")
    if glob is None and direct is not None and sky is not None and ground is not None:
        glob = direct + sky + ground
    if glob is None:
        raise ValueError("poa needs poa_global_w_m2 or the three PVGIS components (W/m²)")
    if direct is not None and sky is not None and direct.notna().any():
        diffuse = sky + (ground.fillna(0.0) if ground is not None else 0.0)
    else:
        direct, diffuse = glob.copy(), pd.Series(0.0, index=glob.index)
    valid = glob.notna()
    data = pd.DataFrame(
        {
            "poa_global": glob.fillna(0.0).clip(lower=0.0).to_numpy(),
            "poa_direct": direct.fillna(0.0).clip(lower=0.0).to_numpy(),
            "poa_diffuse": diffuse.fillna(0.0).clip(lower=0.0).to_numpy(),
        },
        index=gtimes,
    )
    for k, v in _temp_wind(poa, gtimes).items():
        data[k] = v
    mc.run_model_from_poa(data)
    return _ac_kw(mc, times, valid)
