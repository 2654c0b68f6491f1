"""PV physics: modelled production of rooftop systems from weather (pvlib ModelChain)."""

from wattlake.pv.fleet import modelled_production_for_users, pv_potential_as_weather
from wattlake.pv.model import (
    DEFAULT_LOSSES_PCT,
    FAIMAN_PARAMETERS,
    complete_irradiance,
    model_pv_from_poa,
    model_pv_kw,
    model_pv_kw_arrays,
    pvgis_to_pvlib_azimuth,
    pvlib_to_pvgis_azimuth,
)

__all__ = [
    "DEFAULT_LOSSES_PCT",
    "FAIMAN_PARAMETERS",
    "complete_irradiance",
    "model_pv_from_poa",
    "model_pv_kw",
    "model_pv_kw_arrays",
    "modelled_production_for_users",
    "pv_potential_as_weather",
    "pvgis_to_pvlib_azimuth",
    "pvlib_to_pvgis_azimuth",
]
