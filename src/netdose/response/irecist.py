"""iRECIST (Seymour L et al., Lancet Oncol 2017;18:e143-e152): RECIST 1.1 with confirmation
of progression, for immunotherapy and other treatments with pseudo-progression.

Rules netdose implements (per time point, in order):

1. Without an open iUPD, the call is RECIST 1.1's with an "i": iCR, iPR, iSD, NE
   (non-target disease only: non-iCR/non-iUPD); RECIST PD becomes **iUPD** (unconfirmed),
   which opens a confirmation window. At that time point netdose records what progressed
   (targets, non-targets, new lesions), the target sum, and the new lesions: measurable new
   lesions (RECIST size rules) become new-lesion targets (NLT; <= 5, <= 2 per organ, largest
   first), the others new-lesion non-targets (NLNT).
2. With an open iUPD the next assessments can **confirm** it (iCPD) by any of:
   - targets were in PD at iUPD and their sum has since grown by >= 5 mm (increases add up
     over assessments: the reference is the sum at iUPD);
   - targets were not in PD at iUPD and now meet RECIST 1.1 PD (against the nadir);
   - non-targets were PD at iUPD and the reader records a further increase
     (``non_target_further_increase: true``);
   - non-targets were not PD at iUPD and now are PD;
   - new lesions: the NLT sum has grown by >= 5 mm since iUPD, an NLNT has grown (any
     increase of its diameter), or more new lesions appeared (an id not seen at iUPD; also
     the first new lesions after an iUPD driven by targets or non-targets).
3. Otherwise, while anything that drove the iUPD persists (targets still PD against the
   nadir, non-targets still PD, new lesions of the iUPD still listed), the call **remains
   iUPD**. When none persists, the call is RECIST 1.1's again (iSD, iPR or iCR): the **bar
   resets**, and the next progression is again iUPD, needing confirmation of its own.
4. iCPD is final: later time points stay iCPD.
5. An NE time point neither confirms nor resets an open iUPD.

Conventions: a new lesion keeps its id and is listed under ``new_lesions`` at every time
point where it is still seen; a new lesion no longer listed has resolved (diameter 0). The
nadir is RECIST 1.1's. ``vs_baseline`` and ``vs_nadir`` are the single-reference RECIST 1.1
calls with an "i" (PD as iUPD), without the confirmation logic. The 4-8 week timing of the
confirmation scan and the clinical-stability condition are the reader's responsibility and
are not checked.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from netdose.response.case import Case, NewLesion
from netdose.response.recist import (
    RecistConfig,
    RecistTimepoint,
    TargetSelection,
    assess_recist,
    at_least,
    check_config_number,
    config_as_dict,
    fmt_mm,
    measurability,
    new_lesion_sets,
    pick_largest,
    rnd,
    select_targets,
)

__all__ = ["IRECIST_SOURCE", "IrecistConfig", "IrecistTimepoint", "assess_irecist",
           "i_category"]

IRECIST_SOURCE = "Seymour L et al., Lancet Oncol 2017;18:e143-e152 (iRECIST)"

_I_MAP = {"CR": "iCR", "PR": "iPR", "SD": "iSD", "PD": "iUPD", "NE": "NE",
          "non-CR/non-PD": "non-iCR/non-iUPD"}


def i_category(recist_category: str | None) -> str | None:
    """The iRECIST spelling of a RECIST 1.1 call (PD → iUPD)."""
    return None if recist_category is None else _I_MAP[recist_category]


@dataclasses.dataclass(frozen=True)
class IrecistConfig:
    """iRECIST confirmation thresholds (Seymour et al. 2017).

    Attributes
    ----------
    confirm_target_increase_mm : float
        iCPD by targets: sum grown by at least this since iUPD, mm (5).
    confirm_new_lesion_target_increase_mm : float
        iCPD by new-lesion targets: their sum grown by at least this since iUPD, mm (5).
    inclusive : bool
        "At least" includes the threshold (True: ">= 5 mm").
    """

    confirm_target_increase_mm: float = 5.0
    confirm_new_lesion_target_increase_mm: float = 5.0
    inclusive: bool = True

    def __post_init__(self) -> None:
        for name in ("confirm_target_increase_mm", "confirm_new_lesion_target_increase_mm"):
            check_config_number("IrecistConfig", name, getattr(self, name),
                                what="a number >= 0 (mm)")

    def as_dict(self) -> dict[str, Any]:
        return config_as_dict(self, IRECIST_SOURCE)


@dataclasses.dataclass(frozen=True)
class _OpenIupd:
    index: int
    label: str
    target_pd: bool
    non_target_pd: bool
    sum_mm: float | None
    new_ids: frozenset[str]
    nlt_ids: tuple[str, ...]
    nlt_sum_mm: float
    nlnt_sizes: dict[str, float | None]


@dataclasses.dataclass(frozen=True)
class IrecistTimepoint:
    """iRECIST at one time point; ``recist`` holds the underlying RECIST 1.1 facts."""

    recist: RecistTimepoint
    category: str | None
    vs_baseline: str | None
    vs_nadir: str | None
    iupd_label: str | None
    confirmation: tuple[str, ...]
    reset: bool
    new_lesion_target_ids: tuple[str, ...]
    new_lesion_target_sum_mm: float | None
    new_lesion_target_sum_at_iupd_mm: float | None
    sum_at_iupd_mm: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        r = self.recist
        return {
            "category": self.category,
            "target": i_category(r.target),
            "non_target": r.non_target,
            "new_lesions": bool(r.new_lesions),
            "new_lesion_ids": list(r.new_lesions),
            "sum_mm": rnd(r.sum_mm),
            "baseline_sum_mm": rnd(r.baseline_sum_mm),
            "nadir_sum_mm": rnd(r.nadir_sum_mm),
            "nadir_timepoint": r.nadir_label,
            "change_vs_baseline_pct": rnd(r.change_vs_baseline_pct),
            "change_vs_nadir_pct": rnd(r.change_vs_nadir_pct),
            "change_vs_nadir_mm": rnd(r.change_vs_nadir_mm),
            "iupd_timepoint": self.iupd_label,
            "sum_at_iupd_mm": rnd(self.sum_at_iupd_mm),
            "new_lesion_target_ids": list(self.new_lesion_target_ids),
            "new_lesion_target_sum_mm": rnd(self.new_lesion_target_sum_mm),
            "new_lesion_target_sum_at_iupd_mm": rnd(self.new_lesion_target_sum_at_iupd_mm),
            "confirmed_by": list(self.confirmation),
            "bar_reset": self.reset,
            "vs_baseline": self.vs_baseline,
            "vs_nadir": self.vs_nadir,
            "reason": self.reason,
        }


def _new_sizes(counted: list[NewLesion]) -> dict[str, float | None]:
    return {n.id: n.size_mm for n in counted}


def _open(r: RecistTimepoint, index: int, counted: list[NewLesion],
          rcfg: RecistConfig) -> _OpenIupd:
    cands = []
    for n in counted:
        ok, _ = measurability(n, rcfg)
        if ok:
            assert n.size_mm is not None
            cands.append((n.id, n.organ, n.size_mm))
    nlt = tuple(pick_largest(cands, rcfg.max_targets, rcfg.max_targets_per_organ))
    sizes = _new_sizes(counted)
    return _OpenIupd(
        index=index, label=r.label, target_pd=r.target == "PD",
        non_target_pd=r.non_target == "PD", sum_mm=r.sum_mm,
        new_ids=frozenset(sizes), nlt_ids=nlt,
        nlt_sum_mm=sum(sizes[t] or 0.0 for t in nlt),
        nlnt_sizes={k: v for k, v in sizes.items() if k not in nlt})


def assess_irecist(case: Case, selection: TargetSelection | None = None,
                   config: IrecistConfig | None = None,
                   recist_config: RecistConfig | None = None,
                   recist: list[RecistTimepoint] | None = None) -> list[IrecistTimepoint]:
    """iRECIST at every time point (baseline first, with null calls); rules in the module
    docstring. ``recist`` may pass RECIST 1.1 results already computed for ``case``."""
    cfg = config or IrecistConfig()
    rcfg = recist_config or RecistConfig()
    sel = selection or select_targets(case, rcfg)
    rec = recist if recist is not None else assess_recist(case, sel, rcfg)
    op = ">=" if cfg.inclusive else ">"
    out: list[IrecistTimepoint] = []
    open_iupd: _OpenIupd | None = None
    confirmed_at: str | None = None
    for tp, r in zip(case.timepoints, rec, strict=True):
        if tp.index == 0:
            out.append(IrecistTimepoint(
                recist=r, category=None, vs_baseline=None, vs_nadir=None, iupd_label=None,
                confirmation=(), reset=False, new_lesion_target_ids=(),
                new_lesion_target_sum_mm=None, new_lesion_target_sum_at_iupd_mm=None,
                sum_at_iupd_mm=None, reason=r.reason))
            continue
        counted, _, _ = new_lesion_sets(case, tp.index)
        sizes = _new_sizes(counted)
        vs_b, vs_n = i_category(r.vs_baseline), i_category(r.vs_nadir)
        common: dict[str, Any] = {"recist": r, "vs_baseline": vs_b, "vs_nadir": vs_n}
        if confirmed_at is not None:
            out.append(IrecistTimepoint(
                **common, category="iCPD", iupd_label=None, confirmation=(), reset=False,
                new_lesion_target_ids=(), new_lesion_target_sum_mm=None,
                new_lesion_target_sum_at_iupd_mm=None, sum_at_iupd_mm=None,
                reason=f"iCPD: progression was confirmed at {confirmed_at}; iCPD is final. "
                       f"RECIST 1.1 here: {r.reason}"))
            continue
        if open_iupd is None:
            category = i_category(r.category)
            nlt: tuple[str, ...] = ()
            nlt_sum = None
            if r.category == "PD":
                open_iupd = _open(r, tp.index, counted, rcfg)
                nlt = open_iupd.nlt_ids
                nlt_sum = open_iupd.nlt_sum_mm if nlt else None
                reason = (f"iUPD (unconfirmed progression; confirm at the next assessment, "
                          f"4-8 weeks): {r.reason}")
            else:
                reason = f"{category}: {r.reason}"
            out.append(IrecistTimepoint(
                **common, category=category,
                iupd_label=open_iupd.label if open_iupd else None, confirmation=(),
                reset=False, new_lesion_target_ids=nlt, new_lesion_target_sum_mm=nlt_sum,
                new_lesion_target_sum_at_iupd_mm=nlt_sum,
                sum_at_iupd_mm=open_iupd.sum_mm if open_iupd else None, reason=reason))
            continue

        # ---- an iUPD is open: confirm, remain, or reset
        u = open_iupd
        triggers: list[str] = []
        growth = None
        if r.sum_mm is not None and u.sum_mm is not None:
            growth = r.sum_mm - u.sum_mm
        if u.target_pd:
            if growth is not None and at_least(growth, cfg.confirm_target_increase_mm,
                                               cfg.inclusive):
                triggers.append(f"target sum {fmt_mm(r.sum_mm or 0.0)} grew "
                                f"{fmt_mm(growth, True)} since iUPD at {u.label} "
                                f"({fmt_mm(u.sum_mm or 0.0)}; needs {op} "
                                f"{cfg.confirm_target_increase_mm:g} mm)")
        elif r.target == "PD":
            triggers.append("target lesions now meet RECIST 1.1 PD "
                            f"(sum {fmt_mm(r.sum_mm or 0.0)}, nadir "
                            f"{fmt_mm(r.nadir_sum_mm or 0.0)})")
        if u.non_target_pd:
            if r.non_target == "PD" and tp.non_target_further_increase:
                triggers.append("non-target disease increased further since the last "
                                "assessment")
        elif r.non_target == "PD":
            triggers.append("non-target disease now unequivocally progressed")
        extra = sorted(set(sizes) - u.new_ids)
        if extra:
            triggers.append(f"more new lesions: {', '.join(extra)}")
        nlt_now = sum((sizes.get(t) or 0.0) for t in u.nlt_ids)
        if u.nlt_ids and at_least(nlt_now - u.nlt_sum_mm,
                                  cfg.confirm_new_lesion_target_increase_mm, cfg.inclusive):
            triggers.append(f"new-lesion target sum {fmt_mm(nlt_now)} grew "
                            f"{fmt_mm(nlt_now - u.nlt_sum_mm, True)} since {u.label} "
                            f"(needs {op} {cfg.confirm_new_lesion_target_increase_mm:g} mm)")
        grown = [k for k, v in u.nlnt_sizes.items()
                 if v is not None and sizes.get(k) is not None and sizes[k] > v]  # type: ignore[operator]
        if grown:
            triggers.append(f"new non-target lesion(s) {', '.join(grown)} grew")
        nl_fields: dict[str, Any] = {
            "new_lesion_target_ids": u.nlt_ids,
            "new_lesion_target_sum_mm": nlt_now if u.nlt_ids else None,
            "new_lesion_target_sum_at_iupd_mm": u.nlt_sum_mm if u.nlt_ids else None,
            "sum_at_iupd_mm": u.sum_mm}
        if triggers:
            confirmed_at = tp.label
            open_iupd = None
            out.append(IrecistTimepoint(
                **common, category="iCPD", iupd_label=u.label, confirmation=tuple(triggers),
                reset=False, **nl_fields,
                reason=f"iCPD (iUPD at {u.label} confirmed): " + "; ".join(triggers)))
            continue
        persisting = []
        if r.target == "PD":
            persisting.append("target sum still meets PD against the nadir")
        if r.non_target == "PD":
            persisting.append("non-target disease still PD")
        still_new = sorted(set(sizes) & u.new_ids)
        if still_new:
            persisting.append(f"new lesion(s) {', '.join(still_new)} still present")
        if persisting:
            needed = []
            if u.target_pd:
                bar = (u.sum_mm or 0.0) + cfg.confirm_target_increase_mm
                needed.append(f"target sum {op} {fmt_mm(bar)}")
            if u.nlt_ids:
                needed.append(f"new-lesion target sum {op} "
                              f"{fmt_mm(u.nlt_sum_mm + cfg.confirm_new_lesion_target_increase_mm)}")
            needed.append("any additional new lesion")
            out.append(IrecistTimepoint(
                **common, category="iUPD", iupd_label=u.label, confirmation=(), reset=False,
                **nl_fields,
                reason=(f"iUPD remains (iUPD at {u.label} not confirmed: "
                        f"{'; '.join(persisting)}; confirmation needs e.g. "
                        f"{' or '.join(needed)}). RECIST 1.1 here: {r.reason}")))
            continue
        if r.category == "NE":
            out.append(IrecistTimepoint(
                **common, category="NE", iupd_label=u.label, confirmation=(), reset=False,
                **nl_fields,
                reason=f"NE: iUPD at {u.label} neither confirmed nor reset. {r.reason}"))
            continue
        open_iupd = None
        category = i_category(r.category)
        out.append(IrecistTimepoint(
            **common, category=category, iupd_label=None, confirmation=(), reset=True,
            **nl_fields,
            reason=(f"{category}: iUPD at {u.label} not confirmed and the disease no longer "
                    "meets progression, so the bar resets (a new progression is iUPD again). "
                    f"RECIST 1.1 here: {r.reason}")))
    return out
