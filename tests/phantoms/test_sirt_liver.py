"""SIRT liver phantom (Tc-99m MAA): the truth (LSF, TNR, GI deposit) recovered from the images
and masks, anatomy, planar projections against a naive reference, bad inputs."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from netdose_phantoms._shapes import Grid, arc_tube, ellipsoid, layer_fractions
from netdose_phantoms.sirt_liver import SIRT_TISSUES, composite_masks, sirt_liver

from netdose.dosimetry import density_from_ct
from netdose.errors import InputError

LIVER = ("perfused_normal", "nonperfused_normal", "tumour_1", "tumour_2", "tumour_3")
TUMOURS = ("tumour_1", "tumour_2", "tumour_3")
LUNGS = ("lung_left", "lung_right")


@pytest.fixture(scope="module")
def plain():
    return sirt_liver()


@pytest.fixture(scope="module")
def stomach_spot():
    return sirt_liver(gi_hot_spot="stomach", hot_spot_fraction=0.03, lung_shunt_fraction=0.15,
                      tumour_to_normal=4.0)


@pytest.fixture(scope="module")
def duodenum_spot():
    return sirt_liver(gi_hot_spot="duodenum", hot_spot_fraction=0.05, free_pertechnetate_fraction=0.04)


def _activity_bq(ph, names) -> float:
    mask = np.isin(ph.labels.array, [v for v, n in ph.label_names.items() if n in names])
    return float(ph.activity.array[mask].sum()) * ph.activity.voxel_volume_ml


def _mean_conc(ph, names) -> float:
    mask = np.isin(ph.labels.array, [v for v, n in ph.label_names.items() if n in names])
    return float(ph.activity.array[mask].mean())


def _volume_ml(ph, names) -> float:
    mask = np.isin(ph.labels.array, [v for v, n in ph.label_names.items() if n in names])
    return int(mask.sum()) * ph.labels.voxel_volume_ml


# ---------------------------------------------------------------------------- truth recovery
@pytest.mark.parametrize("which, lsf, tnr", [("plain", 0.10, 3.0), ("stomach_spot", 0.15, 4.0),
                                             ("duodenum_spot", 0.10, 3.0)])
def test_lsf_and_tnr_recovered_from_images_and_masks(request, which, lsf, tnr):
    ph = request.getfixturevalue(which)
    a_lung = _activity_bq(ph, LUNGS)
    a_liver = _activity_bq(ph, LIVER)
    assert a_lung / (a_lung + a_liver) == pytest.approx(lsf, rel=1e-3)
    assert ph.truth["lung_shunt_fraction"] == pytest.approx(a_lung / (a_lung + a_liver), rel=1e-9)
    measured_tnr = _mean_conc(ph, TUMOURS) / _mean_conc(ph, ("perfused_normal",))
    assert measured_tnr == pytest.approx(tnr, rel=1e-3)
    assert ph.truth["tumour_to_normal"] == tnr
    # Uniform lungs, nothing in the non-perfused liver or the body.
    lungs = np.isin(ph.labels.array, [v for v, n in ph.label_names.items() if n in LUNGS])
    assert np.ptp(ph.activity.array[lungs]) == 0.0
    for name in ("nonperfused_normal", "body", "duodenum"):
        assert _activity_bq(ph, (name,)) == 0.0


@pytest.mark.parametrize("which", ["plain", "stomach_spot", "duodenum_spot"])
def test_total_activity_is_the_injected_activity(request, which):
    ph = request.getfixturevalue(which)
    total = float(ph.activity.array.sum()) * ph.activity.voxel_volume_ml
    assert total == pytest.approx(150.0e6, rel=1e-9)
    assert ph.truth["total_activity_bq"] == pytest.approx(150.0e6, rel=1e-9)
    parts = sum(c["activity_bq"] for c in ph.truth["compartments"].values())
    assert parts == pytest.approx(150.0e6, rel=1e-9)


def test_hot_spot_only_when_asked(plain, stomach_spot, duodenum_spot):
    assert "gi_hot_spot" not in plain.label_names.values()
    assert plain.truth["hot_spot"] is None
    assert plain.truth["lung_shunt_fraction_gi_in_denominator"] == plain.truth["lung_shunt_fraction"]
    outside = ~np.isin(plain.labels.array, [v for v, n in plain.label_names.items() if n in LIVER + LUNGS])
    assert not plain.activity.array[outside].any()
    for ph, site, fraction in ((stomach_spot, "stomach", 0.03), (duodenum_spot, "duodenum", 0.05)):
        hs = ph.truth["hot_spot"]
        assert hs["site"] == site
        assert _activity_bq(ph, ("gi_hot_spot",)) == pytest.approx(fraction * 150.0e6, rel=1e-9)
        assert _volume_ml(ph, ("gi_hot_spot",)) == pytest.approx(3.0, rel=0.3)
        assert hs["volume_ml_analytic"] == 3.0
        # The spot sits in its organ: most of its neighbours are that organ, none is liver or
        # lung (the stomach spot lies 2 mm inside the wall, so at 4.42 mm some are body).
        mask = ph.mask("gi_hot_spot").array
        grown = mask.copy()
        for axis in range(3):
            grown |= np.roll(mask, 1, axis) | np.roll(mask, -1, axis)
        ring = ph.labels.array[grown & ~mask]
        names = [ph.label_names[int(v)] for v in ring]
        assert set(names) <= {site, "body"}, set(names)
        assert names.count(site) > 0.5 * len(names)


def test_lsf_with_gi_in_the_denominator(duodenum_spot):
    ph = duodenum_spot
    a_lung = _activity_bq(ph, LUNGS)
    a_liver = _activity_bq(ph, LIVER)
    a_gi = _activity_bq(ph, ("gi_hot_spot", "stomach"))
    assert a_gi == pytest.approx((0.05 + 0.04) * 150.0e6, rel=1e-9)
    assert ph.truth["lung_shunt_fraction_gi_in_denominator"] == pytest.approx(
        a_lung / (a_lung + a_liver + a_gi), rel=1e-9
    )
    # Free pertechnetate: uniform over the stomach.
    stomach = ph.mask("stomach").array
    assert np.ptp(ph.activity.array[stomach]) == 0.0
    assert _activity_bq(ph, ("stomach",)) == pytest.approx(0.04 * 150.0e6, rel=1e-9)


def test_lsf_zero_is_allowed():
    ph = sirt_liver(8.0, lung_shunt_fraction=0.0)
    assert _activity_bq(ph, LUNGS) == 0.0
    assert ph.truth["planar"]["lung_shunt_fraction_planar"] == 0.0


# ---------------------------------------------------------------------------- anatomy
def test_volumes_masses_and_positions(plain):
    tr = plain.truth
    groups = tr["groups"]
    assert 1500.0 <= groups["liver"]["volume_ml"] <= 1800.0
    assert 150.0 <= groups["tumours"]["volume_ml"] <= 250.0
    assert groups["perfused_volume"]["volume_ml"] < groups["liver"]["volume_ml"]
    for lung in LUNGS:
        assert 2200.0 <= tr["compartments"][lung]["volume_ml"] <= 3000.0
        assert tr["compartments"][lung]["mass_g"] == pytest.approx(0.26 * tr["compartments"][lung]["volume_ml"])
    assert 300.0 <= tr["compartments"]["stomach"]["volume_ml"] <= 700.0
    assert 50.0 <= tr["compartments"]["duodenum"]["volume_ml"] <= 200.0
    for t in TUMOURS:
        c = tr["compartments"][t]
        assert c["volume_ml"] == pytest.approx(c["volume_ml_analytic"], rel=0.01)
        assert c["volume_ml"] == pytest.approx(_volume_ml(plain, (t,)), rel=1e-12)
    # Volume-preserving labels: every label volume within one voxel of its covered volume.
    v = plain.labels.voxel_volume_ml
    for name, c in tr["compartments"].items():
        assert abs(c["volume_ml"] - c["volume_ml_fractional"]) <= v, name
    masks = composite_masks(plain)
    lab = plain.labels

    def centroid(mask):
        idx = np.argwhere(mask.array)[:, ::-1].mean(axis=0)
        return lab.physical_points(idx)

    liver_c = centroid(masks["liver"])
    assert liver_c[0] < 0.0  # patient's right (LPS -x)
    assert centroid(plain.mask("stomach"))[0] > 0.0  # left upper abdomen
    assert centroid(masks["lungs"])[2] > liver_c[2] + 80.0  # lungs above the liver
    assert centroid(plain.mask("lung_right"))[0] < 0.0 < centroid(plain.mask("lung_left"))[0]
    # Tumours lie in the perfused territory (x < -25 mm), inside the liver.
    for t in TUMOURS:
        idx = np.argwhere(plain.mask(t).array)[:, ::-1]
        assert plain.labels.physical_points(idx.astype(float))[:, 0].max() < -25.0
    # Every organ inside the body: the outermost ring of voxels in x/y is air.
    assert not lab.array[:, 0, :].any() and not lab.array[:, -1, :].any()
    assert not lab.array[:, :, 0].any() and not lab.array[:, :, -1].any()
    # The stomach touches the liver, the duodenum lies under it.
    liver = masks["liver"].array
    grown = liver | np.roll(liver, 1, 2) | np.roll(liver, -1, 2) | np.roll(liver, 1, 0) | np.roll(liver, -1, 0)
    assert (grown & plain.mask("stomach").array).any()


def test_density_and_ct_per_tissue(plain):
    lab = plain.labels.array
    for name, tissue in (("body", "soft_tissue"), ("perfused_normal", "liver"), ("tumour_1", "liver"),
                         ("lung_left", "lung"), ("stomach", "soft_tissue")):
        m = lab == next(v for v, n in plain.label_names.items() if n == name)
        assert np.all(plain.density_g_cm3.array[m] == np.float32(SIRT_TISSUES[tissue].density_g_cm3))
        assert np.all(plain.ct_hu.array[m] == np.float32(SIRT_TISSUES[tissue].hu))
    assert np.all(plain.ct_hu.array[lab == 0] == -1000.0)
    # netdose's Schneider calibration reads the CT back within 1.5 % for the tissues.
    rho = density_from_ct(plain.ct_hu).array
    inside = lab > 0
    assert np.allclose(rho[inside], plain.density_g_cm3.array[inside], rtol=0.015)


# ---------------------------------------------------------------------------- planar
def _naive_planar(ph, mu_water):
    """Voxel by voxel along y: transmission to the anterior (-y) and posterior (+y) surfaces."""
    act = ph.activity.array * ph.activity.voxel_volume_ml
    tau = mu_water * ph.density_g_cm3.array.astype(np.float64) * ph.labels.spacing_mm[1] / 10.0
    nz, ny, nx = act.shape
    ant = np.zeros((nz, nx))
    post = np.zeros((nz, nx))
    for j in range(ny):
        own = np.where(tau[:, j] > 0, (1 - np.exp(-tau[:, j])) / np.where(tau[:, j] > 0, tau[:, j], 1), 1)
        ant += act[:, j] * np.exp(-tau[:, :j].sum(axis=1)) * own
        post += act[:, j] * np.exp(-tau[:, j + 1:].sum(axis=1)) * own
    return ant, post


def test_planar_projections_against_a_naive_reference(stomach_spot):
    ph = stomach_spot
    pl = ph.truth["planar"]
    assert pl["mu_water_per_cm"] == pytest.approx(0.1536, abs=5e-4)  # XCOM water, 140.5 keV
    assert pl["photon_energy_kev"] == pytest.approx(140.511)
    ant, post = _naive_planar(ph, pl["mu_water_per_cm"])
    a_img = ph.extras["planar_anterior"]
    p_img = ph.extras["planar_posterior"]
    assert a_img.shape == (ph.labels.shape[0], 1, ph.labels.shape[2])
    assert np.allclose(a_img.array[:, 0, :], ant, rtol=1e-10, atol=0)
    assert np.allclose(p_img.array[:, 0, :], post, rtol=1e-10, atol=0)
    total = ph.truth["total_activity_bq"]
    assert 0.05 * total < a_img.array.sum() < total
    # Geometry: same x, z grid as the volume; one slab spanning the whole y extent.
    assert a_img.spacing_mm[0] == ph.labels.spacing_mm[0]
    assert a_img.spacing_mm[2] == ph.labels.spacing_mm[2]
    assert a_img.spacing_mm[1] == pytest.approx(ph.labels.shape[1] * ph.labels.spacing_mm[1])
    c_vol = ph.labels.physical_points(np.array([0.0, (ph.labels.shape[1] - 1) / 2, 0.0]))
    assert a_img.origin_mm == pytest.approx(tuple(c_vol))


def test_planar_geometric_mean_lsf(stomach_spot):
    ph = stomach_spot
    pl = ph.truth["planar"]
    roi_lung = ph.extras["planar_roi_lungs"].array.astype(bool)
    roi_liver = ph.extras["planar_roi_liver"].array.astype(bool)
    assert not (roi_lung & roi_liver).any()
    assert pl["roi_lung_liver_overlap_pixels"] > 0  # lung bases over the liver dome
    a = ph.extras["planar_anterior"].array
    p = ph.extras["planar_posterior"].array
    gm_lung = math.sqrt(a[roi_lung].sum() * p[roi_lung].sum())
    gm_liver = math.sqrt(a[roi_liver].sum() * p[roi_liver].sum())
    assert pl["gm_lungs"] == pytest.approx(gm_lung, rel=1e-12)
    assert pl["gm_liver"] == pytest.approx(gm_liver, rel=1e-12)
    assert pl["lung_shunt_fraction_planar"] == pytest.approx(gm_lung / (gm_lung + gm_liver), rel=1e-12)
    # The known planar bias: lungs attenuate less than the liver, so planar LSF > true LSF.
    assert pl["lung_shunt_fraction_planar"] > 1.2 * pl["lung_shunt_fraction_true"]


def test_planar_without_attenuation_is_the_activity_sum():
    ph = sirt_liver(8.0, planar_mu_water_per_cm=1e-9)
    act = ph.activity.array.sum(axis=1) * ph.activity.voxel_volume_ml
    assert np.allclose(ph.extras["planar_anterior"].array[:, 0, :], act, rtol=1e-7)
    pl = ph.truth["planar"]
    assert pl["lung_shunt_fraction_planar"] < pl["lung_shunt_fraction_true"]  # ROI excludes the dome


def test_noisy_planar_counts_are_seeded():
    a = sirt_liver(8.0, planar_counts_per_mbq=27000.0, seed=7)
    b = sirt_liver(8.0, planar_counts_per_mbq=27000.0, seed=7)
    c = sirt_liver(8.0, planar_counts_per_mbq=27000.0, seed=8)
    ca = a.extras["planar_anterior_counts"].array
    assert np.array_equal(ca, b.extras["planar_anterior_counts"].array)
    assert not np.array_equal(ca, c.extras["planar_anterior_counts"].array)
    expected = a.extras["planar_anterior"].array.sum() * 27000.0 / 1e6
    assert ca.sum() == pytest.approx(expected, rel=5 / math.sqrt(expected))
    assert "planar_anterior_counts" not in sirt_liver(8.0).extras


# ---------------------------------------------------------------------------- shapes
def test_arc_tube_and_ellipsoid_volumes():
    grid = Grid.covering((-70, -20, -70), (70, 20, 70), (1.0, 1.0, 1.0), 2.0)
    tube = arc_tube((0, 0, 0), (1, 0, 0), (0, 0, 1), 40.0, 10.0, (30.0, 300.0))
    vol = layer_fractions(grid, [tube], 4)[0].sum() / 1000.0
    expected = (math.pi * 100.0 * 40.0 * math.radians(270.0) + 4 / 3 * math.pi * 1000.0) / 1000.0
    assert vol == pytest.approx(expected, rel=2e-3)
    grid = Grid.covering((-40, -40, -40), (40, 40, 40), (2.0, 2.0, 2.0), 2.0)
    ell = ellipsoid((1.0, -2.0, 0.5), (35.0, 20.0, 12.0))
    vol = layer_fractions(grid, [ell], 6)[0].sum() * 8.0 / 1000.0
    assert vol == pytest.approx(4 / 3 * math.pi * 35 * 20 * 12 / 1000.0, rel=2e-3)


# ---------------------------------------------------------------------------- other
def test_generation_time_and_determinism():
    t0 = time.perf_counter()
    a = sirt_liver(gi_hot_spot="duodenum")
    assert time.perf_counter() - t0 < 10.0
    b = sirt_liver(gi_hot_spot="duodenum")
    for name in ("labels", "ct_hu", "density_g_cm3", "activity"):
        assert getattr(a, name).array.tobytes() == getattr(b, name).array.tobytes()
    assert a.extras["planar_anterior"].array.tobytes() == b.extras["planar_anterior"].array.tobytes()


def test_other_spacings():
    ph = sirt_liver((3.0, 3.0, 5.0), lung_shunt_fraction=0.2)
    assert ph.labels.spacing_mm == (3.0, 3.0, 5.0)
    a_lung = _activity_bq(ph, LUNGS)
    assert a_lung / (a_lung + _activity_bq(ph, LIVER)) == pytest.approx(0.2, rel=1e-9)


def test_write_nifti(tmp_path):
    ph = sirt_liver(8.0, gi_hot_spot="stomach")
    paths = ph.write_nifti(tmp_path)
    names = {p.name for p in paths}
    assert {"labels.nii.gz", "activity.nii.gz", "planar_anterior.nii.gz", "truth.json"} <= names
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["hot_spot"]["site"] == "stomach"


BAD = [
    ({"spacing_mm": -4.42}, "positive"),
    ({"spacing_mm": 0.5}, "supported range"),
    ({"lung_shunt_fraction": 1.0}, r"lung_shunt_fraction must be in \[0, 1\)"),
    ({"lung_shunt_fraction": -0.1}, r"lung_shunt_fraction must be in \[0, 1\)"),
    ({"lung_shunt_fraction": 10.0}, "not a percentage"),
    ({"tumour_to_normal": 0.0}, "tumour_to_normal must be > 0"),
    ({"tumour_to_normal": -2.0}, "tumour_to_normal must be > 0"),
    ({"injected_mbq": -150.0}, "injected_mbq must be > 0"),
    ({"injected_mbq": float("inf")}, "injected_mbq must be finite"),
    ({"gi_hot_spot": "colon"}, "unknown gi_hot_spot site 'colon'"),
    ({"gi_hot_spot": "stomach", "hot_spot_fraction": 0.0}, r"hot_spot_fraction must be in \(0, 1\)"),
    ({"gi_hot_spot": "stomach", "hot_spot_fraction": 1.5}, r"hot_spot_fraction must be in \(0, 1\)"),
    ({"gi_hot_spot": "stomach", "hot_spot_volume_ml": -3.0}, "hot_spot_volume_ml must be > 0"),
    ({"gi_hot_spot": "stomach", "hot_spot_volume_ml": 20.0}, "does not fit in the stomach"),
    ({"gi_hot_spot": "duodenum", "hot_spot_volume_ml": 12.0}, "does not fit in the duodenum"),
    ({"free_pertechnetate_fraction": 1.0}, r"free_pertechnetate_fraction must be in \[0, 1\)"),
    ({"gi_hot_spot": "duodenum", "hot_spot_fraction": 0.6, "free_pertechnetate_fraction": 0.5},
     "sum must be below 1"),
    ({"planar_mu_water_per_cm": 15.0}, "planar_mu_water_per_cm must be in"),
    ({"planar_counts_per_mbq": 0.0}, "planar_counts_per_mbq must be > 0"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"supersample": 0}, "supersample"),
    ({"gi_hot_spot": "duodenum", "hot_spot_volume_ml": 0.01}, "covers no voxel"),
]


@pytest.mark.parametrize("kwargs, message", BAD, ids=[str(k) for k, _ in BAD])
def test_bad_inputs(kwargs, message):
    kwargs = dict(kwargs)
    spacing = kwargs.pop("spacing_mm", 10.0)
    with pytest.raises(InputError, match=message):
        sirt_liver(spacing, **kwargs)
