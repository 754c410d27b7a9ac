"""PERCIST 1.0 (Wahl RL et al., J Nucl Med 2009;50 Suppl 1:122S-150S; practical guide:
O JH, Lodge MA, Wahl RL, Radiology 2016;280:576-584) on the PET part of a response case.

Rules netdose implements:

- Reference region: the liver (``liver_sul_mean``/``liver_sul_sd``, SUL in a 3 cm sphere in
  the right lobe); if the baseline gives no liver value, the blood pool
  (``blood_pool_sul_mean``/``blood_pool_sul_sd``, descending aorta); otherwise PERCIST is NE.
  The same region is used at every time point.
- Measurability at baseline: the hottest lesion's SULpeak must be >= 1.5 × liver SULmean +
  2 SD (blood pool: 2.0 × SULmean + 2 SD). Without a measurable lesion PERCIST is NE (new
  lesions typical of tumour still give PMD).
- Hottest lesion against hottest lesion: the lesion with the highest SULpeak at each time
  point, not necessarily the same lesion. New-baseline lesions (modality change) are left
  out of the comparison.
- Reference stability: when the reference SULmean differs from the compared time point's by
  more than 20 % AND more than 0.3 SUL, the scans are not comparable: NE.
- CMR: every lesion's SULpeak below the reference SULmean of that time point, no new lesion
  typical of tumour. PMR: SULpeak down >= 30 % AND >= 0.8 SUL from baseline. PMD: SULpeak
  up >= 30 % AND >= 0.8 SUL (against baseline by default, ``pmd_reference``), or a new
  lesion typical of tumour (``typical_of_tumour: true``). SMD otherwise.
- ``vs_nadir``: against the lowest hottest-lesion SULpeak of the earlier evaluable time
  points (baseline included), with the reference-stability check against that time point.

Not implemented (reader's responsibility): the uptake-time (within 15 min of baseline) and
blood-glucose conditions, TLG-based progression, and "visible increase in extent".
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Any

from netdose.errors import InputError
from netdose.response.case import Case, Pet, PetLesion
from netdose.response.recist import (
    at_least,
    at_most,
    check_config_number,
    config_as_dict,
    fmt_pct,
    ref_name,
    rnd,
)

__all__ = ["PERCIST_SOURCE", "PercistConfig", "PercistTimepoint", "assess_percist",
           "measurability_threshold"]

PERCIST_SOURCE = ("Wahl RL et al., J Nucl Med 2009;50 Suppl 1:122S-150S (PERCIST 1.0); "
                  "O JH et al., Radiology 2016;280:576-584 (practical PERCIST)")


@dataclasses.dataclass(frozen=True)
class PercistConfig:
    """PERCIST 1.0 constants (defaults: Wahl et al. 2009).

    Attributes
    ----------
    liver_mean_factor, liver_sd_factor : float
        Measurability threshold 1.5 × liver SULmean + 2 × SD.
    blood_pool_mean_factor, blood_pool_sd_factor : float
        Without liver: 2.0 × blood-pool SULmean + 2 × SD.
    response_pct, response_sul : float
        PMR/PMD: SULpeak change of at least 30 % AND at least 0.8 SUL.
    inclusive : bool
        "At least" includes the threshold (True).
    reference_change_max_pct, reference_change_max_sul : float
        Scans are not comparable when the reference SULmean changed by more than 20 % and
        more than 0.3 SUL.
    pmd_reference : str
        ``"baseline"`` (default, Wahl 2009) or ``"nadir"``: reference for PMD in ``category``.
    """

    liver_mean_factor: float = 1.5
    liver_sd_factor: float = 2.0
    blood_pool_mean_factor: float = 2.0
    blood_pool_sd_factor: float = 2.0
    response_pct: float = 30.0
    response_sul: float = 0.8
    inclusive: bool = True
    reference_change_max_pct: float = 20.0
    reference_change_max_sul: float = 0.3
    pmd_reference: str = "baseline"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name not in ("inclusive", "pmd_reference"):
                check_config_number("PercistConfig", f.name, getattr(self, f.name))
        if self.pmd_reference not in ("baseline", "nadir"):
            raise InputError(f"PercistConfig.pmd_reference = {self.pmd_reference!r}: use "
                             "'baseline' or 'nadir'.")

    def as_dict(self) -> dict[str, Any]:
        return config_as_dict(self, PERCIST_SOURCE)


def _reference(pet: Pet | None, kind: str | None = None) -> tuple[str, float, float | None] | None:
    """(region, SULmean, SD) of the reference region (``kind`` forces a region)."""
    if pet is None:
        return None
    if kind in (None, "liver") and pet.liver_sul_mean is not None:
        return "liver", pet.liver_sul_mean, pet.liver_sul_sd
    if kind in (None, "blood_pool") and pet.blood_pool_sul_mean is not None:
        return "blood_pool", pet.blood_pool_sul_mean, pet.blood_pool_sul_sd
    return None


def measurability_threshold(pet: Pet, config: PercistConfig | None = None
                            ) -> tuple[float | None, str]:
    """PERCIST measurability threshold (SUL) of a baseline PET, and how it was derived."""
    cfg = config or PercistConfig()
    ref = _reference(pet)
    if ref is None:
        return None, "no liver or blood-pool reference given (pet.liver_sul_mean)"
    region, mean, sd = ref
    if sd is None:
        return None, f"{region} SULmean given without its SD (pet.{region}_sul_sd)"
    a, b = ((cfg.liver_mean_factor, cfg.liver_sd_factor) if region == "liver"
            else (cfg.blood_pool_mean_factor, cfg.blood_pool_sd_factor))
    thr = a * mean + b * sd
    return thr, f"{a:g} × {region} SULmean {mean:g} + {b:g} × SD {sd:g} = {thr:.3g}"


@dataclasses.dataclass(frozen=True)
class PercistTimepoint:
    """PERCIST at one time point (SUL values, changes in % and SUL)."""

    label: str
    date: _dt.date
    is_baseline: bool
    hottest_lesion: str | None
    sul_peak: float | None
    baseline_hottest_lesion: str | None
    baseline_sul_peak: float | None
    nadir_hottest_lesion: str | None
    nadir_sul_peak: float | None
    nadir_label: str | None
    reference: str | None
    reference_sul_mean: float | None
    baseline_reference_sul_mean: float | None
    threshold_sul: float | None
    new_lesions: tuple[str, ...]
    category: str | None
    vs_baseline: str | None
    vs_nadir: str | None
    reason: str

    def _change(self, ref: float | None) -> tuple[float | None, float | None]:
        if self.is_baseline or self.sul_peak is None or ref is None:
            return None, None
        return 100.0 * (self.sul_peak - ref) / ref, self.sul_peak - ref

    def to_dict(self) -> dict[str, Any]:
        cb_pct, cb_sul = self._change(self.baseline_sul_peak)
        cn_pct, cn_sul = self._change(self.nadir_sul_peak)
        rc_pct, rc_sul = None, None
        if not self.is_baseline and self.reference_sul_mean is not None \
                and self.baseline_reference_sul_mean is not None:
            rc_sul = self.reference_sul_mean - self.baseline_reference_sul_mean
            rc_pct = 100.0 * rc_sul / self.baseline_reference_sul_mean
        return {
            "category": self.category,
            "hottest_lesion": self.hottest_lesion,
            "sul_peak": rnd(self.sul_peak, 3),
            "baseline_hottest_lesion": self.baseline_hottest_lesion,
            "baseline_sul_peak": rnd(self.baseline_sul_peak, 3),
            "nadir_hottest_lesion": self.nadir_hottest_lesion,
            "nadir_sul_peak": rnd(self.nadir_sul_peak, 3),
            "nadir_timepoint": self.nadir_label,
            "change_vs_baseline_pct": rnd(cb_pct),
            "change_vs_baseline_sul": rnd(cb_sul, 3),
            "change_vs_nadir_pct": rnd(cn_pct),
            "change_vs_nadir_sul": rnd(cn_sul, 3),
            "reference": self.reference,
            "reference_sul_mean": rnd(self.reference_sul_mean, 3),
            "baseline_reference_sul_mean": rnd(self.baseline_reference_sul_mean, 3),
            "reference_change_pct": rnd(rc_pct),
            "reference_change_sul": rnd(rc_sul, 3),
            "measurability_threshold_sul": rnd(self.threshold_sul, 3),
            "new_lesions": bool(self.new_lesions),
            "new_lesion_ids": list(self.new_lesions),
            "vs_baseline": self.vs_baseline,
            "vs_nadir": self.vs_nadir,
            "reason": self.reason,
        }


def _hottest(lesions: tuple[PetLesion, ...], exclude: frozenset[str]) -> PetLesion | None:
    best: PetLesion | None = None
    for le in lesions:
        if le.id in exclude:
            continue
        if best is None or le.sul_peak > best.sul_peak:
            best = le
    return best


def _reference_changed(now: float, ref: float, cfg: PercistConfig) -> tuple[bool, str]:
    d_sul = now - ref
    d_pct = 100.0 * d_sul / ref
    changed = (abs(d_pct) > cfg.reference_change_max_pct
               and abs(d_sul) > cfg.reference_change_max_sul)
    return changed, (f"reference SULmean {now:g} vs {ref:g}: {fmt_pct(d_pct)}, {d_sul:+.2f} SUL "
                     f"(not comparable when > {cfg.reference_change_max_pct:g} % and > "
                     f"{cfg.reference_change_max_sul:g} SUL)")


def _call(now: PetLesion, ref_val: float, ref_id: str, ref_label: str, which: str,
          allow_pmr: bool, allow_pmd: bool, cfg: PercistConfig) -> tuple[str, str] | None:
    """PMR / PMD against one reference, or None when neither."""
    d_sul = now.sul_peak - ref_val
    d_pct = 100.0 * d_sul / ref_val
    op = ">=" if cfg.inclusive else ">"
    text = (f"hottest lesion {now.id} SULpeak {now.sul_peak:g} vs {ref_name(which, ref_label)} "
            f"hottest {ref_id} {ref_val:g}: {fmt_pct(d_pct)}, {d_sul:+.2f} SUL")
    if allow_pmd and at_least(d_pct, cfg.response_pct, cfg.inclusive) \
            and at_least(d_sul, cfg.response_sul, cfg.inclusive):
        return "PMD", (f"{text}; PMD needs {op} +{cfg.response_pct:g} % and {op} "
                       f"+{cfg.response_sul:g} SUL")
    if allow_pmr and at_most(d_pct, -cfg.response_pct, cfg.inclusive) \
            and at_most(d_sul, -cfg.response_sul, cfg.inclusive):
        return "PMR", (f"{text}; PMR needs {op} {cfg.response_pct:g} % and {op} "
                       f"{cfg.response_sul:g} SUL decrease")
    return None


def _followup_calls(case: Case, hot: PetLesion, ref: tuple[str, float, float | None],
                    base_hot: PetLesion, base_ref_mean: float,
                    nadir: tuple[float, str, int, float], cfg: PercistConfig
                    ) -> tuple[tuple[str, str, str, str], bool]:
    """(category, vs_baseline, vs_nadir, reason) of a follow-up with PET, a measurable
    baseline and the reference region; and whether the scan is comparable with baseline."""
    changed_b, text_b = _reference_changed(ref[1], base_ref_mean, cfg)
    changed_n, text_n = _reference_changed(ref[1], nadir[3], cfg)
    if hot.sul_peak < ref[1]:
        cmr_text = (f"CMR: every lesion below the {ref[0]} SULmean {ref[1]:g} (hottest "
                    f"{hot.id} SULpeak {hot.sul_peak:g}), no new lesions")
        vn = "NE" if changed_n else "CMR"
        if changed_b:
            return ("NE", "NE", vn, f"NE: {text_b}; otherwise {cmr_text}"), False
        return ("CMR", "CMR", vn, f"{cmr_text}; {text_b}"), True
    b_label = case.baseline.label
    n_label = case.timepoints[nadir[2]].label
    base_ref = (base_hot.sul_peak, base_hot.id, b_label, "baseline")
    nadir_ref = (nadir[0], nadir[1], n_label, "nadir")
    vb = "NE" if changed_b else ((_call(hot, *base_ref, True, True, cfg) or ("SMD",))[0])
    vn = "NE" if changed_n else ((_call(hot, *nadir_ref, True, True, cfg) or ("SMD",))[0])
    if changed_b:
        return ("NE", vb, vn, f"NE: scans not comparable: {text_b}"), False
    if cfg.pmd_reference == "nadir":
        if changed_n:
            return ("NE", vb, vn, ("NE: scans not comparable for PMD against the nadir: "
                                   f"{text_n}")), True
        pmd = _call(hot, *nadir_ref, False, True, cfg)
    else:
        pmd = _call(hot, *base_ref, False, True, cfg)
    pmr = _call(hot, *base_ref, True, False, cfg)
    if pmd is not None:
        return ("PMD", vb, vn, f"PMD: {pmd[1]}; {text_b}"), True
    if pmr is not None:
        return ("PMR", vb, vn, f"PMR: {pmr[1]}; {text_b}"), True
    d_sul = hot.sul_peak - base_hot.sul_peak
    d_pct = 100.0 * d_sul / base_hot.sul_peak
    op = ">=" if cfg.inclusive else ">"
    return ("SMD", vb, vn,
            (f"SMD: hottest lesion {hot.id} SULpeak {hot.sul_peak:g} vs baseline hottest "
             f"{base_hot.id} {base_hot.sul_peak:g}: {fmt_pct(d_pct)}, {d_sul:+.2f} SUL (PMR/PMD "
             f"need {op} {cfg.response_pct:g} % and {op} {cfg.response_sul:g} SUL); "
             f"{text_b}")), True


def assess_percist(case: Case, config: PercistConfig | None = None) -> list[PercistTimepoint]:
    """PERCIST 1.0 at every time point (baseline first, with null calls); rules in the
    module docstring."""
    cfg = config or PercistConfig()
    base = case.baseline
    out: list[PercistTimepoint] = []
    base_ref = _reference(base.pet)
    threshold, thr_text = (measurability_threshold(base.pet, cfg) if base.pet is not None
                           else (None, "no PET at baseline"))
    base_hot = _hottest(base.pet.lesions, frozenset()) if base.pet is not None else None
    measurable = (threshold is not None and base_hot is not None
                  and at_least(base_hot.sul_peak, threshold))
    if base.pet is None:
        base_reason = "no PET at baseline: PERCIST not evaluable"
    elif threshold is None:
        base_reason = f"measurability threshold not available: {thr_text}"
    elif base_hot is None:
        base_reason = "no PET lesion given at baseline"
    else:
        base_reason = (f"baseline: hottest lesion {base_hot.id} SULpeak {base_hot.sul_peak:g} "
                       f"{'>=' if measurable else '<'} threshold {thr_text}: "
                       f"{'measurable' if measurable else 'no measurable lesion'}")
    empty = {"hottest_lesion": None, "sul_peak": None, "baseline_hottest_lesion": None,
             "baseline_sul_peak": None, "nadir_hottest_lesion": None, "nadir_sul_peak": None,
             "nadir_label": None}
    out.append(PercistTimepoint(
        label=base.label, date=base.date, is_baseline=True,
        hottest_lesion=base_hot.id if base_hot else None,
        sul_peak=base_hot.sul_peak if base_hot else None,
        baseline_hottest_lesion=base_hot.id if base_hot else None,
        baseline_sul_peak=base_hot.sul_peak if base_hot else None,
        nadir_hottest_lesion=base_hot.id if base_hot else None,
        nadir_sul_peak=base_hot.sul_peak if base_hot else None,
        nadir_label=base.label if base_hot else None,
        reference=base_ref[0] if base_ref else None,
        reference_sul_mean=base_ref[1] if base_ref else None,
        baseline_reference_sul_mean=base_ref[1] if base_ref else None,
        threshold_sul=threshold, new_lesions=(), category=None, vs_baseline=None,
        vs_nadir=None, reason=base_reason))
    # nadir: (SULpeak, lesion id, time-point index, reference SULmean)
    nadir = ((base_hot.sul_peak, base_hot.id, 0, base_ref[1])
             if measurable and base_hot and base_ref else None)
    for tp in case.followups:
        pet = tp.pet
        nb = case.new_baseline_ids_before(tp.index)
        new_ids = tuple(n.id for n in pet.new_lesions if n.typical_of_tumour
                        and n.id not in nb) if pet else ()
        other_new = [n.id for n in pet.new_lesions if not n.typical_of_tumour
                     and n.id not in nb] if pet else []
        ref = _reference(pet, base_ref[0]) if base_ref else None
        hot = _hottest(pet.lesions, nb) if pet is not None else None
        fields: dict[str, Any] = {
            "label": tp.label, "date": tp.date, "is_baseline": False, "threshold_sul": threshold,
            "reference": base_ref[0] if base_ref else None,
            "reference_sul_mean": ref[1] if ref else None,
            "baseline_reference_sul_mean": base_ref[1] if base_ref else None,
            "new_lesions": new_ids}
        if hot is not None and measurable and base_hot is not None:
            fields.update(hottest_lesion=hot.id, sul_peak=hot.sul_peak,
                          baseline_hottest_lesion=base_hot.id,
                          baseline_sul_peak=base_hot.sul_peak,
                          nadir_hottest_lesion=nadir[1] if nadir else None,
                          nadir_sul_peak=nadir[0] if nadir else None,
                          nadir_label=case.timepoints[nadir[2]].label if nadir else None)
        else:
            fields.update(empty)
        notes = []
        if other_new:
            notes.append(f"new PET lesion(s) {', '.join(other_new)} not typical of tumour: "
                         "not counted")
        ignored = [n.id for n in pet.new_lesions if n.id in nb] if pet else []
        if ignored:
            notes.append(f"{', '.join(ignored)} not counted: new baseline lesions after a "
                         "modality change")
        comparable = False
        if new_ids:
            calls = ("PMD", "PMD", "PMD",
                     f"PMD: new lesion(s) typical of tumour: {', '.join(new_ids)}")
        elif pet is None:
            calls = ("NE", "NE", "NE", "NE: no PET at this time point")
        elif not measurable or base_hot is None or base_ref is None or nadir is None:
            calls = ("NE", "NE", "NE", f"NE: no measurable baseline PET disease ({base_reason})")
        elif ref is None:
            calls = ("NE", "NE", "NE", (f"NE: the {base_ref[0]} reference "
                                       f"(pet.{base_ref[0]}_sul_mean) is not given at this time "
                                       "point"))
        else:
            assert hot is not None
            calls, comparable = _followup_calls(case, hot, ref, base_hot, base_ref[1], nadir, cfg)
        out.append(PercistTimepoint(**fields, category=calls[0], vs_baseline=calls[1],
                                    vs_nadir=calls[2],
                                    reason=calls[3] + "".join(f"; {n}" for n in notes)))
        if comparable and hot is not None and ref is not None and nadir is not None \
                and hot.sul_peak < nadir[0]:
            nadir = (hot.sul_peak, hot.id, tp.index, ref[1])
    return out
