"""Dose kernels: point kernels, voxel S values and convolution.

Public API (units in the names; docs/physics.md (section 4) for the physics):

- :func:`point_kernel` -> :class:`PointKernel`: energy absorbed within r of a point source.
- :func:`voxel_kernel` -> :class:`VoxelKernel`: voxel S values, mGy/(MBq s) per voxel.
- :func:`convolve_dose`: activity ⊛ kernel (Numba direct or FFT, chosen by
  :func:`plan_convolution`).
"""

from __future__ import annotations

from netdose.kernels.convolve import ConvolutionPlan, convolve_dose, plan_convolution
from netdose.kernels.point import (
    COMPONENTS,
    DEFAULT_DENSITY_G_CM3,
    DEFAULT_PHOTON_RADIUS_MM,
    PointKernel,
    default_components,
    point_kernel,
)
from netdose.kernels.voxel import VoxelKernel, voxel_kernel

__all__ = [
    "COMPONENTS",
    "DEFAULT_DENSITY_G_CM3",
    "DEFAULT_PHOTON_RADIUS_MM",
    "ConvolutionPlan",
    "PointKernel",
    "VoxelKernel",
    "convolve_dose",
    "default_components",
    "plan_convolution",
    "point_kernel",
    "voxel_kernel",
]
