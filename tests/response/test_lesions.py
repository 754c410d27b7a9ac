"""Lesion metrics (netdose.response.lesions): SUVpeak kernel against brute-force references,
the NEMA IEC phantom against its analytic sphere values, reference regions, the Krenning-type
score and bad inputs.

Tolerances are justified in docs/drafts/lesions.md ("Tests and tolerances").
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st
from netdose_phantoms.nema import NEMA_LABELS, nema_iec

from netdose.errors import GeometryError, InputError, NetdoseWarning, UnitsError
from netdose.image import Image
from netdose.io.masks import MaskSet, NamedMask
from netdose.response.lesions import (
    PEAK_RADIUS_MM,
    KrenningScale,
    LesionReport,
    measure_lesions,
    normalise_unit,
    peak_kernel,
    place_liver_sphere,
    sphere_means,
    suv_peak,
)

# A patient-like flip: x and y index axes run against LPS x and y (as in many NIfTI files).
FLIP_XY = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)


# ============================================================================ naive references
def naive_kernel(spacing_xyz, radius_mm, n_xyz) -> np.ndarray:
    """Every voxel sampled with n_x x n_y x n_z sub-points (no inside/outside shortcut)."""
    sx, sy, sz = spacing_xyz
    nx, ny, nz = n_xyz
    hz, hy, hx = (math.ceil(radius_mm / s + 0.5) for s in (sz, sy, sx))
    k = np.zeros((2 * hz + 1, 2 * hy + 1, 2 * hx + 1))
    uz = ((np.arange(nz) + 0.5) / nz - 0.5) * sz
    uy = ((np.arange(ny) + 0.5) / ny - 0.5) * sy
    ux = ((np.arange(nx) + 0.5) / nx - 0.5) * sx
    for iz in range(-hz, hz + 1):
        for iy in range(-hy, hy + 1):
            for ix in range(-hx, hx + 1):
                z = iz * sz + uz[:, None, None]
                y = iy * sy + uy[None, :, None]
                x = ix * sx + ux[None, None, :]
                inside = z**2 + y**2 + x**2 <= radius_mm**2
                k[iz + hz, iy + hy, ix + hx] = inside.mean()
    return k


def naive_sphere_means(arr, kernel, centres):
    """Weighted means by correlation: sum(w a) / sum(w), both over the array only."""
    num = scipy.ndimage.correlate(arr.astype(np.float64), kernel, mode="constant", cval=0.0)
    den = scipy.ndimage.correlate(np.ones_like(arr, dtype=np.float64), kernel, mode="constant")
    c = tuple(np.asarray(centres).T)
    return num[c] / den[c], den[c] / kernel.sum()


def auto_n(spacing_xyz):
    return tuple(min(max(math.ceil(s / 0.1 - 1e-9), 5), 50) for s in spacing_xyz)


def make_image(shape=(30, 32, 34), spacing=(2.0, 2.0, 2.0), value=1.0, direction=None, origin=None):
    arr = np.full(shape, value, dtype=np.float32)
    return Image(
        arr,
        spacing,
        origin if origin is not None else (0.0, 0.0, 0.0),
        direction if direction is not None else (1, 0, 0, 0, 1, 0, 0, 0, 1),
    )


def box_mask(img: Image, z: slice, y: slice, x: slice) -> Image:
    m = np.zeros(img.shape, dtype=bool)
    m[z, y, x] = True
    return img.with_array(m)


# ============================================================================ constants, kernel
def test_peak_radius_gives_one_millilitre():
    assert PEAK_RADIUS_MM == pytest.approx(6.2035, abs=5e-5)
    assert 4.0 / 3.0 * math.pi * PEAK_RADIUS_MM**3 == pytest.approx(1000.0, rel=1e-12)


@pytest.mark.parametrize(
    "spacing", [(1.0, 1.0, 1.0), (2.0, 2.0, 2.0), (4.0, 4.0, 4.0), (2.73, 2.73, 3.27), (1.5, 2.0, 5.0)]
)
def test_kernel_weights_sum_to_one_millilitre(spacing):
    # Sub-voxels of ~0.1 mm: the sampled sphere volume is within 0.1 % of 1 mL.
    k = peak_kernel(spacing)
    assert k.sum() * np.prod(spacing) / 1000.0 == pytest.approx(1.0, rel=1e-3)
    assert k.min() >= 0.0 and k.max() == 1.0
    # Symmetric under reflection of each axis.
    for axis in range(3):
        np.testing.assert_array_equal(k, np.flip(k, axis=axis))


@pytest.mark.parametrize("spacing,n", [((2.0, 2.0, 2.0), 6), ((3.0, 2.5, 4.0), (4, 5, 7))])
def test_kernel_equals_brute_force_supersampling(spacing, n):
    n_xyz = (n,) * 3 if isinstance(n, int) else n
    np.testing.assert_allclose(
        peak_kernel(spacing, supersample=n), naive_kernel(spacing, PEAK_RADIUS_MM, n_xyz), atol=1e-12
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    spacing=st.tuples(*[st.sampled_from([1.5, 2.0, 3.0, 4.0])] * 3),
    shape=st.tuples(st.integers(3, 12), st.integers(3, 12), st.integers(3, 12)),
)
def test_sphere_means_match_correlation_reference(seed, spacing, shape):
    rng = np.random.default_rng(seed)
    arr = rng.normal(5.0, 2.0, size=shape)
    kernel = peak_kernel(spacing, supersample=4)
    centres = np.argwhere(rng.random(shape) < 0.5)
    if centres.size == 0:
        centres = np.array([[0, 0, 0]])
    got, fov = sphere_means(arr, kernel, centres)
    want, want_fov = naive_sphere_means(arr, kernel, centres)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fov, want_fov, rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), a=st.floats(0.1, 10.0), b=st.floats(-5.0, 5.0))
def test_suv_peak_is_affine_and_bounded(seed, a, b):
    rng = np.random.default_rng(seed)
    img = make_image(shape=(12, 12, 12), spacing=(2.0, 2.0, 3.0))
    arr = rng.gamma(2.0, 1.5, size=img.shape)
    mask = box_mask(img, slice(3, 8), slice(2, 9), slice(4, 7))
    p1 = suv_peak(img.with_array(arr), mask, supersample=5)
    p2 = suv_peak(img.with_array(a * arr + b), mask, supersample=5)
    assert p2.value == pytest.approx(a * p1.value + b, rel=1e-10, abs=1e-10)
    assert p2.centre_index_zyx == p1.centre_index_zyx
    assert arr.min() <= p1.value <= arr.max()


@pytest.mark.parametrize("spacing", [(2.0, 2.0, 2.0), (4.0, 4.0, 4.0), (1.17, 1.17, 3.0)])
def test_uniform_field_peak_equals_field_value(spacing):
    img = make_image(shape=(20, 20, 20), spacing=spacing, value=3.7)
    inner = box_mask(img, slice(8, 12), slice(8, 12), slice(8, 12))
    edge = box_mask(img, slice(0, 1), slice(0, 1), slice(0, 1))  # sphere cut by the border
    value = float(np.float32(3.7))  # the image is float32
    assert suv_peak(img, inner).value == pytest.approx(value, rel=1e-12)
    p = suv_peak(img, edge)
    assert p.value == pytest.approx(value, rel=1e-12)
    assert p.fov_fraction < 0.5


@pytest.mark.parametrize("spacing", [(2.0, 2.0, 2.0), (4.0, 4.0, 4.0), (2.0, 3.0, 5.0)])
def test_single_hot_voxel_peak(spacing):
    img = make_image(shape=(15, 15, 15), spacing=spacing, value=0.0)
    arr = np.zeros(img.shape)
    arr[7, 7, 7] = 10.0
    mask = box_mask(img, slice(6, 9), slice(6, 9), slice(6, 9))
    p = suv_peak(img.with_array(arr), mask)
    # Same sub-sampling, brute force: the hot voxel has weight 1 at the centre.
    k = naive_kernel(spacing, PEAK_RADIUS_MM, auto_n(spacing))
    assert p.value == pytest.approx(10.0 / k.sum(), rel=1e-12)
    # Against the exact sphere volume: 10 x v_voxel / 1 mL, within the 0.1 % kernel accuracy.
    assert p.value == pytest.approx(10.0 * np.prod(spacing) / 1000.0, rel=1e-3)


def test_peak_sphere_may_extend_beyond_the_mask():
    img = make_image(shape=(15, 15, 15), value=1.0)
    arr = np.ones(img.shape)
    arr[7, 7, 9] = 50.0  # hot voxel just outside the one-voxel mask, within the sphere
    mask = box_mask(img, slice(7, 8), slice(7, 8), slice(7, 8))
    p = suv_peak(img.with_array(arr), mask)
    assert p.value > 1.0
    assert p.centre_index_zyx == (7, 7, 7)


# ============================================================================ NEMA acceptance
@pytest.fixture(scope="module")
def nema_report():
    """NEMA IEC phantom, 2 mm voxels, 4:1, noise-free, in SUVbw (70 kg)."""
    phantom = nema_iec(2.0, sphere_to_background=4.0)
    weight_g = 70_000.0
    injected_bq = phantom.truth["injected_bq"]
    suv = phantom.activity.with_array(
        (phantom.activity.array * weight_g / injected_bq).astype(np.float32)
    )
    labels = phantom.labels.array
    spheres = {
        name: phantom.labels.with_array(labels == value)
        for value, name in NEMA_LABELS.items()
        if name.startswith("sphere_") and name != "sphere_wall"
    }
    background = phantom.labels.with_array(labels == 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        report = measure_lesions(suv, spheres, unit="SUVbw", liver_mask=background)
    truth = {
        "sphere_suv": phantom.truth["sphere_concentration_bq_ml"] * weight_g / injected_bq,
        "background_suv": phantom.truth["background_concentration_bq_ml"] * weight_g / injected_bq,
        "compartments": phantom.truth["compartments"],
    }
    return report, truth, background


@pytest.mark.parametrize("name", ["sphere_22mm", "sphere_28mm", "sphere_37mm"])
def test_nema_large_spheres_recover_analytic_suv(nema_report, name):
    report, truth, _ = nema_report
    m = report.lesion(name)
    # Acceptance: within 2 % of the analytic sphere SUV.
    assert m.suv_max == pytest.approx(truth["sphere_suv"], rel=0.02)
    assert m.suv_peak == pytest.approx(truth["sphere_suv"], rel=0.02)
    # Every voxel the best peak sphere touches lies wholly inside the hot sphere (R >= 11 mm >
    # 6.2 + 1.73 (half diagonal) + 1.73 (centre offset) mm), so the result is exact up to the
    # float32 image.
    assert m.suv_peak == pytest.approx(truth["sphere_suv"], rel=1e-6)
    assert m.volume_ml == pytest.approx(truth["compartments"][name]["volume_ml_labels"], rel=1e-12)
    assert m.tumour_to_liver == pytest.approx(4.0, rel=1e-6)


def test_nema_small_spheres_show_partial_volume_in_peak(nema_report):
    report, truth, _ = nema_report
    # The 10 and 13 mm spheres (R < 6.2 mm + voxel) cannot hold the whole 1 mL sphere.
    for name in ("sphere_10mm", "sphere_13mm"):
        assert report.lesion(name).suv_peak < 0.9 * truth["sphere_suv"]
    assert report.lesion("sphere_17mm").suv_peak == pytest.approx(truth["sphere_suv"], rel=0.01)


def test_nema_liver_reference_is_background(nema_report):
    report, truth, _background = nema_report
    liver = report.liver
    assert liver is not None and liver.kind == "sphere"
    assert liver.mean == pytest.approx(truth["background_suv"], rel=1e-6)
    assert liver.sd == pytest.approx(0.0, abs=1e-5)
    # Sphere wholly in the background and away from the hot spheres.
    centre = np.asarray(liver.centre_lps_mm)
    for name in ("sphere_37mm", "sphere_28mm", "sphere_22mm"):
        c = np.asarray(truth["compartments"][name]["centre_lps_mm"])
        r = truth["compartments"][name]["inner_diameter_mm"] / 2
        assert np.linalg.norm(centre - c) > 15.0 + r + 1.0  # + 1 mm glass wall
    # Scores: > liver, no spleen -> 3 or 4.
    assert report.lesion("sphere_37mm").krenning_score_range == (3, 4)
    assert report.lesion("sphere_37mm").krenning_score is None
    json.dumps(report.to_dict())


# ============================================================================ liver placement
def ellipsoid_liver(direction=None) -> tuple[Image, np.ndarray]:
    """An ellipsoidal 'liver' spanning LPS x -110..+30 mm (mostly on the patient's right)."""
    shape, spacing = (40, 50, 60), (3.0, 3.0, 3.0)
    if direction is None:
        origin = (-130.0, -75.0, -60.0)
    else:  # x, y index axes flipped: the same voxel centres, index 0 at the left/posterior
        origin = (-130.0 + 3.0 * (shape[2] - 1), -75.0 + 3.0 * (shape[1] - 1), -60.0)
    img = make_image(shape=shape, spacing=spacing, value=2.0, direction=direction, origin=origin)
    idx = np.argwhere(np.ones(shape, bool))
    pts = img.physical_points(idx[:, ::-1].astype(float))
    c = np.array([-40.0, 0.0, 0.0])
    semi = np.array([70.0, 50.0, 40.0])
    inside = (((pts - c) / semi) ** 2).sum(axis=1) <= 1.0
    liver = np.zeros(shape, bool)
    liver[tuple(idx[inside].T)] = True
    return img, liver


def sphere_voxels(img: Image, centre, radius):
    idx = np.argwhere(np.ones(img.shape, bool))
    pts = img.physical_points(idx[:, ::-1].astype(float))
    sel = np.zeros(img.shape, bool)
    sel[tuple(idx[np.linalg.norm(pts - np.asarray(centre), axis=1) <= radius].T)] = True
    return sel


@pytest.mark.parametrize("direction", [None, FLIP_XY])
def test_liver_sphere_inside_eroded_liver_on_patient_right(direction):
    img, liver = ellipsoid_liver(direction)
    lesion = np.zeros(img.shape, bool)
    # A lesion at the deepest point of the right half, so the sphere must move away from it.
    place0 = place_liver_sphere(img, img.with_array(liver))
    ci = place0.centre_index_zyx
    lesion[ci[0] - 1 : ci[0] + 2, ci[1] - 1 : ci[1] + 2, ci[2] - 1 : ci[2] + 2] = True
    place = place_liver_sphere(
        img, img.with_array(liver), avoid_masks=[img.with_array(lesion)], lesion_margin_mm=10.0
    )
    for p in (place0, place):
        sel = sphere_voxels(img, p.centre_lps_mm, 15.0)
        depth = scipy.ndimage.distance_transform_edt(np.pad(liver, 1), sampling=3.0)[1:-1, 1:-1, 1:-1]
        assert np.all(liver[sel])
        assert np.all(depth[sel] > 5.0)  # inside the liver eroded by the 5 mm edge margin
        liver_x = img.physical_points(np.argwhere(liver)[:, ::-1].astype(float))[:, 0]
        assert p.right_part and p.centre_lps_mm[0] <= np.median(liver_x)
        assert p.centre_lps_mm[0] < -40.0  # on the patient's right of the liver centre
    les_pts = img.physical_points(np.argwhere(lesion)[:, ::-1].astype(float))
    gap = np.min(np.linalg.norm(les_pts - np.asarray(place.centre_lps_mm), axis=1))
    assert gap > 15.0 + 10.0


def test_placement_is_the_same_for_flipped_index_axes():
    img_a, liver_a = ellipsoid_liver()
    img_b, liver_b = ellipsoid_liver(FLIP_XY)
    a = place_liver_sphere(img_a, img_a.with_array(liver_a))
    b = place_liver_sphere(img_b, img_b.with_array(liver_b))
    np.testing.assert_allclose(a.centre_lps_mm, b.centre_lps_mm, atol=1e-9)


def test_given_liver_centre_mean_and_sd():
    img, liver = ellipsoid_liver()
    rng = np.random.default_rng(3)
    arr = rng.normal(6.0, 0.8, size=img.shape)
    pet = img.with_array(arr)
    lesion = {"L1": box_mask(img, slice(18, 22), slice(20, 24), slice(40, 44))}
    centre = (-60.0, 3.0, 1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        rep = measure_lesions(
            pet, lesion, unit="SUVbw", liver_centre_lps_mm=centre, liver_mask=img.with_array(liver)
        )
    sel = sphere_voxels(img, centre, 15.0)
    assert rep.liver.n_voxels == int(sel.sum())
    assert rep.liver.mean == pytest.approx(arr[sel].mean(), rel=1e-12)
    assert rep.liver.sd == pytest.approx(arr[sel].std(ddof=1), rel=1e-12)
    assert rep.liver.centre_lps_mm == centre


def test_spleen_reference_with_erosion():
    img = make_image(shape=(20, 20, 20), spacing=(2.0, 2.0, 2.0), value=0.0)
    arr = np.zeros(img.shape)
    spleen = np.zeros(img.shape, bool)
    spleen[4:16, 4:16, 4:16] = True
    arr[spleen] = 8.0
    arr[5:15, 5:15, 5:15] = 10.0  # the rim (one voxel) is 8, the core 10
    lesions = {"L": box_mask(img, slice(0, 2), slice(0, 2), slice(0, 2))}
    pet = img.with_array(arr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        whole = measure_lesions(pet, lesions, unit="SUVbw", spleen_mask=img.with_array(spleen))
        eroded = measure_lesions(
            pet, lesions, unit="SUVbw", spleen_mask=img.with_array(spleen), spleen_erosion_mm=2.0
        )
    assert whole.spleen.mean == pytest.approx(arr[spleen].mean())
    assert eroded.spleen.mean == pytest.approx(10.0)
    assert eroded.spleen.n_voxels == 10**3


# ============================================================================ Krenning score
def scored_phantom():
    """Blood pool 1, liver 5, spleen 10 (boxes) and one-value lesions."""
    img = make_image(shape=(20, 40, 60), spacing=(2.0, 2.0, 2.0), value=0.0)
    arr = np.zeros(img.shape)
    blood = box_mask(img, slice(0, 4), slice(0, 4), slice(0, 4))
    liver = box_mask(img, slice(0, 20), slice(20, 40), slice(0, 30))
    spleen = box_mask(img, slice(0, 10), slice(20, 40), slice(40, 60))
    arr[blood.array] = 1.0
    arr[liver.array] = 5.0
    arr[spleen.array] = 10.0
    values = {"L0": 0.5, "L1": 2.0, "L2a": 4.0, "L2b": 5.0, "L3a": 7.0, "L3b": 10.0, "L4": 12.0}
    lesions = {}
    for i, (name, v) in enumerate(values.items()):
        m = box_mask(img, slice(12, 14), slice(2 + 4 * i, 4 + 4 * i), slice(40, 42))
        arr[m.array] = v
        lesions[name] = m
    return img.with_array(arr), lesions, blood, liver, spleen


def test_krenning_scores_against_references():
    pet, lesions, blood, _liver, spleen = scored_phantom()
    rep = measure_lesions(
        pet, lesions, unit="SUVbw", liver_centre_lps_mm=(30.0, 60.0, 19.0),
        spleen_mask=spleen, blood_pool_mask=blood,
    )
    assert rep.liver.mean == pytest.approx(5.0)
    want = {"L0": 0, "L1": 1, "L2a": 2, "L2b": 2, "L3a": 3, "L3b": 3, "L4": 4}
    assert {m.id: m.krenning_score for m in rep.lesions} == want
    assert rep.lesion("L4").tumour_to_spleen == pytest.approx(1.2)
    assert rep.lesion("L4").tumour_to_blood_pool == pytest.approx(12.0)
    assert rep.warnings == ()


def test_krenning_statistic_is_configurable():
    pet, lesions, blood, _liver, spleen = scored_phantom()
    arr = np.array(pet.array)
    arr[12, 2 + 4 * 4, 40] = 11.0  # one hot voxel in L3a (7): SUVmax 11, SUVmean 8
    pet = pet.with_array(arr)
    common = {"unit": "SUVbw", "liver_centre_lps_mm": (30.0, 60.0, 19.0), "spleen_mask": spleen,
                  "blood_pool_mask": blood}
    by_max = measure_lesions(pet, lesions, **common)
    by_mean = measure_lesions(pet, lesions, krenning=KrenningScale(statistic="suv_mean"), **common)
    assert by_max.lesion("L3a").krenning_score == 4
    assert by_mean.lesion("L3a").krenning_score == 3
    assert by_mean.to_dict()["krenning"]["statistic"] == "suv_mean"


def test_missing_references_give_score_ranges():
    pet, lesions, blood, _liver, _spleen = scored_phantom()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = measure_lesions(pet, lesions, unit="SUL", liver_centre_lps_mm=(30.0, 60.0, 19.0))
    assert {str(w.message) for w in caught if w.category is NetdoseWarning} == set(rep.warnings)
    assert any("no spleen reference" in w for w in rep.warnings)
    assert any("no blood-pool reference" in w for w in rep.warnings)
    got = {m.id: m.krenning_score_range for m in rep.lesions}
    assert got == {"L0": (0, 1), "L1": (0, 1), "L2a": (2, 2), "L2b": (2, 2), "L3a": (3, 4),
                   "L3b": (3, 4), "L4": (3, 4)}
    assert rep.lesion("L4").krenning_score is None
    assert rep.unit == "SUL"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        rep = measure_lesions(pet, lesions, unit="SUVbw", blood_pool_mask=blood)
    assert any("no liver reference" in w for w in rep.warnings)
    assert rep.lesion("L0").krenning_score == 0
    assert rep.lesion("L4").krenning_score_range == (1, 4)


@pytest.mark.parametrize(
    "value,refs,want",
    [
        (1.0, {"background": 1.0, "liver": 5.0, "spleen": 10.0}, (0, 0)),
        (2.5, {"background": 1.0, "liver": 5.0, "spleen": 10.0}, (1, 1)),
        (2.5001, {"background": 1.0, "liver": 5.0, "spleen": 10.0}, (2, 2)),
        (5.0, {"background": 1.0, "liver": 5.0, "spleen": 10.0}, (2, 2)),
        (10.0, {"background": 1.0, "liver": 5.0, "spleen": 10.0}, (3, 3)),
        (10.0001, {"background": None, "liver": 5.0, "spleen": 10.0}, (4, 4)),
        (6.0, {"background": None, "liver": 5.0, "spleen": None}, (3, 4)),
        (0.2, {"background": None, "liver": 5.0, "spleen": 10.0}, (0, 1)),
        (0.2, {"background": None, "liver": None, "spleen": None}, (0, 4)),
    ],
)
def test_krenning_score_range_table(value, refs, want):
    assert KrenningScale().score_range(value, **refs) == want


# ============================================================================ inputs, outputs
def test_maskset_and_namedmask_inputs_give_the_ids():
    img = make_image(shape=(10, 10, 10), value=2.0)
    m1 = box_mask(img, slice(2, 5), slice(2, 5), slice(2, 5))
    m2 = box_mask(img, slice(6, 8), slice(6, 8), slice(6, 8))
    named = [NamedMask("A", m1, 0.2, 0.2, None, "t"), NamedMask("B", m2, 0.06, 0.06, None, "t")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        r1 = measure_lesions(img, MaskSet(named, source="t"), unit="suv_bw")
        r2 = measure_lesions(img, named, unit="SUVbw")
    assert r1.ids == r2.ids == ("A", "B")
    a = r1.lesion("A")
    assert a.volume_ml == pytest.approx(27 * 0.008)
    assert a.total_lesion_uptake_suv_ml == pytest.approx(2.0 * 27 * 0.008)
    assert a.suv_sd == pytest.approx(0.0)
    assert a.unit == "SUVbw"
    assert isinstance(r1, LesionReport)
    json.dumps(r1.to_dict())


def test_no_lesions_is_a_valid_report():
    img = make_image(shape=(10, 10, 10), value=2.0)
    rep = measure_lesions(img, {}, unit="SUVbw")
    assert rep.lesions == () and rep.warnings == ()


def test_locations_are_in_lps():
    img = make_image(shape=(10, 10, 10), value=1.0, direction=FLIP_XY, origin=(50.0, 40.0, -5.0))
    zz, yy, xx = np.indices(img.shape)
    arr = 1.0 + 8.0 * np.exp(-((zz - 4) ** 2 + (yy - 5) ** 2 + (xx - 6) ** 2) / 4.0)
    mask = box_mask(img, slice(3, 6), slice(4, 7), slice(5, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        rep = measure_lesions(img.with_array(arr), {"L": mask}, unit="SUVbw")
    # index (x, y, z) = (6, 5, 4), spacing 2, x and y flipped: (50 - 12, 40 - 10, -5 + 8).
    assert rep.lesion("L").max_location_lps_mm == pytest.approx((38.0, 30.0, 3.0))
    assert rep.lesion("L").peak_location_lps_mm == pytest.approx((38.0, 30.0, 3.0))


def _bad_inputs():
    img = make_image(shape=(12, 12, 12), value=1.0)
    ok = {"L1": box_mask(img, slice(4, 7), slice(4, 7), slice(4, 7))}
    other_grid = make_image(shape=(12, 12, 12), spacing=(2.5, 2.0, 2.0))
    shifted = box_mask(other_grid, slice(4, 7), slice(4, 7), slice(4, 7))
    nan = np.ones(img.shape, dtype=np.float32)
    nan[1, 2, 3] = np.nan
    small_liver = box_mask(img, slice(2, 10), slice(2, 10), slice(2, 10))  # 16 mm cube
    labels = img.with_array(np.where(ok["L1"].array, 2, 0).astype(np.int16))
    return [
        ("grid", img, {"L7": shifted}, {}, GeometryError, "lesion mask 'L7' is not on the grid"),
        ("empty", img, {"L2": img.with_array(np.zeros(img.shape, bool))}, {}, InputError,
         "lesion mask 'L2' is empty"),
        ("nan", img.with_array(nan), ok, {}, InputError, "NaN"),
        ("small liver", img, ok, {"liver_mask": small_liver}, InputError,
         r"too small.*liver_centre_lps_mm.*--liver-centre"),
        ("unit", img, ok, {"unit": "Bq/mL"}, UnitsError, "not an SUV unit"),
        ("labels", img, {"L3": labels}, {}, InputError, "values other than 0 and 1"),
        ("not a mask", img, {"L4": np.ones((12, 12, 12), bool)}, {}, InputError,
         "lesion mask 'L4' must be a boolean netdose Image"),
        ("liver grid", img, ok, {"liver_mask": shifted}, GeometryError,
         "liver mask 'liver' is not on the grid"),
        ("centre outside", img, ok, {"liver_centre_lps_mm": (0.0, 0.0, 0.0)}, InputError,
         "does not lie wholly inside"),
        ("centre shape", img, ok, {"liver_centre_lps_mm": (1.0, 2.0)}, InputError,
         "three finite numbers"),
        ("bp diameter", img, ok, {"blood_pool_centre_lps_mm": (11.0, 11.0, 11.0)}, InputError,
         "needs blood_pool_diameter_mm"),
        ("bp both", img, ok, {"blood_pool_mask": ok["L1"], "blood_pool_centre_lps_mm": (1, 1, 1),
                              "blood_pool_diameter_mm": 5.0}, InputError, "not both"),
        ("supersample", img, ok, {"peak_supersample": 0}, InputError, "peak_supersample"),
        ("spleen eroded away", img, ok, {"spleen_mask": ok["L1"], "spleen_erosion_mm": 4.0},
         InputError, "empty after eroding"),
        ("lesions type", img, "L1", {}, InputError, "lesion_masks must be"),
        ("negative margin", img, ok, {"liver_mask": small_liver, "liver_edge_margin_mm": -1.0},
         InputError, "liver_edge_margin_mm"),
        ("pet type", np.ones((3, 3, 3)), ok, {}, InputError, "netdose Image"),
    ]


@pytest.mark.parametrize(
    "pet,masks,kwargs,error,match",
    [case[1:] for case in _bad_inputs()],
    ids=[case[0] for case in _bad_inputs()],
)
def test_bad_inputs(pet, masks, kwargs, error, match):
    kwargs = {"unit": "SUVbw", **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        with pytest.raises(error, match=match):
            measure_lesions(pet, masks, **kwargs)


def test_liver_fully_covered_by_lesion_margin():
    img, liver = ellipsoid_liver()
    lesion = box_mask(img, slice(15, 25), slice(20, 30), slice(20, 30))
    with pytest.raises(InputError, match="within 60 mm of a lesion.*liver_centre_lps_mm"):
        place_liver_sphere(img, img.with_array(liver), avoid_masks=[lesion], lesion_margin_mm=60.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"statistic": "suv_min"}, "statistic 'suv_min' is unknown"),
        ({"reference_statistic": "median"}, "reference statistic"),
        ({"very_low_fraction_of_liver": 1.5}, "between 0 and 1"),
    ],
)
def test_bad_krenning_scale(kwargs, match):
    with pytest.raises(InputError, match=match):
        KrenningScale(**kwargs)


@pytest.mark.parametrize("label,want", [("SUVbw", "SUVbw"), ("suv_lbm", "SUVlbm"), ("sul", "SUL")])
def test_unit_labels(label, want):
    assert normalise_unit(label) == want
