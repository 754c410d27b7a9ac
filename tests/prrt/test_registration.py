"""Registration of PRRT time points: a known rigid motion of the phantom CT is recovered,
the SPECT follows it, the quality figure flags a bad alignment, and bad inputs are refused."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from netdose_phantoms.prrt_patient import prrt_patient

from netdose.errors import GeometryError, InputError, NetdoseWarning
from netdose.image import Image
from netdose.prrt.registration import apply_to_image, apply_to_mask, register_ct


@pytest.fixture(scope="module")
def phantom():
    return prrt_patient(times_h=(24.0,))


def _moved(img: Image, transform: sitk.Transform, fill: float) -> Image:
    """The image as a scanner would see it after the patient moved: resample the reference
    through ``transform`` (reference point -> moved point) inverted."""
    out = sitk.Resample(img.to_sitk(), img.to_sitk(), transform.GetInverse(), sitk.sitkLinear,
                        fill, sitk.sitkFloat32)
    return Image.from_sitk(out)


def test_known_rigid_motion_is_recovered(phantom):
    ct = phantom.ct_hu
    motion = sitk.Euler3DTransform()
    motion.SetCenter(ct.physical_points(np.array([[54.0, 35.0, 45.0]]))[0].tolist())
    motion.SetRotation(0.0, 0.0, np.radians(3.0))
    motion.SetTranslation((6.0, -4.0, 8.0))
    moving_ct = _moved(ct, motion, -1000.0)
    spect = phantom.time_points[0].image
    moving_spect = _moved(spect, motion, 0.0)
    reg = register_ct(moving_ct, ct, method="rigid")
    # The recovered transform maps reference points to the moved ones like ``motion``.
    pts = ct.physical_points(np.array([[30, 20, 30], [80, 50, 60], [54, 35, 45]], float))
    for p in pts:
        got = np.array(reg.transform.TransformPoint(p.tolist()))
        want = np.array(motion.TransformPoint(p.tolist()))
        assert np.linalg.norm(got - want) < 1.5  # mm, well under one 3.9 mm voxel
    # Bone in this CT is thin (ribs, vertebrae at 3.9 x 3.9 x 4.4 mm) and the moved CT was
    # interpolated twice (motion, then registration): ~0.78 is what a correct alignment gives.
    assert reg.bone_dice > 0.7 and reg.body_dice > 0.97
    assert reg.bone_dice > reg.bone_dice_before + 0.2
    back = apply_to_image(moving_spect, spect, reg)
    kid = phantom.mask("kidneys").array
    # Against the same round trip through the true motion (so interpolation blur cancels):
    # kidney activity within 2 %, the total within 1 % (the 8 mm shift moves slices out of the
    # field of view, so the total is not that of the reference).
    ideal = Image.from_sitk(sitk.Resample(moving_spect.to_sitk(), spect.to_sitk(), motion,
                                          sitk.sitkLinear, 0.0, sitk.sitkFloat32))
    assert back.array[kid].sum() == pytest.approx(ideal.array[kid].sum(), rel=0.02)
    assert back.array.sum() == pytest.approx(ideal.array.sum(), rel=0.01)
    moved_mask = apply_to_mask(_moved(phantom.mask("kidneys").with_array(
        kid.astype(np.float32)), motion, 0.0).with_array(
        _moved(phantom.mask("kidneys").with_array(kid.astype(np.float32)), motion, 0.0).array
        > 0.5), spect, reg)
    inter = np.count_nonzero(moved_mask.array & kid)
    assert 2 * inter / (moved_mask.array.sum() + kid.sum()) > 0.85


def test_identity_for_aligned_time_points_and_deterministic(phantom):
    ct = phantom.ct_hu
    a = register_ct(ct, ct, method="none")
    assert a.body_dice == 1.0 and a.bone_dice == 1.0 and a.translation_mm == (0.0, 0.0, 0.0)
    r1 = register_ct(ct, ct, method="rigid")
    r2 = register_ct(ct, ct, method="rigid")
    # Reproducible to rounding (ITK's multi-threaded image filters sum in varying order).
    assert np.allclose(r1.transform.GetParameters(), r2.transform.GetParameters(), atol=1e-9)
    assert max(abs(v) for v in r1.translation_mm) < 0.5


def test_poor_alignment_warns(phantom):
    ct = phantom.ct_hu
    motion = sitk.Euler3DTransform()
    motion.SetTranslation((0.0, 0.0, 40.0))
    with pytest.warns(NetdoseWarning, match="may be poor"):
        reg = register_ct(_moved(ct, motion, -1000.0), ct, method="none")
    assert reg.bone_dice < 0.6 and reg.warnings


@pytest.mark.parametrize(
    ("case", "error", "match"),
    [
        ("not a CT", InputError, "does not look like a CT"),
        ("far away", GeometryError, "do not overlap"),
        ("bad method", InputError, "registration method"),
    ],
)
def test_bad_inputs(phantom, case, error, match):
    ct = phantom.ct_hu
    moving, method = ct, "rigid"
    if case == "not a CT":
        moving = phantom.time_points[0].image
    elif case == "far away":
        moving = Image(ct.array, ct.spacing_mm, (5000.0, 5000.0, 5000.0), ct.direction)
    else:
        method = "affine"
    with pytest.raises(error, match=match):
        register_ct(moving, ct, method=method)  # type: ignore[arg-type]
