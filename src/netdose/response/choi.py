"""Choi criteria (Choi H et al., J Clin Oncol 2007;25:1753-1759): CT size and density.

Proposed for GIST on imatinib, where responding tumours lose density (necrosis, myxoid
change) before, or instead of, shrinking. netdose implements:

- Targets: the RECIST 1.1 targets of the case (:func:`netdose.response.recist.select_targets`).
- Size = sum of longest diameters of the targets (Choi 2007 used longest diameters). A lymph
  node counts by its longest diameter when that is given at baseline and at every follow-up
  where the node was evaluated, otherwise by its short axis (recorded in ``size_basis``).
- Density = arithmetic mean of the targets' mean CT numbers (HU), over the targets that
  have ``mean_hu`` at both time points compared and have not disappeared; a baseline
  density <= 0 HU cannot give a percentage change and counts as not available.
- CR: every target disappeared (RECIST 1.1 target CR: nodes < 10 mm short axis), no new
  lesions, non-target disease gone.
- PR: size decreased >= 10 % OR density decreased >= 15 % (against baseline); no new
  lesions; no progression of non-measurable disease.
- PD: size increased >= 10 % (against the nadir by default, see ``pd_reference``) AND
  density not decreased enough for PR (against baseline); OR unequivocal new lesions; OR
  new/growing intratumoural nodules (``new_intratumoural_nodules`` on any lesion); OR
  unequivocal progression of non-target disease.
- SD: none of these.
- Not available: without density at both time points only CR and PR by size can be called;
  otherwise the target response is NE ("PD" or "SD" would need to exclude PR by density).
  A target not evaluated makes the target response NE.
- The target response is combined with non-target status and new lesions by RECIST 1.1
  Table 1 (:func:`netdose.response.recist.overall_response`).

``vs_baseline`` and ``vs_nadir`` use one reference for size and density (the density of the
nadir time point). Choi 2007 states no reference for PD; PD against the smallest sum
(``pd_reference="nadir"``) follows RECIST practice and is netdose's default; set
``pd_reference="baseline"`` for the alternative reading.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Any

from netdose.errors import InputError
from netdose.response.case import Case, Lesion
from netdose.response.recist import (
    RecistConfig,
    TargetSelection,
    at_least,
    at_most,
    check_config_number,
    config_as_dict,
    fmt_mm,
    fmt_pct,
    is_target_cr,
    new_lesion_sets,
    new_lesion_text,
    non_target_state,
    overall_response,
    pct_change,
    ref_name,
    rnd,
    select_targets,
    target_sizes,
)

__all__ = ["CHOI_SOURCE", "ChoiConfig", "ChoiTimepoint", "assess_choi"]

CHOI_SOURCE = "Choi H et al., J Clin Oncol 2007;25:1753-1759"


@dataclasses.dataclass(frozen=True)
class ChoiConfig:
    """Choi thresholds (defaults: Choi et al. 2007).

    Attributes
    ----------
    size_pr_decrease_pct : float
        PR by size: decrease of the sum of longest diameters of at least this, % (10).
    density_pr_decrease_pct : float
        PR by density: decrease of the mean HU of at least this, % (15).
    size_pd_increase_pct : float
        PD: increase of the size of at least this, % (10).
    inclusive : bool
        "At least" includes the threshold (True, as Choi 2007 words it: "≥").
    pd_reference : str
        ``"nadir"`` (default) or ``"baseline"``: the size reference for PD in ``category``.
    """

    size_pr_decrease_pct: float = 10.0
    density_pr_decrease_pct: float = 15.0
    size_pd_increase_pct: float = 10.0
    inclusive: bool = True
    pd_reference: str = "nadir"

    def __post_init__(self) -> None:
        for name in ("size_pr_decrease_pct", "density_pr_decrease_pct", "size_pd_increase_pct"):
            check_config_number("ChoiConfig", name, getattr(self, name), positive=True,
                                below=100.0, what="a percentage between 0 and 100")
        if self.pd_reference not in ("nadir", "baseline"):
            raise InputError(f"ChoiConfig.pd_reference = {self.pd_reference!r}: use 'nadir' or "
                             "'baseline'.")

    def as_dict(self) -> dict[str, Any]:
        return config_as_dict(self, CHOI_SOURCE)


@dataclasses.dataclass(frozen=True)
class ChoiTimepoint:
    """Choi at one time point (sizes in mm, densities in HU, changes in %)."""

    label: str
    date: _dt.date
    is_baseline: bool
    sum_mm: float | None
    baseline_sum_mm: float | None
    nadir_sum_mm: float | None
    nadir_label: str | None
    density_hu: float | None
    baseline_density_hu: float | None
    nadir_density_hu: float | None
    density_change_vs_baseline_pct: float | None
    density_change_vs_nadir_pct: float | None
    density_lesions: tuple[str, ...]
    intratumoural_nodules: bool | None
    target: str | None
    non_target: str | None
    new_lesions: tuple[str, ...]
    category: str | None
    vs_baseline: str | None
    vs_nadir: str | None
    reason: str
    size_basis: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        def change(ref: float | None) -> float | None:
            if self.is_baseline or self.sum_mm is None or ref is None:
                return None
            return pct_change(self.sum_mm, ref)
        mm = (self.sum_mm - self.nadir_sum_mm
              if not self.is_baseline and self.sum_mm is not None and self.nadir_sum_mm is not None
              else None)
        return {
            "category": self.category,
            "target": self.target,
            "non_target": self.non_target,
            "new_lesions": bool(self.new_lesions),
            "new_lesion_ids": list(self.new_lesions),
            "intratumoural_nodules": self.intratumoural_nodules,
            "sum_mm": rnd(self.sum_mm),
            "baseline_sum_mm": rnd(self.baseline_sum_mm),
            "nadir_sum_mm": rnd(self.nadir_sum_mm),
            "nadir_timepoint": self.nadir_label,
            "change_vs_baseline_pct": rnd(change(self.baseline_sum_mm)),
            "change_vs_nadir_pct": rnd(change(self.nadir_sum_mm)),
            "change_vs_nadir_mm": rnd(mm),
            "density_hu": rnd(self.density_hu),
            "baseline_density_hu": rnd(self.baseline_density_hu),
            "nadir_density_hu": rnd(self.nadir_density_hu),
            "density_change_vs_baseline_pct": rnd(self.density_change_vs_baseline_pct),
            "density_change_vs_nadir_pct": rnd(self.density_change_vs_nadir_pct),
            "density_lesions": list(self.density_lesions),
            "size_basis": dict(self.size_basis),
            "vs_baseline": self.vs_baseline,
            "vs_nadir": self.vs_nadir,
            "reason": self.reason,
        }


def _size_basis(case: Case, targets: tuple[str, ...]) -> dict[str, str]:
    """Which diameter each target contributes to the Choi size (see module docstring)."""
    out: dict[str, str] = {}
    for t in targets:
        base = case.baseline.lesion(t)
        assert base is not None
        if not base.nodal:
            out[t] = "longest_diameter_mm"
            continue
        ld_everywhere = base.longest_diameter_mm is not None and all(
            le.longest_diameter_mm is not None
            for tp in case.followups
            if (le := tp.lesion(t)) is not None and le.evaluated)
        out[t] = "longest_diameter_mm" if ld_everywhere else "short_axis_mm"
    return out


def _sizes(case: Case, index: int, basis: dict[str, str]) -> dict[str, float | None]:
    tp = case.timepoints[index]
    out: dict[str, float | None] = {}
    for t, field in basis.items():
        le = tp.lesion(t)
        assert le is not None
        out[t] = getattr(le, field) if le.evaluated else None
    return out


def _density(lesions: list[Lesion | None]) -> float | None:
    values = [le.mean_hu for le in lesions if le is not None and le.mean_hu is not None]
    return sum(values) / len(values) if values else None


def _present_with_hu(le: Lesion | None) -> bool:
    return (le is not None and le.evaluated and le.mean_hu is not None
            and (le.size_mm or 0.0) > 0.0)


def _density_change(case: Case, targets: tuple[str, ...], ref_index: int,
                    index: int) -> tuple[float | None, tuple[str, ...], float | None]:
    """(percent change, ids used, reference density) over targets with HU at both times."""
    ref_tp, tp = case.timepoints[ref_index], case.timepoints[index]
    ids = tuple(t for t in targets if _present_with_hu(ref_tp.lesion(t))
                and _present_with_hu(tp.lesion(t)))
    if not ids:
        return None, (), None
    d_ref = _density([ref_tp.lesion(t) for t in ids])
    d_now = _density([tp.lesion(t) for t in ids])
    assert d_ref is not None and d_now is not None
    if d_ref <= 0.0:
        return None, ids, d_ref
    return pct_change(d_now, d_ref), ids, d_ref


def _target_call(case: Case, targets: tuple[str, ...], index: int, sum_mm: float,
                 complete: bool, target_cr: bool, pr_ref: tuple[str, float, int],
                 pd_ref: tuple[str, float, int], cfg: ChoiConfig) -> tuple[str, str]:
    """Choi target response; references are (name, size_mm, time-point index)."""
    if not complete:
        return "NE", "not all targets evaluated"
    if target_cr:
        return "CR", f"all targets disappeared (sum {fmt_mm(sum_mm)})"
    tps = case.timepoints
    op = ">=" if cfg.inclusive else ">"
    pr_name, pr_sum, pr_i = pr_ref
    pd_name, pd_sum, pd_i = pd_ref
    size_pr_pct = pct_change(sum_mm, pr_sum)
    size_pd_pct = pct_change(sum_mm, pd_sum)
    dens_pct, dens_ids, _ = _density_change(case, targets, pr_i, index)
    size_pr = at_most(size_pr_pct, -cfg.size_pr_decrease_pct, cfg.inclusive)
    size_pd = at_least(size_pd_pct, cfg.size_pd_increase_pct, cfg.inclusive)
    dens_pr = dens_pct is not None and at_most(dens_pct, -cfg.density_pr_decrease_pct,
                                               cfg.inclusive)
    size_txt = (f"size {fmt_mm(sum_mm)} is {fmt_pct(size_pr_pct)} from the "
                f"{ref_name(pr_name, tps[pr_i].label)} {fmt_mm(pr_sum)}")
    if pd_i != pr_i:
        size_txt += (f" and {fmt_pct(size_pd_pct)} from the {ref_name(pd_name, tps[pd_i].label)}"
                     f" {fmt_mm(pd_sum)}")
    dens_txt = (f"density {fmt_pct(dens_pct)} from the {ref_name(pr_name, tps[pr_i].label)} "
                f"(mean HU of {', '.join(dens_ids)})" if dens_pct is not None else
                f"density change not available (mean_hu missing or <= 0 HU at "
                f"{tps[pr_i].label} or {tps[index].label})")
    rules = (f"PR needs size <= -{cfg.size_pr_decrease_pct:g} % or density <= "
             f"-{cfg.density_pr_decrease_pct:g} %; PD needs size {op} "
             f"+{cfg.size_pd_increase_pct:g} % without PR by density")
    text = f"{size_txt}; {dens_txt} ({rules})"
    if size_pd:
        if dens_pr:
            return "PR", f"size increased but density decreased enough for PR: {text}"
        if dens_pct is None:
            return "NE", f"size increased but PR by density cannot be excluded: {text}"
        return "PD", text
    if size_pr or dens_pr:
        return "PR", text
    if dens_pct is None:
        return "NE", f"not PR by size and density not available: {text}"
    return "SD", text


def assess_choi(case: Case, selection: TargetSelection | None = None,
                config: ChoiConfig | None = None,
                recist_config: RecistConfig | None = None) -> list[ChoiTimepoint]:
    """Choi at every time point (baseline first, with null calls).

    Parameters
    ----------
    case : Case
    selection : TargetSelection, optional
        The RECIST 1.1 targets (selected with ``recist_config`` if not given).
    config : ChoiConfig, optional
    recist_config : RecistConfig, optional
        Used for target selection and the nodal CR threshold.
    """
    cfg = config or ChoiConfig()
    rcfg = recist_config or RecistConfig()
    sel = selection or select_targets(case, rcfg)
    targets = sel.targets
    basis = _size_basis(case, targets)
    base = case.baseline
    out: list[ChoiTimepoint] = []
    if not targets:
        for tp in case.timepoints:
            out.append(ChoiTimepoint(
                label=tp.label, date=tp.date, is_baseline=tp.index == 0, sum_mm=None,
                baseline_sum_mm=None, nadir_sum_mm=None, nadir_label=None, density_hu=None,
                baseline_density_hu=None, nadir_density_hu=None,
                density_change_vs_baseline_pct=None, density_change_vs_nadir_pct=None,
                density_lesions=(), intratumoural_nodules=None, target=None, non_target=None,
                new_lesions=(), category=None if tp.index == 0 else "NE",
                vs_baseline=None if tp.index == 0 else "NE",
                vs_nadir=None if tp.index == 0 else "NE",
                reason="no measurable target lesion at baseline: Choi needs target lesions",
                size_basis={}))
        return out
    base_sizes = _sizes(case, 0, basis)
    base_sum = sum(s or 0.0 for s in base_sizes.values())
    base_density = _density([base.lesion(t) for t in targets])
    nadir = (base_sum, 0)
    for tp in case.timepoints:
        i = tp.index
        sizes = _sizes(case, i, basis)
        complete = all(s is not None for s in sizes.values())
        sum_mm = sum(s for s in sizes.values() if s is not None)
        density = _density([tp.lesion(t) for t in targets
                            if _present_with_hu(tp.lesion(t))])
        if i == 0:
            out.append(ChoiTimepoint(
                label=tp.label, date=tp.date, is_baseline=True, sum_mm=sum_mm,
                baseline_sum_mm=sum_mm, nadir_sum_mm=sum_mm, nadir_label=tp.label,
                density_hu=density, baseline_density_hu=base_density,
                nadir_density_hu=base_density, density_change_vs_baseline_pct=None,
                density_change_vs_nadir_pct=None,
                density_lesions=tuple(t for t in targets if _present_with_hu(tp.lesion(t))),
                intratumoural_nodules=None, target=None, non_target=None, new_lesions=(),
                category=None, vs_baseline=None, vs_nadir=None,
                reason=(f"baseline: size {fmt_mm(sum_mm)} (sum of longest diameters of "
                        f"{', '.join(targets)}), density "
                        + (f"{density:.1f} HU" if density is not None else "not measured")),
                size_basis=basis))
            continue
        target_cr = is_target_cr(case, target_sizes(case, sel, i), rcfg)
        b_ref = ("baseline", base_sum, 0)
        n_ref = ("nadir", nadir[0], nadir[1])
        pd_ref = n_ref if cfg.pd_reference == "nadir" else b_ref
        calls = {
            "official": _target_call(case, targets, i, sum_mm, complete, target_cr, b_ref,
                                     pd_ref, cfg),
            "baseline": _target_call(case, targets, i, sum_mm, complete, target_cr, b_ref,
                                     b_ref, cfg),
            "nadir": _target_call(case, targets, i, sum_mm, complete, target_cr, n_ref, n_ref,
                                  cfg),
        }
        non_target = non_target_state(case, sel, i)
        counted, equivocal, ignored = new_lesion_sets(case, i)
        flags = [le.new_intratumoural_nodules for le in tp.lesions
                 if le.new_intratumoural_nodules is not None]
        nodules = any(flags) if flags else None
        nodule_ids = [le.id for le in tp.lesions if le.new_intratumoural_nodules]
        results: dict[str, tuple[str, str]] = {}
        for key, (tcall, _) in calls.items():
            cat, why = overall_response(tcall, non_target, bool(counted))
            if nodules and cat != "PD":
                cat, why = "PD", "new or growing intratumoural nodules"
            results[key] = (cat, why)
        category, why = results["official"]
        nod_txt = (f"new/growing intratumoural nodules in {', '.join(nodule_ids)}" if nodules
                   else "no new intratumoural nodules" if nodules is False
                   else "intratumoural nodules not recorded")
        nt_txt = {"none": "no non-target disease",
                  "NE": "non-target disease not evaluated"}.get(non_target,
                                                                f"non-target {non_target}")
        parts = [calls["official"][1], nt_txt,
                 new_lesion_text([n.id for n in counted], equivocal, ignored), nod_txt]
        reason = f"{category} ({why}): " + "; ".join(parts)
        d_base, dens_ids, _ = _density_change(case, targets, 0, i)
        d_nadir, _, _ = _density_change(case, targets, nadir[1], i)
        nadir_tp = case.timepoints[nadir[1]]
        out.append(ChoiTimepoint(
            label=tp.label, date=tp.date, is_baseline=False, sum_mm=sum_mm,
            baseline_sum_mm=base_sum, nadir_sum_mm=nadir[0], nadir_label=nadir_tp.label,
            density_hu=density, baseline_density_hu=base_density,
            nadir_density_hu=_density([nadir_tp.lesion(t) for t in targets
                                       if _present_with_hu(nadir_tp.lesion(t))]),
            density_change_vs_baseline_pct=d_base, density_change_vs_nadir_pct=d_nadir,
            density_lesions=dens_ids, intratumoural_nodules=nodules,
            target=calls["official"][0], non_target=non_target,
            new_lesions=tuple(n.id for n in counted), category=category,
            vs_baseline=results["baseline"][0], vs_nadir=results["nadir"][0], reason=reason,
            size_basis=basis))
        if complete and sum_mm < nadir[0]:
            nadir = (sum_mm, i)
    return out
