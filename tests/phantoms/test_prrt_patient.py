"""PRRT patient phantom (Lu-177 DOTATATE): anatomy and orientation from the public data,
exact kinetics and TIA, image recovery, blur, noise, reference doses, cycles, bad inputs."""

from __future__ import annotations

import importlib.resources
import itertools
import json
import math
import time

import numpy as np
import pytest
from netdose_phantoms.base import _plain
from netdose_phantoms.interfile import read_interfile_zip
from netdose_phantoms.prrt_patient import (
    ATTN_MEMBER,
    COMPARTMENTS,
    DATA_ARCHIVE,
    DEFAULT_KINETICS,
    EXAMPLE_SENSITIVITY_CPS_PER_MBQ,
    SOURCE_CODES,
    SRC_MEMBER,
    OrganKinetics,
    _anatomy,
    prrt_cycles,
    prrt_patient,
)
from scipy import integrate

from netdose.dosimetry import dose_dvk
from netdose.errors import InputError, PhysicsRangeError
from netdose.nuclides import get_nuclide

T_PHYS_H = get_nuclide("Lu-177").half_life_h

#: Voxel counts of the organ codes as published with the data (data README, section 9.1).
PUBLISHED_VOXELS = {"liver": 15381, "spleen": 1535, "kidney_left": 2052, "kidney_right": 2493,
                    "tumour_1": 93, "tumour_2": 55, "tumour_3": 90}


@pytest.fixture(scope="module")
def phantom():
    return prrt_patient()


@pytest.fixture(scope="module")
def raw_maps() -> tuple[np.ndarray, np.ndarray]:
    res = importlib.resources.files("netdose_phantoms.data").joinpath(DATA_ARCHIVE)
    with res.open("rb") as fh:
        src = read_interfile_zip(fh, SRC_MEMBER, slice_thickness_unit="mm").array
    with res.open("rb") as fh:
        attn = read_interfile_zip(fh, ATTN_MEMBER, slice_thickness_unit="mm").array
    return src, attn


def centroid_lps(phantom, name: str) -> np.ndarray:
    idx_zyx = np.argwhere(phantom.mask(name).array).mean(axis=0)
    return phantom.labels.physical_points(idx_zyx[::-1])


# ------------------------------------------------------------------------------ the data
def test_source_map_facts(raw_maps) -> None:
    """What the source map holds outside the organ codes: a verbatim copy of the CT."""
    src, attn = raw_maps
    organs = src >= 15000
    assert {k: int(np.count_nonzero(src == c)) for k, c in SOURCE_CODES.items()} == PUBLISHED_VOXELS
    np.testing.assert_array_equal(src[~organs], attn[~organs])  # the "graded remainder" = CT
    couch = attn == 3000
    assert couch.sum() == 239 * 90  # the same couch cross-section on every slice
    assert np.nonzero(couch)[1].max() < 20  # rows 1-19 only: the couch lies at low y


def test_labels_volumes_and_slice_thickness(phantom) -> None:
    names = set(phantom.label_names.values())
    assert names == set(COMPARTMENTS) | {"couch"}
    org = phantom.truth["organs"]
    assert {k: org[k]["voxels"] for k in PUBLISHED_VOXELS} == PUBLISHED_VOXELS
    assert phantom.labels.spacing_mm == (3.9063, 3.9063, 4.4196)
    # 4.4196 is mm, not pixels: the liver is 1.04 L (17.3 mm slices would make it 4.1 L) and
    # GATE's source offset in the data README, 198.882 mm, is 45 slices x 4.4196 mm.
    assert org["liver"]["volume_ml"] == pytest.approx(1037.3, abs=0.1)
    assert 90 * 4.4196 / 2 == pytest.approx(198.882)
    assert 250 < org["kidney_left"]["volume_ml"] + org["kidney_right"]["volume_ml"] < 400
    body = phantom.truth["body"]
    assert 20_000 < body["mass_g"] < 30_000  # a torso single-bed field of view
    np.testing.assert_array_equal(phantom.mask("body").array, phantom.extras["mask_body"].array)
    kid = phantom.mask("kidneys").array
    assert kid.sum() == PUBLISHED_VOXELS["kidney_left"] + PUBLISHED_VOXELS["kidney_right"]


def test_orientation_is_lps(phantom) -> None:
    """LPS: +x patient left, +y posterior, +z head; checked on four anatomical cues."""
    c = {n: centroid_lps(phantom, n) for n in ("liver", "spleen", "kidney_left",
                                               "kidney_right", "body", "couch")}
    # liver and right kidney on the patient's right (-x), spleen and left kidney on the left
    assert c["liver"][0] < c["body"][0] < c["spleen"][0]
    assert c["kidney_right"][0] < c["body"][0] < c["kidney_left"][0]
    # the couch is behind the patient (+y), kidneys behind the liver
    assert c["couch"][1] > c["body"][1]
    assert c["kidney_left"][1] > c["liver"][1]
    # the right kidney lies lower than the left, the liver dome above both (+z = head)
    assert c["kidney_right"][2] < c["kidney_left"][2] < c["liver"][2]
    # lungs (air inside the body) are at the top of the field of view
    ct = phantom.ct_hu.array
    lung = (ct < -600) & phantom.mask("remainder").array
    z_lung = phantom.labels.physical_points(np.argwhere(lung).mean(axis=0)[::-1])[2]
    assert z_lung > c["liver"][2]


def test_ct_and_density(phantom) -> None:
    ct = phantom.ct_hu.array
    body = phantom.mask("body").array
    outside = ~body & ~phantom.mask("couch").array
    assert np.median(ct[outside]) < -900  # air
    liver = phantom.mask("liver").array
    assert 30 < np.median(ct[liver]) < 120  # unenhanced to portal-venous liver
    fat = (ct[body] > -150) & (ct[body] < -30)
    assert fat.mean() > 0.2  # subcutaneous/visceral fat is a large part of the torso
    assert ct[body].max() > 700  # cortical bone
    rho = phantom.density_g_cm3.array
    assert 1.03 < rho[liver].mean() < 1.12
    assert np.all(ct[phantom.mask("couch").array] == -1000.0)
    assert phantom.truth["organs"]["liver"]["mass_g"] == pytest.approx(
        float(rho[liver].sum(dtype=np.float64)) * phantom.labels.voxel_volume_ml)


# ------------------------------------------------------------------------------ kinetics
def test_activity_recovered_from_images(phantom) -> None:
    vml = phantom.labels.voxel_volume_ml
    assert [tp.label for tp in phantom.time_points] == ["t004h", "t024h", "t096h", "t168h"]
    for i, tp in enumerate(phantom.time_points):
        assert tp.quantity == "activity_bq_ml" and tp.image.array.dtype == np.float32
        for name in COMPARTMENTS:
            m = phantom.mask(name).array
            measured = float(tp.image.array[m].sum(dtype=np.float64)) * vml / 1e6
            expected = phantom.truth["organs"][name]["activity_mbq"][i]
            assert measured == pytest.approx(expected, rel=1e-6), (tp.label, name)
        total = float(tp.image.array.sum(dtype=np.float64)) * vml / 1e6
        assert total == pytest.approx(phantom.truth["total_activity_mbq"][i], rel=1e-6)
        assert np.all(tp.image.array[~phantom.mask("body").array] == 0)


def test_uniform_organs_and_mass_weighted_remainder(phantom) -> None:
    img = phantom.time_points[1].image.array
    for name in ("liver", "kidney_left", "tumour_1"):
        vals = img[phantom.mask(name).array]
        assert vals.max() == pytest.approx(vals.min(), rel=1e-6)
    rem = phantom.mask("remainder").array
    ratio = img[rem] / phantom.density_g_cm3.array[rem]
    assert ratio.max() == pytest.approx(ratio.min(), rel=1e-5)  # Bq per gram uniform


def test_tia_equals_numeric_integral(phantom) -> None:
    inj = phantom.truth["injected_mbq"]
    for name in COMPARTMENTS:
        kin = DEFAULT_KINETICS[name]
        def frac(t: float, kin: OrganKinetics = kin) -> float:
            return float(kin.fraction(t))

        pts = [0.0, 1.0, 10.0, 100.0, 1000.0, np.inf]
        numeric = sum(integrate.quad(frac, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
                      for a, b in itertools.pairwise(pts))
        assert kin.integral_h() == pytest.approx(numeric, rel=1e-6), name
        assert phantom.truth["organs"][name]["tia_mbq_h"] == pytest.approx(inj * numeric, rel=1e-6)
    tia = phantom.extras["tia_bq_s"].array
    assert tia.dtype == np.float64
    for name in COMPARTMENTS:
        got = tia[phantom.mask(name).array].sum()
        assert got == pytest.approx(phantom.truth["organs"][name]["tia_bq_s"], rel=1e-9)
    # trapezoid on a dense grid agrees too (independent of quad)
    t = np.linspace(0, 4000, 400_001)
    kin = DEFAULT_KINETICS["kidney_left"]
    assert np.trapezoid(kin.fraction(t), t) == pytest.approx(kin.integral_h(), rel=1e-6)


def test_total_activity_and_excretion(phantom) -> None:
    tr = phantom.truth
    decay = [math.exp(-math.log(2) * t / T_PHYS_H) for t in tr["times_h"]]
    for total, d, ret, exc in zip(tr["total_activity_mbq"], decay,
                                  tr["retained_fraction_decay_corrected"],
                                  tr["excreted_fraction"]):
        assert total <= tr["injected_mbq"] * d
        assert ret == pytest.approx(total / (tr["injected_mbq"] * d))
        assert exc == pytest.approx(1 - ret) and 0 <= exc <= 1
    assert np.all(np.diff(tr["excreted_fraction"]) > 0)
    # the organ amplitudes sum to the stated %IA
    assert tr["kinetics"]["kidney_left"]["uptake_percent_ia"] == pytest.approx(1.35)


def test_reference_dose_plausible_and_reproducible(phantom) -> None:
    ref = phantom.truth["reference_dose"]
    per_gbq = ref["dvk"]["organ_mean_gy_per_gbq"]
    # ranges asked for (Sandström 2013, not readable here) and checked against the
    # verifiable means in docs/phantoms.md
    assert 0.5 <= per_gbq["kidneys"] <= 1.0
    assert 0.5 <= per_gbq["spleen"] <= 1.5
    assert 0.2 <= per_gbq["liver"] <= 0.6
    assert 1.0 <= per_gbq["tumour_2"] < per_gbq["tumour_1"] < per_gbq["tumour_3"] <= 10.0
    for name in ("liver", "spleen", "kidneys", "tumours"):
        gy = ref["dvk"]["organ_mean_gy"][name]
        assert gy == pytest.approx(per_gbq[name] * 7.4)
        # self dose dominates: LDM (electrons only, local) within 10 % of DVK
        assert ref["ldm"]["organ_mean_gy"][name] == pytest.approx(gy, rel=0.10)
    assert "dose_dvk" in ref["dvk"]["method"] and "no CT density correction" in ref["dvk"]["method"]
    kernel = ref["dvk"]["kernel"]
    assert kernel["nuclide"] == "Lu-177" and "photons" in kernel["components"]
    assert kernel["density_g_cm3"] == 1.04 and "generation_s" not in kernel["info"]
    again = dose_dvk(phantom.extras["tia_bq_s"], "Lu-177").dose_gy.array
    np.testing.assert_array_equal(again, phantom.extras["reference_dose_dvk_gy"].array)


# ------------------------------------------------------------------------------ imaging
def test_blur_conserves_total_and_makes_partial_volume() -> None:
    p = prrt_patient(fwhm_mm=12.0, times_h=(24.0,))
    tp = p.time_points[0]
    vml = p.labels.voxel_volume_ml
    total = float(tp.image.array.sum(dtype=np.float64)) * vml / 1e6
    assert total == pytest.approx(p.truth["total_activity_mbq"][0], rel=1e-6)  # asked: 0.1 %
    assert abs(p.truth["imaging"]["time_points"][0]["blur_lost_fraction"]) < 1e-9
    true = p.extras["t024h_activity_bq_ml_true"].array
    t1 = p.mask("tumour_1").array
    recovery = tp.image.array[t1].sum(dtype=np.float64) / true[t1].sum(dtype=np.float64)
    assert 0.2 < recovery < 0.9  # a 6 mL lesion loses counts to its surroundings


def test_noise_reproducible_and_unbiased() -> None:
    kw = {"counts_per_mbq_s": EXAMPLE_SENSITIVITY_CPS_PER_MBQ, "acquisition_s": 600.0,
          "times_h": (24.0, 168.0)}
    a, b = prrt_patient(seed=7, **kw), prrt_patient(seed=7, **kw)
    c = prrt_patient(seed=8, **kw)
    for ta, tb, tc in zip(a.time_points, b.time_points, c.time_points):
        np.testing.assert_array_equal(ta.image.array, tb.image.array)
        assert not np.array_equal(ta.image.array, tc.image.array)
        assert ta.image.array.min() >= 0
    assert not np.array_equal(a.time_points[0].image.array, a.time_points[1].image.array)
    for facts in a.truth["imaging"]["time_points"]:
        assert abs(facts["counts"] - facts["expected_counts"]) < 5 * math.sqrt(facts["expected_counts"])
    # Poisson statistics in a uniform organ: variance of counts = mean
    img = a.time_points[0].image.array
    scale = EXAMPLE_SENSITIVITY_CPS_PER_MBQ * 600.0 * a.labels.voxel_volume_ml / 1e6
    counts = img[a.mask("liver").array].astype(np.float64) * scale
    assert counts.var() == pytest.approx(counts.mean(), rel=0.1)
    assert a.truth["imaging"]["noise_model"].startswith("independent Poisson")


def test_noise_free_default_has_no_extra_images(phantom) -> None:
    assert phantom.truth["imaging"]["fwhm_mm"] is None
    assert phantom.truth["imaging"]["counts_per_mbq_s"] is None
    assert set(phantom.extras) == {"tia_bq_s", "mask_body", "reference_dose_dvk_gy",
                                   "reference_dose_ldm_gy"}


# ------------------------------------------------------------------------------ cycles
def test_four_cycles_same_anatomy_varied_uptake() -> None:
    cycles = prrt_cycles(4, injected_mbq=[7400, 7400, 7000, 7400], uptake_variation=0.1,
                         seed=3, times_h=(24.0,))
    assert [c.truth["cycle"] for c in cycles] == [1, 2, 3, 4]
    assert cycles[2].truth["injected_mbq"] == 7000
    for c in cycles[1:]:
        assert c.labels.array is cycles[0].labels.array  # one cached anatomy
    factors = np.array([[c.truth["organs"][n]["uptake_factor"] for n in SOURCE_CODES]
                        for c in cycles])
    assert np.all((factors >= 0.9) & (factors <= 1.1))
    assert len({tuple(f) for f in factors}) == 4  # every cycle differs
    assert all(c.truth["organs"]["remainder"]["uptake_factor"] == 1.0 for c in cycles)
    again = prrt_cycles(4, injected_mbq=[7400, 7400, 7000, 7400], uptake_variation=0.1,
                        seed=3, times_h=(24.0,))
    for c, d in zip(cycles, again):
        assert c.truth["organs"]["liver"]["tia_mbq_h"] == d.truth["organs"]["liver"]["tia_mbq_h"]
    plain = prrt_cycles(2, uptake_variation=0.0, times_h=(24.0,))
    assert plain[0].truth["organs"] == plain[1].truth["organs"]


# ------------------------------------------------------------------------------ options
def test_kinetics_override_and_spacing() -> None:
    slow = OrganKinetics(0.02, 100.0, 2.0, source="test")
    p = prrt_patient(kinetics={"kidney_left": slow}, times_h=(0.0, 48.0), spacing_mm=5.0)
    assert p.labels.spacing_mm == (5.0, 5.0, 5.0)
    assert p.labels.shape == (80, 55, 84)  # same field of view
    assert p.truth["kinetics"]["kidney_left"]["effective_half_life_h"] == 100.0
    assert p.truth["time_point_labels"] == ["t000h", "t048h"]
    vml = p.labels.voxel_volume_ml
    for i, tp in enumerate(p.time_points):
        for name in COMPARTMENTS:
            got = float(tp.image.array[p.mask(name).array].sum(dtype=np.float64)) * vml / 1e6
            want = p.truth["organs"][name]["activity_mbq"][i]
            assert got == pytest.approx(want, rel=1e-6, abs=1e-12)
    # at t = 0 only the instantaneous components hold activity
    assert p.truth["organs"]["kidney_left"]["activity_mbq"][0] == 0.0
    assert p.truth["retained_fraction_decay_corrected"][0] == pytest.approx(1.0)


def test_truth_is_json_ready_and_deterministic(phantom) -> None:
    text = json.dumps(_plain(dict(phantom.truth)), sort_keys=True)
    again = prrt_patient()
    assert json.dumps(_plain(dict(again.truth)), sort_keys=True) == text
    for ta, tb in zip(phantom.time_points, again.time_points):
        np.testing.assert_array_equal(ta.image.array, tb.image.array)


def test_generation_time_native_with_dose(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NETDOSE_CACHE_DIR", str(tmp_path))  # kernel generated, not cached
    _anatomy.cache_clear()  # data read from the package again
    t0 = time.perf_counter()
    prrt_patient(fwhm_mm=10.0, counts_per_mbq_s=EXAMPLE_SENSITIVITY_CPS_PER_MBQ)
    assert time.perf_counter() - t0 < 30.0


BAD_OPTIONS = [
    ({"injected_mbq": 0.0}, InputError, "injected_mbq must be a positive"),
    ({"times_h": (-1.0,)}, InputError, "times_h must be one or more times >= 0"),
    ({"times_h": ()}, InputError, "times_h must be one or more"),
    ({"times_h": (24.0, 24.2)}, InputError, "duplicate labels"),
    ({"fwhm_mm": -3.0}, InputError, "fwhm_mm must be >= 0"),
    ({"counts_per_mbq_s": 0.0}, InputError, "counts_per_mbq_s must be a positive"),
    ({"acquisition_s": 0.0}, InputError, "acquisition_s must be a positive"),
    ({"cycle": 0}, InputError, "cycle must be a whole number >= 1"),
    ({"seed": -1}, InputError, "seed must be a whole number >= 0"),
    ({"uptake_variation": 1.5}, InputError, "uptake_variation must be a fraction"),
    ({"spacing_mm": -2.0}, InputError, "spacing_mm must be one or three positive"),
    ({"kinetics": {"pancreas": OrganKinetics(0.01, 50.0)}}, InputError, "unknown compartment"),
    ({"kinetics": {"liver": (0.04, 70.0)}}, InputError, "must be an OrganKinetics"),
    ({"kinetics": {"liver": OrganKinetics(0.04, 200.0)}}, PhysicsRangeError,
     "cannot exceed it"),
    ({"kinetics": {"liver": OrganKinetics(0.04, 70.0, 80.0)}}, PhysicsRangeError,
     "uptake_half_life_h = 80.0"),
    ({"kinetics": {"liver": OrganKinetics(4.0, 70.0)}}, PhysicsRangeError,
     "must be a fraction of the injected activity"),
    ({"kinetics": {"remainder": OrganKinetics(0.12, 60.0, fast_fraction=0.88)}},
     PhysicsRangeError, "fast_half_life_h"),
    ({"kinetics": {"liver": OrganKinetics(0.5, 70.0, 0.5)}}, PhysicsRangeError,
     r"put .* % of the injected activity"),
]


@pytest.mark.parametrize(("options", "error", "pattern"), BAD_OPTIONS,
                         ids=[f"{next(iter(o))}-{i}" for i, (o, _, _) in enumerate(BAD_OPTIONS)])
def test_bad_options(options, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        prrt_patient(**options)


def test_cycles_bad_inputs() -> None:
    with pytest.raises(InputError, match="n_cycles"):
        prrt_cycles(0)
    with pytest.raises(InputError, match="3 values for 4 cycles"):
        prrt_cycles(4, injected_mbq=[7400.0] * 3)
