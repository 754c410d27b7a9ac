"""Absorbed dose from activity: local energy deposition (LDM) and dose-voxel-kernel
convolution (DVK), with optional CT density correction.

Inputs are either a time-integrated activity (TIA) map or an activity-concentration map with
``kinetics="physical"`` (no biological clearance, e.g. Y-90 microspheres, which stay where
they lodge: TIA = A · T½ / ln 2).

=====================  ==========================================================
quantity               meaning of the voxel values
=====================  ==========================================================
``"activity_bq_ml"``   activity concentration, Bq/mL (needs ``kinetics="physical"``)
``"tia_bq_s_ml"``      time-integrated activity concentration, Bq·s/mL
``"tia_mbq_h"``        time-integrated activity per voxel, MBq·h
=====================  ==========================================================

Models (docs/physics.md, section "Dose from activity"):

- LDM: every voxel keeps the energy its decays release as charged particles (beta, conversion
  and Auger electrons, alphas): D = Ã · E_charged / (ρ · V). Photon energy is not deposited
  (it leaves the voxel); use DVK with photons for nuclides where that matters (Lu-177, I-131).
- DVK: D = Ã ⊛ K, K the voxel S-value kernel of the nuclide for this voxel spacing in soft
  tissue (density ρ₀). With a CT, the dose is scaled by ρ₀ / ρ(voxel), floored at
  :data:`~netdose.dosimetry.density.DENSITY_FLOOR_G_CM3` (the standard density correction:
  exact for energy absorbed locally, biased near interfaces such as lung, see physics.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from netdose.dosimetry.density import (
    DENSITY_FLOOR_G_CM3,
    SOFT_TISSUE_DENSITY_G_CM3,
    density_from_ct,
)
from netdose.errors import InputError
from netdose.image import Image
from netdose.nuclides import Nuclide, get_nuclide
from netdose.units import BQ_PER_MBQ, G_PER_KG, J_PER_MEV, MGY_PER_GY, S_PER_H

__all__ = [
    "DoseResult",
    "Quantity",
    "absorbed_dose",
    "dose_dvk",
    "dose_ldm",
    "time_integrated_activity_bq_s",
]

Quantity = Literal["activity_bq_ml", "tia_bq_s_ml", "tia_mbq_h"]
_QUANTITIES: tuple[str, ...] = ("activity_bq_ml", "tia_bq_s_ml", "tia_mbq_h")


@dataclasses.dataclass(frozen=True)
class DoseResult:
    """A dose map and everything needed to reproduce it.

    Attributes
    ----------
    dose_gy : Image
        Absorbed dose in Gy, float32, on the input grid.
    method : str
        ``"ldm"`` or ``"dvk"``.
    nuclide : str
        ICRP name of the nuclide.
    constants : dict
        Every constant used (energies per decay, densities, kernel facts), with units in
        the keys.
    """

    dose_gy: Image
    method: str
    nuclide: str
    constants: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: total energy deposited and dose statistics."""
        d = np.asarray(self.dose_gy.array, dtype=np.float64)
        return {
            "method": self.method,
            "nuclide": self.nuclide,
            "dose_max_gy": float(d.max()),
            "dose_mean_gy": float(d.mean()),
            "constants": self.constants,
        }


def _check_activity(image: Image, name: str) -> None:
    image.require_finite(name)
    image.require_non_negative(
        name,
        fix=". Activity cannot be negative; reconstructed SPECT often has small negative "
        "values: clip them explicitly (e.g. np.clip(a, 0, None), or --clip-negative on the "
        "command line) if you accept that.",
    )


def time_integrated_activity_bq_s(
    image: Image,
    quantity: Quantity,
    nuclide: str | Nuclide,
    *,
    kinetics: Literal["physical"] | None = None,
    name: str = "activity map",
) -> Image:
    """Time-integrated activity per voxel in Bq·s (float64).

    Parameters
    ----------
    image : Image
        Activity concentration (Bq/mL) or TIA (Bq·s/mL or MBq·h per voxel), shape (z, y, x).
    quantity : {"activity_bq_ml", "tia_bq_s_ml", "tia_mbq_h"}
        What the voxel values are. No default: a wrong guess would scale the dose by
        orders of magnitude.
    nuclide : str or Nuclide
        Needed for physical decay.
    kinetics : {"physical"} or None
        ``"physical"``: the activity stays and decays physically from the image time on, so
        TIA = A · T½ / ln 2. Required with ``activity_bq_ml`` and refused otherwise.
    name : str
        For messages.
    """
    if quantity not in _QUANTITIES:
        raise InputError(
            f"unknown input quantity {quantity!r}; use one of {', '.join(_QUANTITIES)}."
        )
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    _check_activity(image, name)
    arr = np.asarray(image.array, dtype=np.float64)
    if quantity == "activity_bq_ml":
        if kinetics != "physical":
            raise InputError(
                f"{name} is an activity concentration (Bq/mL); a dose needs the time-integrated "
                "activity. Give kinetics='physical' (--kinetics physical) when the activity "
                "only decays physically from the scan time (microspheres), or fit the "
                "time-activity curve from several scans first."
            )
        tia = arr * image.voxel_volume_ml * nuc.mean_life_s
    else:
        if kinetics is not None:
            raise InputError(
                f"kinetics={kinetics!r} only applies to activity maps (Bq/mL); {name} is "
                f"already time-integrated ({quantity})."
            )
        if quantity == "tia_bq_s_ml":
            tia = arr * image.voxel_volume_ml
        else:  # tia_mbq_h per voxel
            tia = arr * BQ_PER_MBQ * S_PER_H
    return image.with_array(tia, meta={**image.meta, "quantity": "tia_bq_s_per_voxel"})


def _density_map(
    target: Image, ct: Image | None, density_g_cm3: float, ct_name: str
) -> tuple[np.ndarray | float, dict[str, Any]]:
    if not np.isfinite(density_g_cm3) or density_g_cm3 <= 0:
        raise InputError(f"density must be a positive number in g/cm3; got {density_g_cm3}.")
    if ct is None:
        return density_g_cm3, {"density_g_cm3": density_g_cm3, "density_source": "uniform"}
    target.require_same_grid(ct, "the activity map", ct_name)
    rho = density_from_ct(ct, name=ct_name).array.astype(np.float64)
    n_floor = int(np.count_nonzero(rho < DENSITY_FLOOR_G_CM3))
    rho = np.maximum(rho, DENSITY_FLOOR_G_CM3)
    return rho, {
        "density_source": f"CT {ct_name}, Schneider et al. 2000 HU-density calibration",
        "density_floor_g_cm3": DENSITY_FLOOR_G_CM3,
        "voxels_at_density_floor": n_floor,
    }


def dose_ldm(
    tia_bq_s: Image,
    nuclide: str | Nuclide,
    *,
    density_g_cm3: float = SOFT_TISSUE_DENSITY_G_CM3,
    ct: Image | None = None,
    ct_name: str = "CT",
) -> DoseResult:
    """Local energy deposition: D = Ã · E_charged / (ρ · V).

    Parameters
    ----------
    tia_bq_s : Image
        Time-integrated activity per voxel (Bq·s), e.g. from
        :func:`time_integrated_activity_bq_s`.
    nuclide : str or Nuclide
        Gives E_charged (MeV per decay): beta, CE and Auger electrons and alphas (ICRP-107).
    density_g_cm3 : float
        Uniform density where no CT is given (soft tissue 1.04 g/cm3).
    ct : Image, optional
        CT in HU on the same grid: per-voxel density (floored at 0.05 g/cm3).
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    _check_activity(tia_bq_s, "time-integrated activity")
    e_mev = nuc.electron_energy_mev + nuc.alpha_energy_mev
    rho, dens_facts = _density_map(tia_bq_s, ct, density_g_cm3, ct_name)
    mass_kg = np.asarray(rho) * tia_bq_s.voxel_volume_ml / G_PER_KG
    dose = np.asarray(tia_bq_s.array, dtype=np.float64) * (e_mev * J_PER_MEV) / mass_kg
    constants = {
        "energy_deposited_locally_mev_per_decay": e_mev,
        "photon_energy_not_deposited_mev_per_decay": nuc.photon_energy_mev,
        "energy_source": "ICRP-107 (charged particles: beta, CE, Auger, alpha)",
        "voxel_volume_ml": tia_bq_s.voxel_volume_ml,
        **dens_facts,
    }
    return DoseResult(
        tia_bq_s.with_array(dose.astype(np.float32), meta={"quantity": "dose_gy"}),
        "ldm",
        nuc.name,
        constants,
    )


def dose_dvk(
    tia_bq_s: Image,
    nuclide: str | Nuclide,
    *,
    density_g_cm3: float = SOFT_TISSUE_DENSITY_G_CM3,
    ct: Image | None = None,
    ct_name: str = "CT",
    components: Sequence[str] | None = None,
    convolution: Literal["auto", "direct", "fft", "hybrid"] = "auto",
) -> DoseResult:
    """Dose-voxel-kernel convolution: D = (Ã ⊛ K) · ρ_kernel / ρ(voxel).

    Parameters
    ----------
    tia_bq_s : Image
        Time-integrated activity per voxel (Bq·s).
    nuclide : str or Nuclide
        Kernel nuclide.
    density_g_cm3 : float
        Density of the kernel's medium (soft tissue 1.04 g/cm3); with no CT also the
        density of every voxel.
    ct : Image, optional
        CT in HU on the same grid: dose scaled by ρ_kernel / ρ(voxel).
    components : sequence of str, optional
        Kernel components (``"electrons"``, ``"photons"``); default as
        :func:`netdose.kernels.voxel_kernel` chooses for the nuclide.
    convolution : {"auto", "direct", "fft", "hybrid"}
        Convolution path (netdose.kernels.convolve).
    """
    from netdose.kernels import voxel_kernel
    from netdose.kernels.convolve import convolve_dose

    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    _check_activity(tia_bq_s, "time-integrated activity")
    rho, dens_facts = _density_map(tia_bq_s, ct, density_g_cm3, ct_name)
    kwargs: dict[str, Any] = {"density_g_cm3": density_g_cm3}
    if components is not None:
        kwargs["components"] = tuple(components)
    kernel = voxel_kernel(nuc.name, tia_bq_s.spacing_mm, **kwargs)
    tia_mbq_s = np.asarray(tia_bq_s.array, dtype=np.float64) / BQ_PER_MBQ
    dose_mgy = convolve_dose(tia_mbq_s, kernel.values_mgy_per_mbq_s, method=convolution)
    dose = np.asarray(dose_mgy, dtype=np.float64) / MGY_PER_GY
    if ct is not None:
        dose *= density_g_cm3 / np.asarray(rho)
    constants = {
        "kernel": kernel.summary(),
        "kernel_density_g_cm3": density_g_cm3,
        "voxel_volume_ml": tia_bq_s.voxel_volume_ml,
        **dens_facts,
    }
    return DoseResult(
        tia_bq_s.with_array(dose.astype(np.float32), meta={"quantity": "dose_gy"}),
        "dvk",
        nuc.name,
        constants,
    )


def absorbed_dose(
    image: Image,
    *,
    quantity: Quantity,
    nuclide: str,
    method: Literal["ldm", "dvk"],
    kinetics: Literal["physical"] | None = None,
    ct: Image | None = None,
    density_g_cm3: float = SOFT_TISSUE_DENSITY_G_CM3,
    name: str = "activity map",
    ct_name: str = "CT",
    components: Sequence[str] | None = None,
) -> DoseResult:
    """Dose in Gy from an activity or TIA map: the one-call entry point (see module doc)."""
    if method not in ("ldm", "dvk"):
        raise InputError(f"unknown dose method {method!r}; use 'ldm' or 'dvk'.")
    if ct is not None:
        image.require_same_grid(ct, name, ct_name)
    tia = time_integrated_activity_bq_s(image, quantity, nuclide, kinetics=kinetics, name=name)
    if method == "ldm":
        result = dose_ldm(tia, nuclide, density_g_cm3=density_g_cm3, ct=ct, ct_name=ct_name)
    else:
        result = dose_dvk(
            tia, nuclide, density_g_cm3=density_g_cm3, ct=ct, ct_name=ct_name, components=components
        )
    constants = {
        **result.constants,
        "input_quantity": quantity,
        "kinetics": kinetics,
        "half_life_h": get_nuclide(nuclide).half_life_h,
        "total_tia_bq_s": float(np.sum(tia.array)),
    }
    return dataclasses.replace(result, constants=constants)
