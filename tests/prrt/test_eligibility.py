"""PRRT eligibility (netdose.prrt.eligibility): worked cases for every verdict and every NETPET
grade, threshold configurability, lesion matching and bad inputs.

References used in the worked cases: SSTR PET blood pool 1, liver 5, spleen 10 (SUVbw); FDG
PET liver 2. Scores come from the default KrenningScale (SUVmax vs reference mean), so an SSTR
SUVmax of 0.5 -> 0, 2 -> 1, 4 -> 2, 7 -> 3, 12 -> 4.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from netdose.errors import InputError, NetdoseWarning
from netdose.image import Image
from netdose.prrt.eligibility import (
    ELIGIBLE,
    NOT_ELIGIBLE,
    REVIEW,
    assess_eligibility,
    parse_score_threshold,
)
from netdose.response.lesions import (
    KrenningScale,
    LesionMetrics,
    LesionReport,
    ReferenceRegion,
    measure_lesions,
)


# ============================================================================ report builders
def _ref(name: str, mean: float | None) -> ReferenceRegion | None:
    if mean is None:
        return None
    return ReferenceRegion(name, "mask", mean, 0.1, mean, 100, 0.8, None, None, "test")


def make_report(
    lesions: dict[str, float],
    *,
    liver: float | None = 5.0,
    spleen: float | None = 10.0,
    blood: float | None = 1.0,
) -> LesionReport:
    """A report whose lesions have the given SUVmax (SUVpeak = SUVmean = 0.8 x SUVmax)."""
    scale = KrenningScale()
    rows = []
    for lid, v in lesions.items():
        rng = scale.score_range(v, liver=liver, spleen=spleen, background=blood)
        rows.append(
            LesionMetrics(
                id=lid, unit="SUVbw", n_voxels=20, volume_ml=2.0, suv_max=v, suv_mean=0.8 * v,
                suv_sd=0.1, suv_peak=0.8 * v, total_lesion_uptake_suv_ml=1.6 * v,
                max_location_lps_mm=(0.0, 0.0, 0.0), peak_location_lps_mm=(0.0, 0.0, 0.0),
                peak_fov_fraction=1.0,
                tumour_to_liver=None if liver is None else v / liver,
                tumour_to_spleen=None if spleen is None else v / spleen,
                tumour_to_blood_pool=None if blood is None else v / blood,
                krenning_statistic="suv_max",
                krenning_score=rng[0] if rng[0] == rng[1] else None,
                krenning_score_range=rng,
            )
        )
    return LesionReport(
        unit="SUVbw", lesions=tuple(rows), liver=_ref("liver", liver),
        spleen=_ref("spleen", spleen), blood_pool=_ref("blood_pool", blood),
        krenning=scale, settings={}, warnings=(),
    )


def fdg(lesions: dict[str, float], liver: float | None = 2.0) -> LesionReport:
    return make_report(lesions, liver=liver, spleen=None, blood=None)


# ============================================================================ worked cases
# (name, SSTR SUVmax, FDG SUVmax or None (no FDG PET), kwargs, verdict, NETPET, mismatches)
CASES = [
    ("P1 all SSTR+, FDG-", {"L1": 12.0, "L2": 7.0}, {"L1": 1.5, "L2": 1.0}, {},
     ELIGIBLE, "P1", ()),
    # q = (3/2) / (20/5) = 0.375 < 0.8
    ("P2 FDG < SSTR", {"L1": 20.0}, {"L1": 3.0}, {}, ELIGIBLE, "P2", ()),
    # q = (3.6/2) / (8/5) = 1.125 within [0.8, 1.25]
    ("P3 FDG = SSTR", {"L1": 8.0}, {"L1": 3.6}, {}, ELIGIBLE, "P3", ()),
    # q = (6/2) / (6/5) = 2.5 > 1.25, SSTR score 3
    ("P4 FDG > SSTR", {"L1": 6.0, "L2": 12.0}, {"L1": 6.0, "L2": 1.0}, {}, ELIGIBLE, "P4", ()),
    # L2: SSTR score 1 (SSTR-negative for NETPET), FDG-avid -> P5 and a mismatch
    ("P5 mismatch", {"L1": 12.0, "L2": 2.0}, {"L1": 1.0, "L2": 5.0}, {},
     NOT_ELIGIBLE, "P5", ("L2",)),
    # L2: score 2 (SSTR+ for NETPET, below the PRRT threshold) and FDG-avid: a PRRT mismatch,
    # NETPET P4 (q = (5/2)/(4/5) = 3.1).
    ("score-2 FDG+ lesion", {"L1": 12.0, "L2": 4.0}, {"L1": 1.0, "L2": 5.0}, {},
     NOT_ELIGIBLE, "P4", ("L2",)),
    ("mismatch as review", {"L1": 12.0, "L2": 2.0}, {"L1": 1.0, "L2": 5.0},
     {"mismatch_verdict": "review"}, REVIEW, "P5", ("L2",)),
    ("FDG-only lesion", {"L1": 12.0}, {"L1": 1.0, "X9": 4.0}, {}, NOT_ELIGIBLE, "P5", ("X9",)),
    ("FDG-only lesion not avid", {"L1": 12.0}, {"L1": 1.0, "X9": 1.5}, {}, ELIGIBLE, "P1", ()),
    ("P0 nothing avid", {"L1": 0.5, "L2": 2.0}, {"L1": 1.0, "L2": 1.5}, {},
     NOT_ELIGIBLE, "P0", ()),
    ("all below, no FDG", {"L1": 4.0, "L2": 2.0}, None, {}, NOT_ELIGIBLE, None, ()),
    ("mixed", {"L1": 12.0, "L2": 4.0}, None, {}, REVIEW, None, ()),
    ("mixed, threshold >= 2", {"L1": 12.0, "L2": 4.0}, None, {"threshold": ">= 2"},
     ELIGIBLE, None, ()),
    ("threshold > 3", {"L1": 12.0, "L2": 7.0}, None, {"threshold": "> 3"}, REVIEW, None, ()),
    ("no lesions", {}, None, {}, REVIEW, None, ()),
    ("no lesions, FDG", {}, {}, {}, REVIEW, "P0", ()),
    ("SSTR lesion without FDG mask", {"L1": 12.0, "L2": 7.0}, {"L1": 1.0}, {}, REVIEW, None, ()),
    ("... taken as FDG-negative", {"L1": 12.0, "L2": 7.0}, {"L1": 1.0},
     {"sstr_only_lesions": "fdg_negative"}, ELIGIBLE, "P1", ()),
    # FDG-avid above 1.5 x liver only: 2.5 is avid at factor 1, not at 1.5.
    ("fdg factor 1", {"L1": 2.0}, {"L1": 2.5}, {}, NOT_ELIGIBLE, "P5", ("L1",)),
    ("fdg factor 1.5", {"L1": 2.0}, {"L1": 2.5}, {"fdg_avid_factor": 1.5}, NOT_ELIGIBLE, "P0", ()),
]


@pytest.mark.parametrize(
    "sstr,fdg_lesions,kwargs,verdict,netpet,mismatches",
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_worked_cases(sstr, fdg_lesions, kwargs, verdict, netpet, mismatches):
    result = assess_eligibility(
        make_report(sstr), None if fdg_lesions is None else fdg(fdg_lesions), **kwargs
    )
    assert result.verdict == verdict, result.reasons
    assert result.netpet_grade == netpet, result.netpet_reason
    assert result.mismatch_lesions == mismatches
    assert result.reasons and all(isinstance(r, str) and r for r in result.reasons)
    assert result.eligible == (verdict == ELIGIBLE)
    json.dumps(result.to_dict())


def test_every_verdict_and_grade_is_covered():
    assert {c[4] for c in CASES} == {ELIGIBLE, NOT_ELIGIBLE, REVIEW}
    assert {c[5] for c in CASES} >= {"P0", "P1", "P2", "P3", "P4", "P5"}


def test_reasons_name_the_lesions():
    r = assess_eligibility(make_report({"L1": 12.0, "L2": 4.0}))
    assert "'L1'" in r.reasons[-1] and "'L2'" in r.reasons[-1] and "mixed" in r.reasons[-1]
    r = assess_eligibility(make_report({"L1": 12.0, "L2": 2.0}), fdg({"L1": 1.0, "L2": 5.0}))
    assert "mismatch" in r.reasons[0] and "'L2'" in r.reasons[0]
    r = assess_eligibility(make_report({}))
    assert "no lesions" in r.reasons[0]
    r = assess_eligibility(make_report({"L1": 12.0}))
    assert any("no FDG PET" in n for n in r.notes)


def test_lesion_details():
    r = assess_eligibility(make_report({"L1": 8.0, "L2": 2.0}), fdg({"L1": 3.6, "L2": 5.0}))
    a = r.lesion("L1")
    assert a.sstr_score == 3 and a.meets_prrt_threshold is True
    assert a.sstr_to_liver == pytest.approx(1.6)
    assert a.fdg_to_reference == pytest.approx(1.8)
    assert a.fdg_to_sstr == pytest.approx(1.125)
    assert a.fdg_avid is True and a.mismatch is False and a.netpet == "P3"
    b = r.lesion("L2")
    assert b.sstr_score == 1 and b.mismatch is True and b.netpet == "P5"
    with pytest.raises(InputError, match="no lesion 'L3'"):
        r.lesion("L3")


@pytest.mark.parametrize(
    "threshold,min_score",
    [("> 2", 3), (">2", 3), (">= 2", 2), ("≥ 3", 3), (" >= 4 ", 4), ("> 0", 1), ("=> 1", 1)],
)
def test_threshold_parsing(threshold, min_score):
    assert parse_score_threshold(threshold) == min_score


def test_threshold_changes_the_score_2_lesion():
    sstr = make_report({"L1": 4.0})  # score 2: uptake <= liver
    assert assess_eligibility(sstr, threshold="> 2").verdict == NOT_ELIGIBLE
    assert assess_eligibility(sstr, threshold=">= 2").verdict == ELIGIBLE
    with_fdg = assess_eligibility(sstr, fdg({"L1": 5.0}), threshold=">= 2")
    assert with_fdg.verdict == ELIGIBLE and with_fdg.mismatch_lesions == ()
    assert assess_eligibility(sstr, fdg({"L1": 5.0})).mismatch_lesions == ("L1",)


def test_undecided_scores_give_review():
    # No spleen reference: a lesion above the liver is 3 or 4.
    sstr = make_report({"L1": 12.0}, spleen=None)
    assert assess_eligibility(sstr).verdict == ELIGIBLE  # 3 or 4 both meet "> 2"
    r = assess_eligibility(sstr, threshold=">= 4")
    assert r.verdict == REVIEW and "3-4" in r.reasons[0]
    # No liver reference at all: nothing is decided.
    r = assess_eligibility(make_report({"L1": 12.0}, liver=None), fdg({"L1": 1.0}))
    assert r.verdict == REVIEW and r.netpet_grade is None


def test_end_to_end_from_images():
    """SSTR and FDG images with the same lesion mask names, measured and assessed."""
    shape, spacing = (20, 30, 40), (2.0, 2.0, 2.0)
    grid = Image(np.zeros(shape, np.float32), spacing)

    def box(z, y, x):
        m = np.zeros(shape, bool)
        m[z, y, x] = True
        return grid.with_array(m)

    liver = box(slice(0, 20), slice(0, 30), slice(0, 22))
    spleen = box(slice(0, 10), slice(0, 10), slice(30, 40))
    lesions = {"A": box(slice(14, 17), slice(22, 25), slice(32, 35)),
               "B": box(slice(3, 6), slice(22, 25), slice(32, 35))}
    sstr = np.zeros(shape)
    sstr[liver.array] = 5.0
    sstr[spleen.array] = 10.0
    sstr[lesions["A"].array] = 14.0  # score 4
    sstr[lesions["B"].array] = 2.0  # score 1 (no blood pool: 0-1)
    fdg_img = np.zeros(shape)
    fdg_img[liver.array] = 2.0
    fdg_img[lesions["B"].array] = 6.0  # FDG-avid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        s = measure_lesions(grid.with_array(sstr), lesions, unit="SUVbw", liver_mask=liver,
                            spleen_mask=spleen, liver_edge_margin_mm=0.0, liver_lesion_margin_mm=0.0)
        f = measure_lesions(grid.with_array(fdg_img), lesions, unit="SUVbw", liver_mask=liver,
                            liver_edge_margin_mm=0.0, liver_lesion_margin_mm=0.0)
    r = assess_eligibility(s, f)
    assert s.lesion("A").krenning_score == 4
    assert s.lesion("B").krenning_score_range == (0, 1)
    assert r.verdict == NOT_ELIGIBLE and r.mismatch_lesions == ("B",) and r.netpet_grade == "P5"


# ============================================================================ bad inputs
OK_SSTR = make_report({"L1": 12.0})
BAD = [
    ("sstr type", {"sstr_report": {"L1": 12.0}}, "sstr_report must be a LesionReport"),
    ("fdg type", {"fdg_report": [1, 2]}, "fdg_report must be a LesionReport"),
    ("same report", {"fdg_report": OK_SSTR}, "same LesionReport"),
    ("threshold number", {"threshold": 3}, r"threshold = 3 is not understood.*'> 2'"),
    ("threshold text", {"threshold": "score 3"}, "not understood"),
    ("threshold none can meet", {"threshold": "> 4"}, "no lesion can meet"),
    ("threshold all meet", {"threshold": ">= 0"}, "every lesion meets"),
    ("netpet threshold", {"netpet_sstr_threshold": "<= 2"}, "netpet_sstr_threshold"),
    ("mismatch verdict", {"mismatch_verdict": "eligible"}, "mismatch_verdict"),
    ("fdg statistic", {"fdg_report": fdg({"L1": 1.0}), "fdg_statistic": "tlg"}, "fdg_statistic"),
    ("fdg without liver", {"fdg_report": fdg({"L1": 1.0}, liver=None)},
     "FDG report has no liver reference"),
    ("fdg blood pool missing", {"fdg_report": fdg({"L1": 1.0}), "fdg_reference": "blood_pool"},
     "no blood_pool reference"),
    ("fdg factor", {"fdg_report": fdg({"L1": 1.0}), "fdg_avid_factor": 0.0}, "fdg_avid_factor"),
    ("netpet band", {"netpet_equal_band": 1.0}, "netpet_equal_band"),
    ("sstr only", {"sstr_only_lesions": "ignore"}, "sstr_only_lesions"),
]


@pytest.mark.parametrize("kwargs,match", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_inputs(kwargs, match):
    with pytest.raises(InputError, match=match):
        assess_eligibility(**{"sstr_report": OK_SSTR, **kwargs})
