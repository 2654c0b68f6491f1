"""Several PV systems in one chain run, version windows, and PVGIS plane-of-array irradiance
turned back into horizontal irradiance (`wattlake.pv.model`), on real API responses."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pvlib import irradiance
from pvlib.location import Location

from conftest import realdata_api as _realdata
from wattlake.pv import (
    model_pv_from_poa,
    model_pv_kw,
    model_pv_kw_arrays,
    modelled_production_for_users,
    pv_potential_as_weather,
    pvgis_to_pvlib_azimuth,
)
from wattlake.sources.pvgis import parse_pvgis_csv

ORIENTATIONS = [(35.0, 180.0), (15.0, 90.0), (45.0, 270.0), (0.0, 180.0), (30.0, 135.0)]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"kwp": 4.0, "dc_ac_ratio": 1.3}, id="clipping_inverter"),
        pytest.param({"mounting": "building_integrated", "losses_pct": 14.0}, id="hot_roof"),
    ],
)
def test_arrays_equal_one_chain_per_orientation(
    open_meteo: pd.DataFrame, kwargs: dict[str, float]
) -> None:
    many = model_pv_kw_arrays(
        open_meteo, latitude=50.0, longitude=10.0, orientations=ORIENTATIONS, **kwargs
    )
    assert list(many) == ORIENTATIONS
    for (tilt, az), series in many.items():
        one = model_pv_kw(
            open_meteo, latitude=50.0, longitude=10.0, tilt_deg=tilt, azimuth_deg=az,
            **{"kwp": 1.0, **kwargs},
        )  # fmt: skip
        pd.testing.assert_series_equal(series, one)


def _users(rows: list[tuple]) -> pd.DataFrame:
    cols = ["user_id", "panel_kwp", "latitude", "longitude", "effective_date"]
    return pd.DataFrame(rows, columns=cols)


def test_panels_removed_stop_the_model(open_meteo: pd.DataFrame) -> None:
    """A later version without panels ends the earlier version's modelled production."""
    users = _users(
        [
            ("a", 4.0, 50.0, 10.0, dt.date(2026, 1, 1)),
            ("a", 0.0, 50.0, 10.0, dt.date(2026, 3, 3)),
        ]
    )
    out = modelled_production_for_users(users, open_meteo)
    days = set(pd.DatetimeIndex(out["ts"]).date)
    assert dt.date(2026, 3, 2) in days and dt.date(2026, 3, 3) not in days


@pytest.mark.parametrize(
    ("max_km", "modelled"),
    [
        pytest.param(None, True, id="no_limit_nearest_point_however_far"),
        pytest.param(50.0, False, id="farther_than_limit_nothing"),
        pytest.param(200.0, True, id="within_limit"),
    ],
)
def test_max_distance(open_meteo: pd.DataFrame, max_km: float | None, modelled: bool) -> None:
    users = _users([("far", 4.0, 51.0, 10.0, dt.date(2026, 1, 1))])  # ~111 km north
    out = modelled_production_for_users(users, open_meteo, max_distance_km=max_km)
    assert (not out.empty) is modelled


def _poa_components(weather: pd.DataFrame, lat: float, lon: float, tilt: float, az_pvgis: float):
    """PVGIS-style rows (isotropic sky) computed from horizontal irradiance at HH:10."""
    times = pd.DatetimeIndex(weather["ts"]) - pd.Timedelta(minutes=50)  # period → HH:10
    sp = Location(lat, lon, tz="UTC").get_solarposition(times)
    ghi = weather["ghi_w_m2"].to_numpy()
    parts = irradiance.erbs(ghi, sp["zenith"].to_numpy(), times)
    aoi = irradiance.aoi(
        tilt, pvgis_to_pvlib_azimuth(az_pvgis), sp["apparent_zenith"], sp["azimuth"]
    )
    poa = irradiance.get_total_irradiance(
        tilt, pvgis_to_pvlib_azimuth(az_pvgis), sp["apparent_zenith"], sp["azimuth"],
        parts["dni"], ghi, parts["dhi"], model="isotropic", albedo=0.0,
    )  # fmt: skip
    return (
        pd.DataFrame(
            {
                "latitude": lat,
                "longitude": lon,
                "ts": times,
                "poa_direct_w_m2": poa["poa_direct"].to_numpy(),
                "poa_sky_diffuse_w_m2": poa["poa_sky_diffuse"].to_numpy(),
                "poa_ground_diffuse_w_m2": 0.0,
                "solar_elevation_deg": sp["apparent_elevation"].clip(lower=0).to_numpy(),
                "temp_air_c": weather["temperature_c"].to_numpy(),
                "wind_speed_m_s": weather["wind_speed_m_s"].to_numpy(),
                "tilt_deg": tilt,
                "azimuth_deg": az_pvgis,
            }
        ),
        np.asarray(aoi),
        np.asarray(parts["dhi"]),
        ghi,
    )


@pytest.mark.parametrize(
    ("tilt", "az", "tol_w_m2"),
    [
        pytest.param(0.0, 0.0, 0.5, id="horizontal_exact"),
        pytest.param(30.0, 0.0, 5.0, id="tilted_south"),
        pytest.param(20.0, -90.0, 5.0, id="tilted_east"),
    ],
)
def test_pv_potential_back_to_horizontal(
    open_meteo: pd.DataFrame, tilt: float, az: float, tol_w_m2: float
) -> None:
    pot, aoi, dhi, ghi = _poa_components(open_meteo, 50.0, 10.0, tilt, az)
    back = pv_potential_as_weather(pot)
    assert list(back.columns) == [
        "latitude", "longitude", "ts", "ghi_w_m2", "dni_w_m2", "dhi_w_m2",
        "temperature_c", "wind_speed_m_s",
    ]  # fmt: skip
    sun = pot["solar_elevation_deg"].to_numpy() > 5.0
    np.testing.assert_allclose(back["dhi_w_m2"].to_numpy()[sun], dhi[sun], atol=0.5)
    facing = sun & (aoi < 80.0)  # the beam on the plane can be turned back into DNI
    assert facing.sum() >= 10
    np.testing.assert_allclose(back["ghi_w_m2"].to_numpy()[facing], ghi[facing], atol=tol_w_m2)
    behind = sun & (aoi >= 90.0)  # sun behind the plane: only the diffuse part is known
    assert np.all(back["ghi_w_m2"].to_numpy()[behind] <= ghi[behind] + 0.5)


def test_pv_potential_keeps_the_flattest_system_and_drops_rows_without_components(
    open_meteo: pd.DataFrame,
) -> None:
    flat, *_ = _poa_components(open_meteo, 50.0, 10.0, 0.0, 0.0)
    steep, *_ = _poa_components(open_meteo, 50.0, 10.0, 60.0, 0.0)
    no_comp = flat.head(5).assign(
        poa_direct_w_m2=np.nan, ts=flat["ts"].head(5) + pd.Timedelta(days=30)
    )
    back = pv_potential_as_weather(pd.concat([steep, flat, no_comp], ignore_index=True))
    assert len(back) == len(flat)
    direct = pv_potential_as_weather(flat)
    np.testing.assert_allclose(back["ghi_w_m2"], direct["ghi_w_m2"])


def test_pvgis_components_csv_modelled_both_ways() -> None:
    """PVGIS's 30° south plane: through the POA path, and back to horizontal then the
    weather path with the same geometry, give the same daily energy within 5 %."""
    pv = parse_pvgis_csv(_realdata("pvgis_seriescalc_components.csv")).to_pandas()
    pv = pv.assign(tilt_deg=30.0, azimuth_deg=0.0)
    kw = dict(latitude=45.0, longitude=8.0, kwp=4.0, tilt_deg=30.0, azimuth_deg=180.0)
    poa_path = model_pv_from_poa(pv, **kw).sum()
    horizontal = pv_potential_as_weather(pv)
    weather_path = model_pv_kw(horizontal, label="instant", **kw).sum()
    assert poa_path > 0
    assert weather_path == pytest.approx(poa_path, rel=0.05)
