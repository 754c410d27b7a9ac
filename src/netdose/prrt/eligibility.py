"""PRRT eligibility from SSTR PET (and optionally FDG PET) lesion metrics: Krenning-type score
threshold, SSTR/FDG mismatch and the NETPET grade.

Inputs are two :class:`~netdose.response.lesions.LesionReport` objects: the SSTR PET (e.g.
Ga-68 DOTATATE) and, optionally, the FDG PET of the same patient. Lesions are matched **by
id**: the lesion masks must carry the same names on both scans (exact, case-sensitive match).

Rules (docs/physics.md, section "PRRT eligibility", gives the sources; the exact
operationalisation is netdose's and is not verified against the original papers here):

- **SSTR expression sufficient for PRRT**: Krenning-type score (from the SSTR report) meeting
  ``threshold`` (default ``"> 2"``, i.e. score >= 3: uptake above the liver). A score range
  left open by missing references (:class:`~netdose.response.lesions.KrenningScale`) that
  straddles the threshold is *undecided*.
- **FDG-avid**: FDG lesion statistic (``fdg_statistic``, SUVmax by default) greater than
  ``fdg_avid_factor`` (default 1.0) x the FDG reference (``fdg_reference``: the liver mean by
  default) of the FDG report.
- **Mismatch**: an FDG-avid lesion whose SSTR expression is not sufficient for PRRT; an
  FDG-avid lesion with no SSTR counterpart (no SSTR mask of that name) is taken as
  SSTR-negative, i.e. a mismatch (it was seen on FDG and not delineated on SSTR PET).
- **NETPET grade** (after Chan et al. 2017): per lesion, SSTR-positive when its score is at
  least ``netpet_sstr_threshold`` (default ``">= 2"``: above background, as the grade is
  commonly described), FDG-positive when FDG-avid. SSTR+/FDG- -> P1; SSTR+/FDG+ -> P2, P3 or
  P4 as the FDG tumour-to-reference ratio is below, within or above a band of
  ``netpet_equal_band`` (default 1.25) around the SSTR tumour-to-liver ratio; SSTR-/FDG+ ->
  P5; SSTR-/FDG- -> no PET-avid disease. The patient grade is the highest lesion grade; P0
  when no lesion is PET-avid.
- **Verdict**: ``"not eligible"`` (or ``"review"``, see ``mismatch_verdict``) when any lesion
  is a mismatch; otherwise ``"review"`` when any lesion is undecided; ``"eligible"`` when every
  SSTR lesion meets the threshold; ``"not eligible"`` when none does; ``"review"`` for mixed
  scores and when there are no lesions at all. Every verdict carries its reasons in words.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from typing import Any, Literal

from netdose.errors import InputError
from netdose.response.lesions import KRENNING_STATISTICS, LesionMetrics, LesionReport

__all__ = [
    "DEFAULT_PRRT_THRESHOLD",
    "ELIGIBLE",
    "FDG_AVID_FACTOR",
    "NETPET_EQUAL_BAND",
    "NETPET_SSTR_THRESHOLD",
    "NOT_ELIGIBLE",
    "REVIEW",
    "EligibilityVerdict",
    "LesionAssessment",
    "assess_eligibility",
    "parse_score_threshold",
]

ELIGIBLE: Literal["eligible"] = "eligible"
NOT_ELIGIBLE: Literal["not eligible"] = "not eligible"
REVIEW: Literal["review"] = "review"
Verdict = Literal["eligible", "not eligible", "review"]

#: PRRT needs a Krenning-type score above 2 (uptake above the liver): the threshold as
#: commonly quoted for Lu-177 DOTATATE (e.g. NETTER-1 inclusion; Hope et al., SNMMI/EANM SSTR
#: PET guideline) -- not verified against the originals here.
DEFAULT_PRRT_THRESHOLD: str = "> 2"
#: NETPET "SSTR positive": uptake above background, modified Krenning 2-4 (as tabulated for
#: Chan et al. 2017 in secondary sources; not verified against the original here).
NETPET_SSTR_THRESHOLD: str = ">= 2"
#: FDG-avid: FDG lesion statistic > this factor x FDG reference (netdose default: above the
#: liver mean).
FDG_AVID_FACTOR: float = 1.0
#: NETPET P3 ("FDG = SSTR") band: FDG/SSTR ratio of tumour-to-reference ratios within
#: [1/band, band]. netdose convention; NETPET itself is a visual grade.
NETPET_EQUAL_BAND: float = 1.25

_THRESHOLD = re.compile(r"^\s*(>=|≥|=>|>)\s*([0-4])\s*$")
_MISMATCH_VERDICTS = (NOT_ELIGIBLE, REVIEW)
_SSTR_ONLY = ("review", "fdg_negative")
_FDG_REFERENCES = ("liver", "blood_pool")


def parse_score_threshold(threshold: object, name: str = "threshold") -> int:
    """The lowest Krenning-type score that meets ``threshold``.

    Parameters
    ----------
    threshold : str
        ``"> N"`` or ``">= N"`` (also ``"≥ N"``), N in 0-4; e.g. ``"> 2"`` -> 3, ``">= 2"`` -> 2.
    name : str
        Parameter name for messages.

    Raises
    ------
    InputError
        Anything else, or a threshold every lesion meets (">= 0") or none can (">4").
    """
    m = _THRESHOLD.match(threshold) if isinstance(threshold, str) else None
    if m is None:
        raise InputError(
            f"{name} = {threshold!r} is not understood; write it as '> N' or '>= N' with N a "
            "Krenning-type score 0-4, e.g. '> 2' (score 3 or 4) or '>= 2'."
        )
    op, n = m.group(1), int(m.group(2))
    min_score = n + 1 if op == ">" else n
    if not 1 <= min_score <= 4:
        raise InputError(
            f"{name} = {threshold!r} means score >= {min_score}, which "
            + ("every lesion meets" if min_score < 1 else "no lesion can meet")
            + "; use a score threshold between '>= 1' and '>= 4'."
        )
    return min_score


def _meets(rng: tuple[int, int], min_score: int) -> bool | None:
    lo, hi = rng
    if lo >= min_score:
        return True
    if hi < min_score:
        return False
    return None


def _fmt_range(rng: tuple[int, int] | None) -> str:
    if rng is None:
        return "not measured"
    return str(rng[0]) if rng[0] == rng[1] else f"{rng[0]}-{rng[1]}"


# =========================================================================== results
@dataclasses.dataclass(frozen=True)
class LesionAssessment:
    """One lesion seen on SSTR and/or FDG PET.

    Attributes
    ----------
    id : str
    on_sstr, on_fdg : bool
        Whether a lesion of this id was measured on each scan.
    sstr_score : int or None
        Krenning-type score (None: not measured or undecided).
    sstr_score_range : tuple of 2 int or None
    meets_prrt_threshold : bool or None
        None: undecided (the score range straddles the threshold) or not on SSTR PET.
    sstr_to_liver : float or None
        SSTR lesion statistic / SSTR liver reference.
    fdg_to_reference : float or None
        FDG lesion statistic / FDG reference (liver or blood pool).
    fdg_avid : bool or None
        None: no FDG PET, or a lesion without FDG counterpart under the "review" policy.
    fdg_to_sstr : float or None
        fdg_to_reference / sstr_to_liver (the NETPET P2/P3/P4 comparison).
    mismatch : bool or None
        FDG-avid and SSTR expression below the PRRT threshold; None when undecided or not
        assessed.
    netpet : str or None
        Lesion NETPET category ``"P1"``-``"P5"``, ``"none"`` (not PET-avid on either scan),
        or None (undecided / no FDG PET).
    note : str
        What was assumed for this lesion, in words (empty if nothing).
    """

    id: str
    on_sstr: bool
    on_fdg: bool
    sstr_score: int | None
    sstr_score_range: tuple[int, int] | None
    meets_prrt_threshold: bool | None
    sstr_to_liver: float | None
    fdg_to_reference: float | None
    fdg_avid: bool | None
    fdg_to_sstr: float | None
    mismatch: bool | None
    netpet: str | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = dataclasses.asdict(self)
        if self.sstr_score_range is not None:
            out["sstr_score_range"] = list(self.sstr_score_range)
        return out


@dataclasses.dataclass(frozen=True)
class EligibilityVerdict:
    """PRRT eligibility of one patient.

    Attributes
    ----------
    verdict : {"eligible", "not eligible", "review"}
    reasons : tuple of str
        Why, in words (at least one).
    min_score : int
        Lowest Krenning-type score that meets the PRRT threshold.
    threshold : str
        The threshold as given (e.g. ``"> 2"``).
    lesions : tuple of LesionAssessment
        SSTR lesions in report order, then FDG-only lesions.
    mismatch_lesions : tuple of str
        Ids of the SSTR/FDG mismatch lesions.
    netpet_grade : str or None
        ``"P0"``-``"P5"``; None without FDG PET or when undecided.
    netpet_reason : str
    notes : tuple of str
        Assumptions (lesion matching, missing scans, references).
    settings : dict
        Every setting used, with the rules in words.
    """

    verdict: Verdict
    reasons: tuple[str, ...]
    min_score: int
    threshold: str
    lesions: tuple[LesionAssessment, ...]
    mismatch_lesions: tuple[str, ...]
    netpet_grade: str | None
    netpet_reason: str
    notes: tuple[str, ...]
    settings: dict[str, Any]

    @property
    def eligible(self) -> bool:
        """True only for the verdict ``"eligible"``."""
        return self.verdict == ELIGIBLE

    def lesion(self, lesion_id: str) -> LesionAssessment:
        """The assessment of one lesion by id."""
        for a in self.lesions:
            if a.id == lesion_id:
                return a
        raise InputError(
            f"no lesion {lesion_id!r} in this verdict; lesions: "
            f"{', '.join(repr(a.id) for a in self.lesions) or '(none)'}."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "min_score": self.min_score,
            "threshold": self.threshold,
            "lesions": [a.to_dict() for a in self.lesions],
            "mismatch_lesions": list(self.mismatch_lesions),
            "netpet_grade": self.netpet_grade,
            "netpet_reason": self.netpet_reason,
            "notes": list(self.notes),
            "settings": dict(self.settings),
        }


# =========================================================================== checks
def _check_report(report: object, name: str) -> LesionReport:
    if not isinstance(report, LesionReport):
        raise InputError(
            f"{name} must be a LesionReport (netdose.response.lesions.measure_lesions); got "
            f"{type(report).__name__}."
        )
    return report


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(
            f"{name} = {value!r} is not one of {', '.join(map(repr, choices))}."
        )
    return str(value)


def _positive(name: str, value: object, minimum_exclusive: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} = {value!r} is not a number.")
    out = float(value)
    if not math.isfinite(out) or out <= minimum_exclusive:
        raise InputError(f"{name} = {value!r} must be a finite number above {minimum_exclusive:g}.")
    return out


# =========================================================================== main entry
def assess_eligibility(
    sstr_report: LesionReport,
    fdg_report: LesionReport | None = None,
    *,
    threshold: str = DEFAULT_PRRT_THRESHOLD,
    mismatch_verdict: Literal["not eligible", "review"] = NOT_ELIGIBLE,
    fdg_statistic: Literal["suv_max", "suv_peak", "suv_mean"] = "suv_max",
    fdg_reference: Literal["liver", "blood_pool"] = "liver",
    fdg_avid_factor: float = FDG_AVID_FACTOR,
    netpet_sstr_threshold: str = NETPET_SSTR_THRESHOLD,
    netpet_equal_band: float = NETPET_EQUAL_BAND,
    sstr_only_lesions: Literal["review", "fdg_negative"] = "review",
) -> EligibilityVerdict:
    """Decide PRRT eligibility from SSTR (and FDG) PET lesion reports.

    Parameters
    ----------
    sstr_report : LesionReport
        SSTR PET lesions with Krenning-type scores (needs a liver reference to decide them).
    fdg_report : LesionReport, optional
        FDG PET lesions of the same patient, same lesion ids; without it, mismatch and NETPET
        are not assessed (a note says so).
    threshold : str
        PRRT threshold on the Krenning-type score, ``"> N"`` or ``">= N"`` (default ``"> 2"``).
    mismatch_verdict : {"not eligible", "review"}
        Verdict when any lesion is an SSTR/FDG mismatch (default ``"not eligible"``).
    fdg_statistic : {"suv_max", "suv_peak", "suv_mean"}
        FDG lesion statistic compared with the FDG reference.
    fdg_reference : {"liver", "blood_pool"}
        FDG reference region; its mean (or max, per the FDG report's Krenning scale
        ``reference_statistic``) is used.
    fdg_avid_factor : float
        FDG-avid when statistic > factor x reference (> 0; default 1.0).
    netpet_sstr_threshold : str
        Score threshold for "SSTR-positive" in the NETPET grade (default ``">= 2"``).
    netpet_equal_band : float
        > 1; FDG/SSTR within [1/band, band] is NETPET P3 (default 1.25).
    sstr_only_lesions : {"review", "fdg_negative"}
        With an FDG report, what an SSTR lesion without an FDG counterpart means: ``"review"``
        (undecided, the verdict becomes "review" at best) or ``"fdg_negative"`` (not FDG-avid,
        e.g. when FDG masks were drawn only on FDG-avid lesions).

    Returns
    -------
    EligibilityVerdict

    Raises
    ------
    InputError
        Not LesionReports, the same report twice, a bad setting, or an FDG report without the
        chosen reference region.
    """
    sstr = _check_report(sstr_report, "sstr_report")
    fdg = None if fdg_report is None else _check_report(fdg_report, "fdg_report")
    if fdg is sstr:
        raise InputError(
            "the same LesionReport was given as sstr_report and fdg_report; give the report of "
            "the FDG PET as fdg_report."
        )
    min_score = parse_score_threshold(threshold, "threshold")
    netpet_min = parse_score_threshold(netpet_sstr_threshold, "netpet_sstr_threshold")
    mismatch_v = _choice("mismatch_verdict", mismatch_verdict, _MISMATCH_VERDICTS)
    fdg_stat = _choice("fdg_statistic", fdg_statistic, KRENNING_STATISTICS)
    fdg_ref_name = _choice("fdg_reference", fdg_reference, _FDG_REFERENCES)
    factor = _positive("fdg_avid_factor", fdg_avid_factor, 0.0)
    band = _positive("netpet_equal_band", netpet_equal_band, 1.0)
    sstr_only = _choice("sstr_only_lesions", sstr_only_lesions, _SSTR_ONLY)

    notes: list[str] = []
    fdg_ref: float | None = None
    if fdg is not None:
        fdg_ref = fdg.reference_value(fdg_ref_name)
        if fdg_ref is None:
            raise InputError(
                f"the FDG report has no {fdg_ref_name} reference, so FDG avidity cannot be "
                f"judged; measure the FDG PET with a {fdg_ref_name} reference "
                "(liver_mask / liver_centre_lps_mm, or blood_pool_mask), or choose "
                "fdg_reference='liver' / 'blood_pool'."
            )
        if fdg_ref <= 0.0:
            raise InputError(
                f"the FDG {fdg_ref_name} reference is {fdg_ref:g} {fdg.unit}, not positive; check "
                "the FDG image and the reference region."
            )
    else:
        notes.append("no FDG PET: SSTR/FDG mismatch and the NETPET grade were not assessed.")
    sstr_liver = sstr.reference_value("liver")
    sstr_stat = sstr.krenning.statistic

    fdg_by_id: dict[str, LesionMetrics] = {} if fdg is None else {m.id: m for m in fdg.lesions}
    sstr_ids = set(sstr.ids)
    assessed: list[LesionAssessment] = []

    def netpet_of(sstr_pos: bool | None, avid: bool | None, q: float | None) -> str | None:
        if sstr_pos is None or avid is None:
            return None
        if not avid:
            return "P1" if sstr_pos else "none"
        if not sstr_pos:
            return "P5"
        if q is None:
            return None
        if q < 1.0 / band:
            return "P2"
        return "P4" if q > band else "P3"

    for m in sstr.lesions:
        rng = m.krenning_score_range
        meets = _meets(rng, min_score)
        sstr_pos = _meets(rng, netpet_min)
        s_ratio = None if sstr_liver is None else m.statistic(sstr_stat) / sstr_liver
        note = ""
        f_ratio = avid = q = mismatch = None
        netpet = None
        on_fdg = m.id in fdg_by_id
        if fdg is not None:
            if on_fdg:
                f_ratio = fdg_by_id[m.id].statistic(fdg_stat) / fdg_ref  # type: ignore[operator]
                avid = f_ratio > factor
            elif sstr_only == "fdg_negative":
                avid = False
                note = "no FDG lesion of this id: taken as not FDG-avid (sstr_only_lesions)."
            else:
                note = (
                    "no FDG lesion of this id: FDG avidity unknown (name the FDG mask the same, "
                    "or set sstr_only_lesions='fdg_negative' if FDG masks cover only FDG-avid "
                    "lesions)."
                )
            if avid is not None:
                mismatch = (not meets) if (avid and meets is not None) else (False if not avid else None)
            if f_ratio is not None and s_ratio is not None and s_ratio > 0.0:
                q = f_ratio / s_ratio
            netpet = netpet_of(sstr_pos, avid, q)
        assessed.append(
            LesionAssessment(
                id=m.id,
                on_sstr=True,
                on_fdg=on_fdg,
                sstr_score=m.krenning_score,
                sstr_score_range=rng,
                meets_prrt_threshold=meets,
                sstr_to_liver=s_ratio,
                fdg_to_reference=f_ratio,
                fdg_avid=avid,
                fdg_to_sstr=q,
                mismatch=mismatch,
                netpet=netpet,
                note=note,
            )
        )
    if fdg is not None:
        for fm in fdg.lesions:
            if fm.id in sstr_ids:
                continue
            f_ratio = fm.statistic(fdg_stat) / fdg_ref  # type: ignore[operator]
            avid = f_ratio > factor
            assessed.append(
                LesionAssessment(
                    id=fm.id,
                    on_sstr=False,
                    on_fdg=True,
                    sstr_score=None,
                    sstr_score_range=None,
                    meets_prrt_threshold=None,
                    sstr_to_liver=None,
                    fdg_to_reference=f_ratio,
                    fdg_avid=avid,
                    fdg_to_sstr=None,
                    mismatch=bool(avid),
                    netpet="P5" if avid else "none",
                    note=(
                        "no SSTR lesion of this id: taken as SSTR-negative (seen on FDG only)."
                        if avid
                        else "no SSTR lesion of this id and not FDG-avid: no effect."
                    ),
                )
            )
        unmatched = [a.id for a in assessed if a.on_fdg and not a.on_sstr]
        if unmatched:
            notes.append(
                "FDG lesions without an SSTR lesion of the same id (taken as SSTR-negative): "
                + ", ".join(map(repr, unmatched))
                + ". Lesions are matched by exact mask name."
            )

    # ---------------------------------------------------------------- NETPET
    netpet_grade: str | None = None
    netpet_reason = "not assessed (no FDG PET)"
    if fdg is not None:
        grades = [a.netpet for a in assessed]
        decided = [g for g in grades if g is not None and g != "none"]
        undecided = [a.id for a in assessed if a.netpet is None]
        top = max(decided, default=None)
        if top == "P5":
            netpet_grade = "P5"
            netpet_reason = "FDG-positive lesion(s) without SSTR uptake: " + ", ".join(
                a.id for a in assessed if a.netpet == "P5"
            )
        elif undecided:
            netpet_reason = (
                "undecided: lesion(s) " + ", ".join(map(repr, undecided)) + " could not be "
                "graded (missing references, undecided score, or no FDG counterpart)"
            )
        elif top is None:
            netpet_grade = "P0"
            netpet_reason = "no lesion is SSTR- or FDG-positive"
        else:
            netpet_grade = top
            worst = [a.id for a in assessed if a.netpet == top]
            netpet_reason = {
                "P1": "all PET-avid lesions are SSTR-positive and FDG-negative",
                "P2": "FDG-positive lesions with FDG uptake below SSTR uptake, worst: ",
                "P3": "FDG-positive lesions with FDG uptake about equal to SSTR uptake, worst: ",
                "P4": "FDG-positive lesions with FDG uptake above SSTR uptake (SSTR-positive), "
                "worst: ",
            }[top] + ("" if top == "P1" else ", ".join(worst))

    # ---------------------------------------------------------------- verdict
    reasons: list[str] = []
    mismatches = tuple(a.id for a in assessed if a.mismatch)
    sstr_rows = [a for a in assessed if a.on_sstr]
    above = [a.id for a in sstr_rows if a.meets_prrt_threshold is True]
    below = [a.id for a in sstr_rows if a.meets_prrt_threshold is False]
    undecided_score = [a.id for a in sstr_rows if a.meets_prrt_threshold is None]
    undecided_fdg = [a.id for a in sstr_rows if fdg is not None and a.fdg_avid is None]

    def listing(ids: list[str] | tuple[str, ...]) -> str:
        return ", ".join(map(repr, ids))

    threshold_words = f"Krenning-type score >= {min_score} (threshold '{threshold}')"
    if mismatches:
        reasons.append(
            f"SSTR/FDG mismatch: lesion(s) {listing(mismatches)} are FDG-avid without "
            f"sufficient SSTR expression ({threshold_words} not met); PRRT alone would leave "
            "them untreated."
        )
    if undecided_score:
        reasons.append(
            f"score of lesion(s) {listing(undecided_score)} cannot be compared with "
            f"{threshold_words}: "
            + "; ".join(
                f"{a.id} is {_fmt_range(a.sstr_score_range)}" for a in sstr_rows
                if a.id in undecided_score
            )
            + " (add the missing liver/spleen/blood-pool reference)."
        )
    if undecided_fdg:
        reasons.append(
            f"lesion(s) {listing(undecided_fdg)} have no FDG counterpart, so a mismatch cannot "
            "be excluded."
        )
    if not assessed:
        verdict: Verdict = REVIEW
        reasons.append(
            "no lesions were measured on SSTR PET"
            + ("" if fdg is None else " or FDG PET")
            + ": there is nothing to base PRRT eligibility on."
        )
    elif mismatches:
        verdict = mismatch_v  # type: ignore[assignment]
    elif undecided_score or undecided_fdg:
        verdict = REVIEW
    elif not sstr_rows:
        verdict = REVIEW
        reasons.append("no lesions were measured on SSTR PET (FDG lesions only, none avid).")
    elif not below:
        verdict = ELIGIBLE
        reasons.append(
            f"all {len(above)} SSTR lesion(s) meet {threshold_words}"
            + ("" if fdg is None else " and none is an SSTR/FDG mismatch")
            + "."
        )
    elif not above:
        verdict = NOT_ELIGIBLE
        reasons.append(
            f"no lesion meets {threshold_words}: insufficient SSTR expression in "
            f"{listing(below)}."
        )
    else:
        verdict = REVIEW
        reasons.append(
            f"mixed SSTR expression: {listing(above)} meet {threshold_words}, "
            f"{listing(below)} do not."
        )

    settings = {
        "threshold": threshold,
        "min_score": min_score,
        "mismatch_verdict": mismatch_v,
        "fdg_statistic": fdg_stat,
        "fdg_reference": fdg_ref_name,
        "fdg_reference_value": fdg_ref,
        "fdg_avid_factor": factor,
        "fdg_avid_rule": f"FDG {fdg_stat} > {factor:g} x FDG {fdg_ref_name} reference",
        "netpet_sstr_threshold": netpet_sstr_threshold,
        "netpet_sstr_min_score": netpet_min,
        "netpet_equal_band": band,
        "netpet_rule": (
            f"SSTR+ = score >= {netpet_min}; FDG+ = FDG-avid; dual-positive lesions: "
            f"q = (FDG {fdg_stat}/FDG {fdg_ref_name}) / (SSTR {sstr_stat}/SSTR liver); "
            f"P2 q < 1/{band:g}, P3 within, P4 q > {band:g}; patient grade = highest lesion grade"
        ),
        "sstr_only_lesions": sstr_only,
        "sstr_krenning": sstr.krenning.to_dict(),
        "lesion_matching": "by exact lesion id (mask name)",
    }
    return EligibilityVerdict(
        verdict=verdict,
        reasons=tuple(reasons),
        min_score=min_score,
        threshold=threshold,
        lesions=tuple(assessed),
        mismatch_lesions=mismatches,
        netpet_grade=netpet_grade,
        netpet_reason=netpet_reason,
        notes=tuple(notes),
        settings=settings,
    )
