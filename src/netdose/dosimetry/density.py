"""Mass density from CT: the HU -> g/cm3 calibration and its checks.

The default calibration is the piecewise-linear table of Schneider, Bortfeld & Schlegel
(Phys. Med. Biol. 45 (2000) 459-478), in the form OpenGATE distributes it
(``Schneider2000DensitiesTable.txt``). It describes a typical scanner at 120 kVp; a clinic
with its own phantom calibration should pass its own table (any increasing HU points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from netdose.errors import InputError, UnitsError
from netdose.image import Image

__all__ = [
    "DENSITY_FLOOR_G_CM3",
    "SCHNEIDER_2000_HU_DENSITY",
    "SOFT_TISSUE_DENSITY_G_CM3",
    "density_from_ct",
]

#: (HU, density g/cm3) calibration points: Schneider et al. 2000, as tabulated in OpenGATE's
#: Schneider2000DensitiesTable.txt. Linear between points, constant beyond the ends. The step
#: between 100 and 101 HU separates the soft-tissue line from the bone line of the original.
SCHNEIDER_2000_HU_DENSITY: tuple[tuple[float, float], ...] = (
    (-1000.0, 1.21e-3),
    (-98.0, 0.93),
    (-97.0, 0.930486),
    (14.0, 1.03),
    (23.0, 1.031),
    (100.0, 1.1199),
    (101.0, 1.0762),
    (1600.0, 1.9642),
    (3000.0, 2.8),
)

#: Soft-tissue density used where no CT is given (ICRU Report 44 soft tissue: 1.04 g/cm3 is
#: the value the published voxel S values of Lanconelli et al. 2012 use as well).
SOFT_TISSUE_DENSITY_G_CM3: float = 1.04

#: Lowest density used to scale dose (dose ∝ 1/density): voxels of air and gas (< 0.05 g/cm3)
#: would otherwise get absorbed doses hundreds of times those of tissue from the same energy.
#: 0.05 g/cm3 lies below any aerated lung (0.1-0.4 g/cm3), so lung is not clipped.
DENSITY_FLOOR_G_CM3: float = 0.05


def density_from_ct(
    ct: Image,
    calibration: Sequence[tuple[float, float]] = SCHNEIDER_2000_HU_DENSITY,
    *,
    name: str = "CT",
    check_units: bool = True,
) -> Image:
    """Mass density (g/cm3) per voxel from a CT in Hounsfield units.

    Parameters
    ----------
    ct : Image
        CT in HU, shape (z, y, x).
    calibration : sequence of (HU, g/cm3)
        Calibration points with strictly increasing HU (ties are allowed only where the
        table has a deliberate step, which must then be one HU apart or more). Default
        :data:`SCHNEIDER_2000_HU_DENSITY`.
    name : str
        What the CT is (file name), for messages.
    check_units : bool
        Refuse a CT that does not look like HU: a patient CT always contains air around the
        body (about -1000 HU), so a 1st percentile above -500 HU means stored pixel values
        without the rescale intercept, or a mu-map, or a cropped image.

    Returns
    -------
    Image
        float32 densities in g/cm3 on the CT grid.
    """
    ct.require_finite(name)
    table = np.asarray(calibration, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 2 or len(table) < 2:
        raise InputError("the HU-density calibration must be at least two (HU, g/cm3) pairs.")
    if np.any(np.diff(table[:, 0]) <= 0):
        raise InputError(
            "the HU-density calibration must have strictly increasing HU values; got "
            f"{table[:, 0].tolist()}."
        )
    if np.any(table[:, 1] <= 0):
        raise InputError("densities in the HU-density calibration must be positive (g/cm3).")
    hu = np.asarray(ct.array, dtype=np.float32)
    if check_units:
        p1, p99 = np.percentile(hu, [1, 99])
        if p1 > -500.0:
            raise UnitsError(
                f"{name} does not look like a CT in Hounsfield units: its 1st percentile is "
                f"{p1:.0f} (a patient CT has air near -1000 HU around the body). Stored pixel "
                "values without RescaleIntercept, or an attenuation map, give this. Convert "
                "to HU first, or pass check_units=False if the field of view really holds no air."
            )
        if p99 > 5000.0:
            raise UnitsError(
                f"{name}: 99th percentile {p99:.0f} HU is above any tissue or bone; is the "
                "image in HU?"
            )
    rho = np.interp(hu, table[:, 0], table[:, 1]).astype(np.float32)
    return ct.with_array(rho, meta={**ct.meta, "quantity": "density_g_cm3"})
