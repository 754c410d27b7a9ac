"""Registration of the time points of a PRRT cycle to a reference time point.

Every SPECT/CT time point is registered by its CT to the CT of the reference time point
(SimpleITK: rigid Euler 3-D, Mattes mutual information, three-level pyramid, optionally
followed by a B-spline deformable stage); the SPECT (Bq/mL) is carried along with the same
transform onto the reference grid (linear interpolation, so concentrations are kept), and
masks drawn on any time point are moved to the reference the same way (nearest neighbour).

Quality figure per time point: the Dice overlap of the body outline (CT > −500 HU) and of
bone (CT > 200 HU) between the reference CT and the registered CT. Bone is rigid and small,
so its overlap drops quickly with residual misalignment; a bone Dice below
:data:`BONE_DICE_WARN` (or body below :data:`BODY_DICE_WARN`) gives a warning that the
registration should be checked visually. See docs/physics.md (PRRT registration).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk

from netdose.errors import GeometryError, InputError, NetdoseWarning
from netdose.image import Image

__all__ = [
    "BODY_DICE_WARN",
    "BONE_DICE_WARN",
    "Registration",
    "apply_to_image",
    "apply_to_mask",
    "register_ct",
]

#: Warn when the registered body outlines overlap less than this (Dice).
BODY_DICE_WARN: float = 0.90
#: Warn when the registered bones overlap less than this (Dice).
BONE_DICE_WARN: float = 0.60
BODY_HU: float = -500.0
BONE_HU: float = 200.0
#: Fixed seed of the metric sampling: the same inputs give the same transform.
SAMPLING_SEED: int = 20260301

Method = Literal["none", "rigid", "deformable"]


@dataclasses.dataclass(frozen=True)
class Registration:
    """The transform that maps reference-space points into a moving time point, and its quality.

    Attributes
    ----------
    method : {"none", "rigid", "deformable"}
    transform : SimpleITK.Transform
        Maps points of the reference (fixed) space to the moving image's space, as
        SimpleITK's resampler expects.
    body_dice, bone_dice : float
        Overlap of body outline and bone after registration (1 for the reference itself).
    body_dice_before, bone_dice_before : float
        The same before registration (identity), for the report.
    translation_mm : tuple of float
        Translation of the rigid stage (x, y, z), mm.
    rotation_deg : tuple of float
        Rotation angles of the rigid stage about x, y, z, degrees.
    metric : float or None
        Final Mattes mutual information (lower is better), None for ``"none"``.
    warnings : tuple of str
    """

    method: Method
    transform: sitk.Transform
    body_dice: float
    bone_dice: float
    body_dice_before: float
    bone_dice_before: float
    translation_mm: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]
    metric: float | None
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the transform as its parameters)."""
        return {
            "method": self.method,
            "body_dice": self.body_dice,
            "bone_dice": self.bone_dice,
            "body_dice_before": self.body_dice_before,
            "bone_dice_before": self.bone_dice_before,
            "translation_mm": list(self.translation_mm),
            "rotation_deg": list(self.rotation_deg),
            "metric": self.metric,
            "warnings": list(self.warnings),
            "thresholds": {"body_hu": BODY_HU, "bone_hu": BONE_HU,
                           "body_dice_warn": BODY_DICE_WARN, "bone_dice_warn": BONE_DICE_WARN},
        }


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int(np.count_nonzero(a & b)) / s


def _overlaps(fixed: Image, moved: np.ndarray) -> tuple[float, float]:
    f = np.asarray(fixed.array)
    return _dice(f > BODY_HU, moved > BODY_HU), _dice(f > BONE_HU, moved > BONE_HU)


def _resampled_ct(moving: Image, fixed: Image, transform: sitk.Transform) -> np.ndarray:
    out = sitk.Resample(moving.to_sitk(), fixed.to_sitk(), transform, sitk.sitkLinear, -1000.0,
                        sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def _check_ct(ct: Image, name: str) -> None:
    ct.require_finite(name)
    arr = np.asarray(ct.array)
    if float(arr.min()) > -500.0 or float(arr.max()) < 100.0:
        raise InputError(
            f"{name} does not look like a CT in HU (values {float(arr.min()):.0f} to "
            f"{float(arr.max()):.0f}); registration uses the CTs of the SPECT/CT time points."
        )


def _mattes_registration() -> sitk.ImageRegistrationMethod:
    """Mattes mutual information (50 bins, 25 % regular sampling with a fixed seed), linear
    interpolation, one metric thread (reproducible: threads sum the metric in any order)."""
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    reg.SetMetricSamplingStrategy(reg.REGULAR)
    reg.SetMetricSamplingPercentage(0.25, SAMPLING_SEED)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetNumberOfThreads(1)
    return reg


def register_ct(
    moving_ct: Image,
    fixed_ct: Image,
    *,
    method: Method = "rigid",
    moving_name: str = "moving CT",
    fixed_name: str = "reference CT",
) -> Registration:
    """Register ``moving_ct`` to ``fixed_ct``.

    Parameters
    ----------
    moving_ct, fixed_ct : Image
        CTs in HU, shape (z, y, x), any grids that overlap in space.
    method : {"none", "rigid", "deformable"}
        ``"none"``: identity (time points already aligned, e.g. the same couch position);
        ``"rigid"``: Euler 3-D; ``"deformable"``: rigid then a B-spline (mesh 4 per axis).
    moving_name, fixed_name : str
        For messages.

    Returns
    -------
    Registration
    """
    if method not in ("none", "rigid", "deformable"):
        raise InputError(f"registration method {method!r}: use 'none', 'rigid' or 'deformable'.")
    _check_ct(moving_ct, moving_name)
    _check_ct(fixed_ct, fixed_name)
    if not moving_ct.overlaps(fixed_ct):
        raise GeometryError(
            f"{moving_name} and {fixed_name} do not overlap in space "
            f"({moving_ct.describe_grid()} vs {fixed_ct.describe_grid()}); they cannot be "
            "registered. Check that both belong to this patient and frame of reference."
        )
    identity = sitk.Euler3DTransform()
    before = _overlaps(fixed_ct, _resampled_ct(moving_ct, fixed_ct, identity))
    if method == "none":
        transform: sitk.Transform = identity
        metric = None
    else:
        fixed = fixed_ct.to_sitk()
        moving = moving_ct.to_sitk()
        fixed = sitk.Cast(fixed, sitk.sitkFloat32)
        moving = sitk.Cast(moving, sitk.sitkFloat32)
        init = sitk.CenteredTransformInitializer(
            fixed, moving, sitk.Euler3DTransform(),
            sitk.CenteredTransformInitializerFilter.GEOMETRY)
        reg = _mattes_registration()
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=2.0, minStep=1e-4, numberOfIterations=200,
            relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8)
        reg.SetOptimizerScalesFromPhysicalShift()
        reg.SetShrinkFactorsPerLevel([4, 2, 1])
        reg.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
        reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
        reg.SetInitialTransform(init, inPlace=False)
        rigid = reg.Execute(fixed, moving)
        metric = float(reg.GetMetricValue())
        transform = rigid
        if method == "deformable":
            mesh = [4] * fixed.GetDimension()
            bspline = sitk.BSplineTransformInitializer(fixed, mesh)
            reg2 = _mattes_registration()
            reg2.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=50)
            reg2.SetMovingInitialTransform(rigid)
            reg2.SetInitialTransform(bspline, inPlace=True)
            reg2.SetShrinkFactorsPerLevel([2, 1])
            reg2.SetSmoothingSigmasPerLevel([1.0, 0.0])
            reg2.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
            reg2.Execute(fixed, moving)
            metric = float(reg2.GetMetricValue())
            transform = sitk.CompositeTransform([rigid, bspline])
    after = _overlaps(fixed_ct, _resampled_ct(moving_ct, fixed_ct, transform))
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    euler = _euler_part(transform)
    if euler is not None:
        translation = tuple(float(v) for v in euler.GetTranslation())  # type: ignore[assignment]
        rotation = tuple(float(np.degrees(a)) for a in (  # type: ignore[assignment]
            euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ()))
    notes = []
    if after[0] < BODY_DICE_WARN or after[1] < BONE_DICE_WARN:
        msg = (f"registration of {moving_name} to {fixed_name} may be poor: body Dice "
               f"{after[0]:.3f} (warn < {BODY_DICE_WARN}), bone Dice {after[1]:.3f} (warn < "
               f"{BONE_DICE_WARN}); check the fused images before using this time point.")
        notes.append(msg)
        warnings.warn(msg, NetdoseWarning, stacklevel=2)
    return Registration(method, transform, after[0], after[1], before[0], before[1],
                        translation, rotation, metric, tuple(notes))


def _euler_part(transform: sitk.Transform) -> sitk.Euler3DTransform | None:
    t = transform
    if isinstance(t, sitk.CompositeTransform) or t.GetName() == "CompositeTransform":
        comp = sitk.CompositeTransform(t)
        t = comp.GetNthTransform(0)
    try:
        return sitk.Euler3DTransform(t)
    except (RuntimeError, TypeError):
        return None


def apply_to_image(image: Image, reference: Image, registration: Registration,
                   fill_value: float = 0.0) -> Image:
    """Move an image of the moving time point (e.g. its SPECT in Bq/mL) onto the reference
    grid with the registration (linear interpolation; concentrations are kept)."""
    out = sitk.Resample(image.to_sitk(), reference.to_sitk(), registration.transform,
                        sitk.sitkLinear, float(fill_value), sitk.sitkFloat32)
    return Image.from_sitk(out, meta={**image.meta, "registered_to_reference": True})


def apply_to_mask(mask: Image, reference: Image, registration: Registration) -> Image:
    """Move a boolean mask of the moving time point onto the reference grid (nearest)."""
    src = mask.with_array(np.asarray(mask.array, dtype=np.uint8))
    out = sitk.Resample(src.to_sitk(), reference.to_sitk(), registration.transform,
                        sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return reference.with_array(sitk.GetArrayFromImage(out).astype(bool))
