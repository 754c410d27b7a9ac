"""RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247) on a response case.

- Targets: at baseline, up to 5 measurable lesions, at most 2 per organ, all lymph nodes
  counting as one organ, largest first (:func:`select_targets`); or the ids the case gives.
  Measurable: non-nodal longest diameter >= 10 mm, node short axis >= 15 mm.
- Sum of diameters: longest diameters of non-nodal targets + short axes of nodal targets.
- Target response: CR = every non-nodal target disappeared (0 mm) and every target node has
  short axis < 10 mm; PR = sum decreased >= 30 % from baseline; PD = sum increased >= 20 %
  over the nadir AND by >= 5 mm; SD otherwise. The nadir is the smallest sum of the time
  points before the current one, baseline included, counting only time points where every
  target was evaluated (a partial sum would fake a low nadir). After a PD the evaluation goes
  on with the same rule: the nadir is not reset by progression (RECIST defines none), so a
  later call is still judged against the smallest sum on record.
- Targets not evaluated at a follow-up: the target response is NE, unless the evaluated
  targets alone already meet PD (their sum can only grow with the missing ones).
- Overall response: RECIST 1.1 Table 1 (targets present) or Table 2 (non-target disease
  only) from target response, non-target status (reader's call) and unequivocal new lesions
  (:func:`overall_response`).
- ``category`` is the official call (PR against baseline, PD against nadir); ``vs_baseline``
  and ``vs_nadir`` use one reference for both PR and PD, as the case-report form asks.
- Lesions that a modality change made "new baseline lesions" do not count as new lesions at
  that or any later time point; they join the non-target disease.

Thresholds and whether each comparison is inclusive are in :class:`RecistConfig`. Comparisons
allow a relative tolerance of 1e-9 so that a sum exactly on a threshold (56 mm from 80 mm is
exactly -30 %) is not lost to floating-point rounding.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

from netdose.errors import InputError
from netdose.response.case import Case, Lesion, NewLesion, organ_key

__all__ = [
    "RECIST_SOURCE",
    "RecistConfig",
    "RecistTimepoint",
    "TargetSelection",
    "assess_recist",
    "at_least",
    "at_most",
    "check_config_number",
    "config_as_dict",
    "fmt_mm",
    "fmt_pct",
    "is_target_cr",
    "measurability",
    "new_lesion_sets",
    "new_lesion_text",
    "non_target_state",
    "overall_response",
    "pct_change",
    "pick_largest",
    "ref_name",
    "rnd",
    "select_targets",
    "target_sizes",
]

RECIST_SOURCE = "Eisenhauer EA et al., Eur J Cancer 2009;45:228-247 (RECIST 1.1)"
_REL_TOL = 1e-9


# =========================================================================== numbers
def at_least(value: float, threshold: float, inclusive: bool = True) -> bool:
    """``value >= threshold`` (``>`` if not inclusive), with a 1e-9 relative tolerance."""
    tol = _REL_TOL * max(1.0, abs(threshold))
    return value >= threshold - tol if inclusive else value > threshold + tol


def at_most(value: float, threshold: float, inclusive: bool = True) -> bool:
    """``value <= threshold`` (``<`` if not inclusive), with a 1e-9 relative tolerance."""
    tol = _REL_TOL * max(1.0, abs(threshold))
    return value <= threshold + tol if inclusive else value < threshold - tol


def pct_change(value: float, reference: float) -> float:
    """100 · (value − reference) / reference; +inf when the reference is 0 and the value is
    not (regrowth after complete disappearance), 0 when both are 0."""
    if reference > 0.0:
        return 100.0 * (value - reference) / reference
    return 0.0 if value == 0.0 else math.inf


def fmt_pct(value: float) -> str:
    """A signed percentage for messages (more decimals next to a whole-number threshold)."""
    if math.isinf(value):
        return "+inf %"
    near = abs(value - round(value)) < 0.05 and abs(value - round(value)) > 1e-9
    return f"{value:+.3f} %" if near else f"{value:+.1f} %"


def fmt_mm(value: float, signed: bool = False) -> str:
    return f"{value:+.1f} mm" if signed else f"{value:.1f} mm"


def ref_name(name: str, label: str) -> str:
    """'nadir (fu1)'; just 'baseline' when the time point is labelled so."""
    return name if name == label else f"{name} ({label})"


def rnd(value: float | None, ndigits: int = 2) -> float | None:
    """Round for JSON output; None for None and infinities."""
    if value is None or math.isinf(value):
        return None
    return round(float(value), ndigits) + 0.0


# =========================================================================== configuration
def check_config_number(owner: str, name: str, value: object, *, positive: bool = False,
                        below: float | None = None, what: str = "a finite number >= 0") -> None:
    """Refuse a config constant that is not a finite real number >= 0 (> 0 if ``positive``,
    and < ``below`` if given); the message names ``owner.name`` and ``what`` to give."""
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and math.isfinite(value) and (value > 0 if positive else value >= 0)
          and (below is None or value < below))
    if not ok:
        raise InputError(f"{owner}.{name} = {value!r}: give {what}.")


def config_as_dict(config: object, source: str) -> dict[str, Any]:
    """Every field of a config dataclass with its value, plus the ``source``."""
    out: dict[str, Any] = {f.name: getattr(config, f.name)
                           for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    out["source"] = source
    return out


@dataclasses.dataclass(frozen=True)
class RecistConfig:
    """RECIST 1.1 thresholds (defaults: Eisenhauer et al. 2009).

    Attributes
    ----------
    pr_decrease_pct : float
        PR: decrease of the sum from baseline of at least this, % (30).
    pd_increase_pct : float
        PD: increase of the sum over the nadir of at least this, % (20) ...
    pd_increase_mm : float
        ... and of at least this much in absolute terms, mm (5).
    pr_inclusive, pd_inclusive, pd_mm_inclusive : bool
        Whether "at least" includes the threshold (True: ">= 30 %", as RECIST 1.1 words it).
    non_nodal_measurable_mm : float
        Smallest measurable longest diameter of a non-nodal lesion, mm (10, CT slice <= 5 mm).
    node_measurable_short_axis_mm : float
        Smallest short axis of a measurable (target) lymph node, mm (15).
    node_normal_short_axis_mm : float
        Target nodes count as disappeared (CR) below this short axis, mm (10; strict).
    max_targets, max_targets_per_organ : int
        At most 5 targets, at most 2 per organ; all nodes are one organ.
    """

    pr_decrease_pct: float = 30.0
    pd_increase_pct: float = 20.0
    pd_increase_mm: float = 5.0
    pr_inclusive: bool = True
    pd_inclusive: bool = True
    pd_mm_inclusive: bool = True
    non_nodal_measurable_mm: float = 10.0
    node_measurable_short_axis_mm: float = 15.0
    node_normal_short_axis_mm: float = 10.0
    max_targets: int = 5
    max_targets_per_organ: int = 2

    def __post_init__(self) -> None:
        for name in ("pd_increase_pct", "pd_increase_mm", "non_nodal_measurable_mm",
                     "node_measurable_short_axis_mm", "node_normal_short_axis_mm"):
            check_config_number("RecistConfig", name, getattr(self, name))
        check_config_number("RecistConfig", "pr_decrease_pct", self.pr_decrease_pct,
                            positive=True, below=100.0,
                            what="a percentage between 0 and 100 (30 for RECIST 1.1)")
        for name in ("max_targets", "max_targets_per_organ"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"RecistConfig.{name} = {value!r}: give an integer >= 1.")

    def as_dict(self) -> dict[str, Any]:
        """Every threshold with its value and source (recorded in results)."""
        return config_as_dict(self, RECIST_SOURCE)


# =========================================================================== targets
@dataclasses.dataclass(frozen=True)
class TargetSelection:
    """Target and non-target lesions chosen at baseline.

    ``notes`` says for each baseline lesion why it is (not) a target.
    """

    targets: tuple[str, ...]
    non_targets: tuple[str, ...]
    method: str
    notes: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"targets": list(self.targets), "non_targets": list(self.non_targets),
                "method": self.method, "notes": dict(self.notes)}


def measurability(lesion: Lesion | NewLesion, config: RecistConfig) -> tuple[bool, str]:
    """Whether a lesion is measurable by RECIST 1.1 size rules, and why (in words)."""
    if isinstance(lesion, Lesion) and lesion.measurable is False:
        return False, "marked not measurable"
    size = lesion.size_mm
    if lesion.nodal:
        thr, what = config.node_measurable_short_axis_mm, "node short axis"
    else:
        thr, what = config.non_nodal_measurable_mm, "longest diameter"
    if size is None:
        return False, f"no {what} given"
    if at_least(size, thr):
        return True, f"{what} {size:g} mm >= {thr:g} mm"
    return False, f"{what} {size:g} mm < {thr:g} mm"


def pick_largest(candidates: Sequence[tuple[str, str, float]], max_total: int,
                 max_per_organ: int) -> list[str]:
    """Largest first, at most ``max_per_organ`` per organ key and ``max_total`` in all.

    ``candidates`` are (id, organ, size_mm); ties keep the input order. Returns the ids in
    the order chosen.
    """
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i][2], i))
    chosen: list[str] = []
    per_organ: dict[str, int] = {}
    for i in order:
        lid, organ, _ = candidates[i]
        key = organ_key(organ)
        if len(chosen) >= max_total:
            break
        if per_organ.get(key, 0) >= max_per_organ:
            continue
        chosen.append(lid)
        per_organ[key] = per_organ.get(key, 0) + 1
    return chosen


def select_targets(case: Case, config: RecistConfig | None = None) -> TargetSelection:
    """RECIST 1.1 targets of a case: the baseline ``targets`` if given (checked), otherwise
    automatic selection (largest measurable lesions first, <= 5, <= 2 per organ, all nodes
    one organ). Every other baseline lesion is a non-target.

    Raises
    ------
    InputError
        A given target that is not measurable or breaks the per-organ/total limits; a lesion
        marked ``"measurable": true`` whose size is below the threshold; a target missing at
        a follow-up (:meth:`Case.check_targets`).
    """
    cfg = config or RecistConfig()
    base = case.baseline
    notes: dict[str, str] = {}
    measurable: list[tuple[str, str, float]] = []
    for i, le in enumerate(base.lesions):
        ok, why = measurability(le, cfg)
        if le.measurable is True and not ok:
            raise InputError(
                f"{case.source}: {base.path}.lesions[{i}].measurable: lesion {le.id!r} is marked "
                f"measurable but its {why} (RECIST 1.1). Correct the measurement, remove "
                '"measurable": true, or change the threshold in RecistConfig.'
            )
        notes[le.id] = why
        if ok:
            assert le.size_mm is not None
            measurable.append((le.id, le.organ, le.size_mm))
    if base.targets is None:
        method = "automatic"
        targets = pick_largest(measurable, cfg.max_targets, cfg.max_targets_per_organ)
        chosen = set(targets)
        for lid, organ, _ in measurable:
            notes[lid] = (f"target: {notes[lid]}" if lid in chosen else
                          f"non-target: measurable ({notes[lid]}) but not among the largest "
                          f"{cfg.max_targets} / {cfg.max_targets_per_organ} per organ "
                          f"({organ_key(organ)})")
    else:
        method = "given"
        targets = list(base.targets)
        ok_ids = {m[0] for m in measurable}
        per_organ: dict[str, int] = {}
        for k, tid in enumerate(targets):
            given_lesion = base.lesion(tid)
            assert given_lesion is not None
            if tid not in ok_ids:
                raise InputError(
                    f"{case.source}: {base.path}.targets[{k}]: lesion {tid!r} cannot be a RECIST "
                    f"1.1 target: {notes[tid]}. Choose a measurable lesion, or use null for "
                    "automatic selection."
                )
            key = organ_key(given_lesion.organ)
            per_organ[key] = per_organ.get(key, 0) + 1
            if per_organ[key] > cfg.max_targets_per_organ:
                raise InputError(
                    f"{case.source}: {base.path}.targets[{k}]: {tid!r} is target number "
                    f"{per_organ[key]} in organ {key!r}; RECIST 1.1 allows at most "
                    f"{cfg.max_targets_per_organ} per organ (all lymph nodes are one organ)."
                )
        if len(targets) > cfg.max_targets:
            raise InputError(
                f"{case.source}: {base.path}.targets: {len(targets)} targets given; RECIST 1.1 "
                f"allows at most {cfg.max_targets}. Keep the largest, most reproducible ones."
            )
        for tid in targets:
            notes[tid] = f"target (given): {notes[tid]}"
    target_set = set(targets)
    non_targets = tuple(le.id for le in base.lesions if le.id not in target_set)
    for lid in non_targets:
        if not notes[lid].startswith("non-target"):
            notes[lid] = f"non-target: {notes[lid]}"
    case.check_targets(targets)
    return TargetSelection(targets=tuple(targets), non_targets=non_targets, method=method,
                           notes=notes)


# =========================================================================== responses
def overall_response(target: str | None, non_target: str,
                     new_lesions: bool) -> tuple[str, str]:
    """Overall time-point response: RECIST 1.1 Table 1 (``target`` given) or Table 2
    (``target`` None: no target disease).

    Parameters
    ----------
    target : str or None
        ``"CR"``, ``"PR"``, ``"SD"``, ``"PD"``, ``"NE"`` (not all evaluated), or None.
    non_target : str
        ``"CR"``, ``"non-CR/non-PD"``, ``"PD"``, ``"NE"`` (not evaluated) or ``"none"`` (no
        non-target disease).
    new_lesions : bool
        Unequivocal new lesions present.

    Returns
    -------
    (category, why) : the overall call and the table row in words.
    """
    if new_lesions:
        return "PD", "unequivocal new lesion(s)"
    if target == "PD":
        return "PD", "target response PD"
    if non_target == "PD":
        return "PD", "unequivocal progression of non-target disease"
    if target is None:
        if non_target == "CR":
            return "CR", "no target disease; non-target disease disappeared"
        if non_target == "non-CR/non-PD":
            return "non-CR/non-PD", "no target disease; non-target disease persists"
        if non_target == "none":
            return "NE", "no target and no non-target disease at baseline"
        return "NE", "no target disease and non-target disease not evaluated"
    if target == "NE":
        return "NE", "not all target lesions evaluated"
    if target == "CR":
        if non_target in ("CR", "none"):
            return "CR", "targets disappeared" + (
                " and so did non-target disease" if non_target == "CR" else "")
        if non_target == "non-CR/non-PD":
            return "PR", "targets disappeared but non-target disease persists"
        return "PR", "targets disappeared; non-target disease not evaluated"
    if target == "PR":
        return "PR", "target response PR"
    return "SD", "target response SD"


@dataclasses.dataclass(frozen=True)
class RecistTimepoint:
    """RECIST 1.1 at one time point: the facts and the calls.

    Sums are in mm (None without target disease). ``sum_mm`` of a time point where some
    targets were not evaluated is the sum of those that were (``complete`` False).
    """

    label: str
    date: _dt.date
    is_baseline: bool
    sum_mm: float | None
    complete: bool
    not_evaluated: tuple[str, ...]
    baseline_sum_mm: float | None
    nadir_sum_mm: float | None
    nadir_label: str | None
    target_cr: bool
    target: str | None
    target_vs_baseline: str | None
    target_vs_nadir: str | None
    non_target: str | None
    new_lesions: tuple[str, ...]
    equivocal_new_lesions: tuple[str, ...]
    new_baseline_lesions: tuple[str, ...]
    category: str | None
    vs_baseline: str | None
    vs_nadir: str | None
    reason: str

    @property
    def change_vs_baseline_mm(self) -> float | None:
        if self.is_baseline or self.sum_mm is None or self.baseline_sum_mm is None:
            return None
        return self.sum_mm - self.baseline_sum_mm

    @property
    def change_vs_nadir_mm(self) -> float | None:
        if self.is_baseline or self.sum_mm is None or self.nadir_sum_mm is None:
            return None
        return self.sum_mm - self.nadir_sum_mm

    @property
    def change_vs_baseline_pct(self) -> float | None:
        if self.is_baseline or self.sum_mm is None or self.baseline_sum_mm is None:
            return None
        return pct_change(self.sum_mm, self.baseline_sum_mm)

    @property
    def change_vs_nadir_pct(self) -> float | None:
        if self.is_baseline or self.sum_mm is None or self.nadir_sum_mm is None:
            return None
        return pct_change(self.sum_mm, self.nadir_sum_mm)

    def to_dict(self) -> dict[str, Any]:
        """The output block of DESIGN ("Response case file")."""
        return {
            "category": self.category,
            "target": self.target,
            "non_target": self.non_target,
            "new_lesions": bool(self.new_lesions),
            "sum_mm": rnd(self.sum_mm),
            "baseline_sum_mm": rnd(self.baseline_sum_mm),
            "nadir_sum_mm": rnd(self.nadir_sum_mm),
            "nadir_timepoint": self.nadir_label,
            "change_vs_baseline_pct": rnd(self.change_vs_baseline_pct),
            "change_vs_baseline_mm": rnd(self.change_vs_baseline_mm),
            "change_vs_nadir_pct": rnd(self.change_vs_nadir_pct),
            "change_vs_nadir_mm": rnd(self.change_vs_nadir_mm),
            "vs_baseline": self.vs_baseline,
            "vs_nadir": self.vs_nadir,
            "target_vs_baseline": self.target_vs_baseline,
            "target_vs_nadir": self.target_vs_nadir,
            "targets_complete": self.complete,
            "targets_not_evaluated": list(self.not_evaluated),
            "new_lesion_ids": list(self.new_lesions),
            "equivocal_new_lesion_ids": list(self.equivocal_new_lesions),
            "new_baseline_lesions": list(self.new_baseline_lesions),
            "reason": self.reason,
        }


def _target_call(sum_mm: float, complete: bool, not_evaluated: Sequence[str], target_cr: bool,
                 pr_ref: tuple[str, float, str], pd_ref: tuple[str, float, str],
                 cfg: RecistConfig) -> tuple[str, str]:
    """Target response; ``pr_ref``/``pd_ref`` are (name, sum_mm, time-point label)."""
    if complete and target_cr:
        return "CR", ("all non-nodal targets disappeared and every target node is < "
                      f"{cfg.node_normal_short_axis_mm:g} mm short axis (sum {fmt_mm(sum_mm)})")
    pd_name, pd_sum, pd_label = pd_ref
    pd_pct = pct_change(sum_mm, pd_sum)
    pd_mm = sum_mm - pd_sum
    pd_rule = (f"PD needs {'>=' if cfg.pd_inclusive else '>'} +{cfg.pd_increase_pct:g} % and "
               f"{'>=' if cfg.pd_mm_inclusive else '>'} +{cfg.pd_increase_mm:g} mm")
    pd_text = (f"sum {fmt_mm(sum_mm)} is {fmt_pct(pd_pct)} and {fmt_mm(pd_mm, True)} from the "
               f"{ref_name(pd_name, pd_label)} {fmt_mm(pd_sum)}; {pd_rule}")
    is_pd = (at_least(pd_pct, cfg.pd_increase_pct, cfg.pd_inclusive)
             and at_least(pd_mm, cfg.pd_increase_mm, cfg.pd_mm_inclusive))
    missing = ", ".join(not_evaluated)
    if is_pd:
        if not complete:
            pd_text += (f" - met by the evaluated targets alone ({missing} not evaluated, which "
                        "could only add to the sum)")
        return "PD", pd_text
    if not complete:
        return "NE", (f"target(s) {missing} not evaluated and the evaluated ones (sum "
                      f"{fmt_mm(sum_mm)}) do not show progression")
    pr_name, pr_sum, pr_label = pr_ref
    pr_pct = pct_change(sum_mm, pr_sum)
    pr_rule = f"PR needs {'<=' if cfg.pr_inclusive else '<'} -{cfg.pr_decrease_pct:g} %"
    pr_text = (f"sum {fmt_mm(sum_mm)} is {fmt_pct(pr_pct)} from the "
               f"{ref_name(pr_name, pr_label)} {fmt_mm(pr_sum)}; {pr_rule}")
    if at_most(pr_pct, -cfg.pr_decrease_pct, cfg.pr_inclusive):
        return "PR", pr_text
    if pr_ref == pd_ref:
        return "SD", f"{pr_text} and {pd_rule}"
    return "SD", f"{pr_text}; {pd_text}"


def new_lesion_text(counted: Sequence[str], equivocal: Sequence[str],
                     ignored: Sequence[str]) -> str:
    parts = [f"new lesion(s) {', '.join(counted)}" if counted else "no new lesions"]
    if equivocal:
        parts.append(f"equivocal new lesion(s) {', '.join(equivocal)} not counted (follow up; "
                     "if confirmed, progression dates from their first appearance)")
    if ignored:
        parts.append(f"{', '.join(ignored)} not counted: new baseline lesions after a modality "
                     "change")
    return "; ".join(parts)


def new_lesion_sets(case: Case, index: int) -> tuple[list[NewLesion], list[str], list[str]]:
    """New lesions at time point ``index``: (counted unequivocal lesions, equivocal ids,
    ids not counted because of the new-baseline rule)."""
    tp = case.timepoints[index]
    nb = case.new_baseline_ids_before(index)
    counted = [n for n in tp.new_lesions if n.unequivocal and n.id not in nb]
    equivocal = [n.id for n in tp.new_lesions if not n.unequivocal and n.id not in nb]
    ignored = [n.id for n in tp.new_lesions if n.id in nb]
    return counted, equivocal, ignored


def non_target_state(case: Case, selection: TargetSelection, index: int) -> str:
    """Non-target status at a follow-up: the reader's call, ``"NE"`` when not given, or
    ``"none"`` when there is no non-target disease (baseline non-targets and new-baseline
    lesions)."""
    tp = case.timepoints[index]
    has_nt = bool(selection.non_targets) or bool(case.new_baseline_ids_before(index))
    if not has_nt:
        if tp.non_target_status is not None:
            raise InputError(
                f"{case.source}: {tp.path}.non_target_status = {tp.non_target_status!r}, but "
                "there is no non-target disease (every baseline lesion is a target). Set it to "
                "null; record new disease under new_lesions."
            )
        return "none"
    return tp.non_target_status or "NE"


def target_sizes(case: Case, selection: TargetSelection, index: int) -> dict[str, float | None]:
    """RECIST measurement (mm) of every target at time point ``index``; None when the
    target was not evaluated. Every target is present (:meth:`Case.check_targets`)."""
    tp = case.timepoints[index]
    out: dict[str, float | None] = {}
    for t in selection.targets:
        le = tp.lesion(t)
        assert le is not None
        out[t] = le.size_mm
    return out


def is_target_cr(case: Case, sizes: dict[str, float | None], config: RecistConfig) -> bool:
    """Target CR: every target evaluated, non-nodal targets 0 mm, target nodes short axis
    below ``config.node_normal_short_axis_mm`` (10 mm)."""
    if not sizes or any(s is None for s in sizes.values()):
        return False
    for t, s in sizes.items():
        le = case.baseline.lesion(t)
        assert le is not None and s is not None
        if le.nodal:
            if not s < config.node_normal_short_axis_mm:
                return False
        elif s != 0.0:
            return False
    return True


def assess_recist(case: Case, selection: TargetSelection | None = None,
                  config: RecistConfig | None = None) -> list[RecistTimepoint]:
    """RECIST 1.1 at every time point of ``case`` (baseline first, with null calls).

    Parameters
    ----------
    case : Case
        The validated case.
    selection : TargetSelection, optional
        Targets; :func:`select_targets` by default.
    config : RecistConfig, optional
        Thresholds; Eisenhauer 2009 by default.
    """
    cfg = config or RecistConfig()
    sel = selection or select_targets(case, cfg)
    base = case.baseline
    has_targets = bool(sel.targets)
    base_sum = (sum(s or 0.0 for s in target_sizes(case, sel, 0).values()) if has_targets
                else None)
    out: list[RecistTimepoint] = []
    nadir: tuple[float, str] | None = (base_sum, base.label) if base_sum is not None else None
    for tp in case.timepoints:
        if tp.index == 0:
            reason = (f"baseline: {len(sel.targets)} target(s) {', '.join(sel.targets)}, sum "
                      f"{fmt_mm(base_sum)}" if base_sum is not None else
                      "baseline: no measurable target lesion; RECIST 1.1 follows non-target "
                      "disease only (Table 2)")
            out.append(RecistTimepoint(
                label=tp.label, date=tp.date, is_baseline=True, sum_mm=base_sum, complete=True,
                not_evaluated=(), baseline_sum_mm=base_sum, nadir_sum_mm=base_sum,
                nadir_label=base.label if has_targets else None, target_cr=False, target=None,
                target_vs_baseline=None, target_vs_nadir=None,
                non_target=None,
                new_lesions=(), equivocal_new_lesions=(), new_baseline_lesions=(),
                category=None, vs_baseline=None, vs_nadir=None, reason=reason))
            continue
        non_target = non_target_state(case, sel, tp.index)
        counted, equivocal, ignored = new_lesion_sets(case, tp.index)
        new_text = new_lesion_text([n.id for n in counted], equivocal, ignored)
        nt_text = f"non-target {non_target}" if non_target != "NE" else \
            "non-target disease not evaluated (non_target_status null)"
        if non_target == "none":
            nt_text = "no non-target disease"
        sum_mm = None
        complete, not_eval, target_cr = True, [], False
        calls: dict[str, tuple[str | None, str]] = {}
        if has_targets:
            sizes = target_sizes(case, sel, tp.index)
            not_eval = [t for t, s in sizes.items() if s is None]
            complete = not not_eval
            sum_mm = sum(s for s in sizes.values() if s is not None)
            target_cr = is_target_cr(case, sizes, cfg)
            assert nadir is not None and base_sum is not None
            b_ref = ("baseline", base_sum, base.label)
            n_ref = ("nadir", nadir[0], nadir[1])
            calls["official"] = _target_call(sum_mm, complete, not_eval, target_cr, b_ref, n_ref,
                                             cfg)
            calls["baseline"] = _target_call(sum_mm, complete, not_eval, target_cr, b_ref, b_ref,
                                             cfg)
            calls["nadir"] = _target_call(sum_mm, complete, not_eval, target_cr, n_ref, n_ref,
                                          cfg)
        else:
            for key in ("official", "baseline", "nadir"):
                calls[key] = (None, "no target disease")
        results = {k: overall_response(v[0], non_target, bool(counted)) for k, v in calls.items()}
        category, why = results["official"]
        target_text = calls["official"][1]
        ordered = [target_text, nt_text, new_text]
        if counted:
            ordered = [new_text, target_text, nt_text]
        elif non_target == "PD" and calls["official"][0] != "PD":
            ordered = [nt_text, target_text, new_text]
        reason = f"{category} ({why}): " + "; ".join(ordered)
        out.append(RecistTimepoint(
            label=tp.label, date=tp.date, is_baseline=False, sum_mm=sum_mm, complete=complete,
            not_evaluated=tuple(not_eval), baseline_sum_mm=base_sum,
            nadir_sum_mm=nadir[0] if nadir else None, nadir_label=nadir[1] if nadir else None,
            target_cr=target_cr, target=calls["official"][0],
            target_vs_baseline=calls["baseline"][0], target_vs_nadir=calls["nadir"][0],
            non_target=non_target, new_lesions=tuple(n.id for n in counted),
            equivocal_new_lesions=tuple(equivocal), new_baseline_lesions=tuple(ignored),
            category=category, vs_baseline=results["baseline"][0], vs_nadir=results["nadir"][0],
            reason=reason))
        if has_targets and complete and nadir is not None and sum_mm is not None \
                and sum_mm < nadir[0]:
            nadir = (sum_mm, tp.label)
    return out
