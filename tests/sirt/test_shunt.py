"""Lung shunt fraction: the worked planar case, SPECT/CT and planar LSF on the SIRT phantom
against its truth, the planar bias, truncated lungs, missing lung masks and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from netdose_phantoms.sirt_liver import composite_masks, sirt_liver

from netdose.errors import GeometryError, InputError
from netdose.image import Image, coverage_fraction
from netdose.io import read_image
from netdose.io.masks import NamedMask, load_masks
from netdose.sirt.shunt import (
    LUNG_MARGIN_MM,
    LsfResult,
    lsf_planar,
    lsf_planar_images,
    lsf_spect,
    planar_rois,
    project_ap,
)


@pytest.fixture(scope="module")
def phantom():
    return sirt_liver(lung_shunt_fraction=0.10)


@pytest.fixture(scope="module")
def masks(phantom):
    return composite_masks(phantom)


# ---------------------------------------------------------------------- planar
def test_worked_planar_case():
    # lung 12000/10000, liver 150000/120000 counts: GM 10954.45 and 134164.08 -> 7.549 %.
    res = lsf_planar(12000, 10000, 150000, 120000)
    assert res.method == "planar"
    assert res.lsf_pct == pytest.approx(7.549, abs=5e-4)
    assert res.counts["gm_lung"] == pytest.approx(np.sqrt(12000 * 10000))
    assert res.counts["gm_liver"] == pytest.approx(np.sqrt(150000 * 120000))
    assert any("overestimate" in w for w in res.warnings)
    assert res.summary()["lsf_pct"] == pytest.approx(7.549, abs=5e-4)


@pytest.mark.parametrize(
    "args, match",
    [
        ((-1, 10, 100, 100), "lung_anterior"),
        ((10, float("nan"), 100, 100), "lung_posterior"),
        ((0, 0, 0, 0), "both 0"),
        ((10, 10, 0, 100), "liver ROI has no counts"),
        (("a", 10, 100, 100), "not a number"),
    ],
)
def test_planar_bad_counts(args, match):
    with pytest.raises(InputError, match=match):
        lsf_planar(*args)


def test_planar_from_the_phantom_projections_matches_its_truth(phantom, masks):
    ex = phantom.extras
    truth = phantom.truth["planar"]
    res = lsf_planar_images(
        ex["planar_anterior"], ex["planar_posterior"], ex["planar_roi_lungs"],
        ex["planar_roi_liver"], posterior_orientation="patient",
    )
    assert res.lsf == pytest.approx(truth["lung_shunt_fraction_planar"], rel=1e-12)
    assert res.counts["lung_anterior"] == pytest.approx(truth["anterior_lungs"], rel=1e-12)
    assert res.counts["liver_posterior"] == pytest.approx(truth["posterior_liver"], rel=1e-12)
    # ROIs from the 3-D masks reproduce the phantom's ROIs (projection, lungs minus liver).
    roi_lung, roi_liver = planar_rois(masks["liver"], masks["lungs"])
    assert np.array_equal(roi_lung.array, ex["planar_roi_lungs"].array.astype(bool))
    assert np.array_equal(roi_liver.array, ex["planar_roi_liver"].array.astype(bool))
    assert roi_lung.same_grid(ex["planar_roi_lungs"])
    # A posterior view as the camera shows it (mirrored) gives the same LSF.
    post = ex["planar_posterior"]
    mirrored = post.with_array(post.array[:, :, ::-1])
    res_m = lsf_planar_images(ex["planar_anterior"], mirrored, roi_lung, roi_liver,
                              posterior_orientation="mirrored")
    assert res_m.lsf == pytest.approx(res.lsf, rel=1e-12)


@pytest.mark.parametrize("lsf_true", [0.05, 0.10, 0.20])
def test_spect_recovers_the_phantom_lsf_and_planar_overestimates(lsf_true, phantom, masks):
    ph = phantom if lsf_true == 0.10 else sirt_liver(lung_shunt_fraction=lsf_true)
    m = masks if lsf_true == 0.10 else composite_masks(ph)
    spect = lsf_spect(ph.activity, m["liver"], m["lungs"])
    truth = ph.truth["lung_shunt_fraction"]
    # The label map is the truth: counts summed over the label masks are exact.
    assert spect.lsf == pytest.approx(truth, rel=1e-12)
    assert spect.lsf_spill_corrected == pytest.approx(truth, rel=1e-12)  # uniform lungs
    assert spect.lung_truncated is False and spect.truncation == ()
    assert spect.warnings == ()
    assert spect.counts["lung_ml"] == pytest.approx(ph.truth["groups"]["lungs"]["volume_ml"])
    ex = ph.extras
    planar = lsf_planar_images(ex["planar_anterior"], ex["planar_posterior"],
                               ex["planar_roi_lungs"], ex["planar_roi_liver"],
                               posterior_orientation="patient")
    assert planar.lsf == pytest.approx(ph.truth["planar"]["lung_shunt_fraction_planar"], rel=1e-12)
    assert planar.lsf > 1.5 * spect.lsf  # the known planar bias (narrow-beam attenuation)


def test_lungs_as_lobes_mapping_and_named_masks_with_fractions(phantom, masks):
    lab = phantom.labels
    lobes = {"lung_right": lab.with_array(lab.array == 7), "lung_left": lab.with_array(lab.array == 8)}
    res = lsf_spect(phantom.activity, masks["liver"], lobes)
    assert res.lsf == pytest.approx(phantom.truth["lung_shunt_fraction"], rel=1e-12)
    res_list = lsf_spect(phantom.activity, masks["liver"], list(lobes.values()))
    assert res_list.lsf == pytest.approx(res.lsf, rel=1e-15)
    # NamedMasks on the same grid (fraction None): native volume known, nothing truncated.
    named = [NamedMask(k, v, float(v.array.sum()) * lab.voxel_volume_ml,
                       float(v.array.sum()) * lab.voxel_volume_ml, None, "phantom")
             for k, v in lobes.items()]
    res_named = lsf_spect(phantom.activity, masks["liver"], named, use_fraction=True)
    assert res_named.lsf == pytest.approx(res.lsf, rel=1e-12)
    assert res_named.lung_visible_fraction == pytest.approx(1.0)
    assert res_named.lung_truncated is False


def test_spill_margin_removes_liver_dome_spill(phantom, masks):
    # Put liver-level counts into the lung bases within 10 mm of the liver (as SPECT blur
    # does): the plain LSF rises, the spill-corrected one stays at the truth.
    a = phantom.activity
    arr = a.array.copy()
    dome = masks["lungs"].array & _near(masks["liver"], 10.0)
    assert dome.sum() > 50
    arr[dome] = a.array[masks["liver"].array].mean()
    res = lsf_spect(a.with_array(arr), masks["liver"], masks["lungs"])
    truth = phantom.truth["lung_shunt_fraction"]
    assert res.lsf > 1.2 * truth
    assert res.lsf_spill_corrected == pytest.approx(truth, rel=1e-9)
    assert res.lung_margin_mm == LUNG_MARGIN_MM == 20.0
    assert res.constants["lung_margin_mm"] == 20.0
    zero = lsf_spect(a.with_array(arr), masks["liver"], masks["lungs"], lung_margin_mm=0.0)
    assert zero.lsf_spill_corrected == pytest.approx(zero.lsf, rel=1e-12)


def _near(mask: Image, mm: float) -> np.ndarray:
    import scipy.ndimage

    d = scipy.ndimage.distance_transform_edt(~mask.array, sampling=mask.spacing_mm[::-1])
    return d <= mm


# ---------------------------------------------------------------------- truncation
def test_lungs_cut_by_the_spect_field_of_view(phantom, masks):
    a = phantom.activity
    keep = 82  # slices kept from the bottom: the top of the FOV at z = 200 mm cuts the lungs
    crop = Image(a.array[:keep], a.spacing_mm, a.origin_mm, a.direction)
    lungs = masks["lungs"]
    frac = coverage_fraction(lungs, crop)
    native_ml = float(lungs.array.sum()) * a.voxel_volume_ml
    named = NamedMask("lungs", crop.with_array(frac.array >= 0.5), native_ml,
                      float((frac.array >= 0.5).sum()) * a.voxel_volume_ml,
                      frac.with_array(frac.array.astype(np.float32)), "phantom lungs")
    liver = crop.with_array(masks["liver"].array[:keep])
    res = lsf_spect(crop, liver, named)
    expected_visible = lungs.array[:keep].sum() / lungs.array.sum()
    assert res.lung_truncated is True
    assert res.lung_visible_fraction == pytest.approx(expected_visible, rel=1e-6)
    assert 0.8 < res.lung_visible_fraction < 0.95
    assert any("superior edge" in t for t in res.truncation)
    assert any("native lung volume" in t for t in res.truncation)
    assert any("underestimated" in w and "Re-acquire" in w for w in res.warnings)
    assert res.lsf < phantom.truth["lung_shunt_fraction"]  # lung counts are missing
    # A plain boolean mask: truncation found from the FOV edge, visible fraction unknown.
    plain = lsf_spect(crop, liver, crop.with_array(frac.array >= 0.5))
    assert plain.lung_truncated is True and plain.lung_visible_fraction is None


def test_lungs_cut_by_the_ct_field_of_view_are_flagged(phantom, masks):
    lungs = masks["lungs"].array.copy()
    lungs[82:] = False  # the CT stopped at z = 200 mm; the SPECT goes on
    res = lsf_spect(phantom.activity, masks["liver"], masks["lungs"].with_array(lungs))
    assert res.lung_truncated is True
    assert any("cut flat" in t and "superior" in t for t in res.truncation)


# ---------------------------------------------------------------------- not checked
def test_no_lung_mask_is_reported_as_not_checked(phantom, masks):
    res = lsf_spect(phantom.activity, masks["liver"], None)
    assert res.lsf is None and res.lsf_pct is None and not res.checked
    assert res.lung_truncated is None
    assert any("not checked: no lung mask" in n for n in res.not_checked)
    assert res.summary()["lsf"] is None


def test_real_maa_sample_states_that_the_lsf_was_not_checked(maa_dir):
    spect = read_image(maa_dir / "patient_2_SPECT.nrrd")
    seg = load_masks(maa_dir / "patient_2_Segmentation.seg.nrrd", spect)
    assert not any("lung" in n.casefold() for n in seg.names)  # the sample has no lung mask
    res = lsf_spect(spect, seg["liver"], None)
    assert isinstance(res, LsfResult) and res.lsf is None
    assert res.not_checked and "no lung mask" in res.not_checked[0]
    assert res.counts["liver"] > 0.5 * res.counts["total_fov"]


# ---------------------------------------------------------------------- bad inputs
def test_mask_on_another_grid_raises_geometry_error(phantom, masks):
    other = Image(masks["lungs"].array, (4.0, 4.0, 4.0))
    with pytest.raises(GeometryError, match="lung"):
        lsf_spect(phantom.activity, masks["liver"], {"lung_left": other})


@pytest.mark.parametrize("case, match", [
    ("nan", "NaN"),
    ("empty_liver", "liver mask .* is empty"),
    ("empty_lung", "does not include the lungs"),
    ("margin", "lung_margin_mm"),
    ("type", "lung must be a mask"),
])
def test_bad_inputs(case, match, phantom, masks):
    a, liver, lungs = phantom.activity, masks["liver"], masks["lungs"]
    with pytest.raises(InputError, match=match):
        if case == "nan":
            arr = a.array.copy()
            arr[0, 0, 0] = np.nan
            lsf_spect(a.with_array(arr), liver, lungs)
        elif case == "empty_liver":
            lsf_spect(a, liver.with_array(np.zeros(liver.shape, bool)), lungs)
        elif case == "empty_lung":
            lsf_spect(a, liver, lungs.with_array(np.zeros(lungs.shape, bool)))
        elif case == "margin":
            lsf_spect(a, liver, lungs, lung_margin_mm=-1.0)
        elif case == "type":
            lsf_spect(a, liver, 3.0)  # type: ignore[arg-type]


def test_overlapping_liver_and_lung_masks_count_as_lung(phantom, masks):
    # A sloppy lung mask that reaches 10 mm into the liver dome.
    dome = masks["liver"].array & _near(masks["lungs"], 10.0)
    assert dome.sum() > 50
    lungs = masks["lungs"].array | dome
    res = lsf_spect(phantom.activity, masks["liver"], masks["lungs"].with_array(lungs))
    assert any(f"{int(dome.sum())} voxel(s) are in both" in w for w in res.warnings)
    a = phantom.activity.array
    c_lung = a[lungs].sum()
    c_liver = a[masks["liver"].array & ~lungs].sum()
    assert res.lsf == pytest.approx(c_lung / (c_lung + c_liver), rel=1e-12)
    assert res.lsf > phantom.truth["lung_shunt_fraction"]


def test_planar_image_errors(phantom):
    ex = phantom.extras
    with pytest.raises(InputError, match="posterior_orientation"):
        lsf_planar_images(ex["planar_anterior"], ex["planar_posterior"], ex["planar_roi_lungs"],
                          ex["planar_roi_liver"], posterior_orientation="flipped")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="overlap"):
        lsf_planar_images(ex["planar_anterior"], ex["planar_posterior"], ex["planar_roi_liver"],
                          ex["planar_roi_liver"], posterior_orientation="patient")
    with pytest.raises(GeometryError):
        lsf_planar_images(ex["planar_anterior"], phantom.activity, ex["planar_roi_lungs"],
                          ex["planar_roi_liver"], posterior_orientation="patient")
    with pytest.raises(GeometryError, match="anterior-posterior"):
        oblique = Image(np.ones((2, 2, 2), bool), (1, 1, 1),
                        direction=(1, 0, 0, 0, 0, 1, 0, 1, 0))
        project_ap(oblique)
