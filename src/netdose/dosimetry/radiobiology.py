"""Radiobiology of radionuclide therapy: linear-quadratic BED and EQD2 with repair.

Model (docs/physics.md, PRRT radiobiology section, gives the derivations and sources):

- Dose rate of a mono-exponentially clearing source taken up instantaneously,
  Ḋ(t) = Ḋ0 · exp(−λ t), λ = ln 2 / T_eff, delivering D = Ḋ0 / λ in total; sublethal damage
  repaired mono-exponentially with μ = ln 2 / T_rep. The linear-quadratic model then gives

      BED = D · [1 + G · D / (α/β)],   G = λ / (μ + λ) = T_rep / (T_rep + T_eff)

  (G is the Lea–Catcheside dose-protraction factor of this dose-rate pattern).
- With an uptake phase, Ḋ(t) ∝ exp(−λ t) − exp(−λ_u t), λ_u = ln 2 / T_u > λ:

      G = λ λ_u (λ + λ_u + μ) / [(λ + λ_u)(λ + μ)(λ_u + μ)],

  derived here for the general sum of exponentials (:func:`g_factor_multiexponential`) and
  checked against direct numerical integration in the tests. Uptake always lowers G, so
  neglecting it (the default) overestimates BED: conservative for organs at risk, optimistic
  for tumours.
- EQD2 = BED / (1 + 2 / (α/β)).
- Cycles weeks apart add: BED_total = Σ BED_i (no interaction of sublethal damage between
  cycles, no repopulation). :func:`cumulative_bed` sums and refuses mixed α/β.

Tissue parameters come from a named table (:data:`TISSUES`), each entry with its source and
verification status; the caller can pass other :class:`TissueParameters`. Every
:class:`BEDResult` records the parameters it used.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from netdose.errors import InputError, PhysicsRangeError
from netdose.sirt import _checks

__all__ = [
    "KIDNEY",
    "KIDNEY_SOURCE",
    "MODEL_INSTANT_UPTAKE",
    "MODEL_UPTAKE_PHASE",
    "ORGAN_ALIASES",
    "RED_MARROW",
    "RED_MARROW_SOURCE",
    "TISSUES",
    "TUMOUR",
    "TUMOUR_SOURCE",
    "BEDResult",
    "CumulativeBED",
    "TissueParameters",
    "bed",
    "bed_gy",
    "cumulative_bed",
    "eqd2_gy",
    "g_factor",
    "g_factor_multiexponential",
    "tissue_class",
    "tissue_parameters",
]

MODEL_INSTANT_UPTAKE = (
    "linear-quadratic, mono-exponential clearance (T_eff), instantaneous uptake, "
    "mono-exponential repair (T_rep)"
)
MODEL_UPTAKE_PHASE = (
    "linear-quadratic, mono-exponential uptake (T_u) and clearance (T_eff), "
    "mono-exponential repair (T_rep)"
)

#: Relative tolerance used when checking that recorded BED/EQD2 values fit together.
_CONSISTENCY_RTOL = 1e-9


# =========================================================================== parameters
@dataclasses.dataclass(frozen=True)
class TissueParameters:
    """Linear-quadratic parameters of one tissue.

    Attributes
    ----------
    alpha_beta_gy : float
        α/β ratio, Gy (> 0).
    repair_half_time_h : float
        Half-time of mono-exponential sublethal-damage repair, hours (> 0).
    source : str
        Where the values come from, including whether netdose checked them against the
        original publication.
    name : str
        Tissue name ("kidney", "red_marrow", "tumour" or the caller's own).
    verified : bool
        True only when the values were checked against the original source.
    """

    alpha_beta_gy: float
    repair_half_time_h: float
    source: str
    name: str = "custom"
    verified: bool = False

    def __post_init__(self) -> None:
        ab = _checks.positive("alpha_beta_gy", self.alpha_beta_gy, "Gy")
        tr = _checks.positive("repair_half_time_h", self.repair_half_time_h, "h")
        object.__setattr__(self, "alpha_beta_gy", ab)
        object.__setattr__(self, "repair_half_time_h", tr)
        if not isinstance(self.source, str) or not self.source.strip():
            raise InputError(
                "TissueParameters.source is empty: say where alpha_beta_gy and "
                "repair_half_time_h come from (publication, or 'institutional value')."
            )

    def with_values(
        self, *, alpha_beta_gy: float | None = None, repair_half_time_h: float | None = None
    ) -> TissueParameters:
        """A copy with caller-set values; the source records the change and the defaults."""
        ab = self.alpha_beta_gy if alpha_beta_gy is None else alpha_beta_gy
        tr = self.repair_half_time_h if repair_half_time_h is None else repair_half_time_h
        return TissueParameters(
            alpha_beta_gy=ab,
            repair_half_time_h=tr,
            source=(
                f"set by the caller (alpha_beta_gy={ab!r}, repair_half_time_h={tr!r}); "
                f"netdose default for {self.name}: alpha_beta_gy={self.alpha_beta_gy!r}, "
                f"repair_half_time_h={self.repair_half_time_h!r} ({self.source})"
            ),
            name=self.name,
            verified=False,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


KIDNEY_SOURCE = (
    "α/β = 2.6 Gy and T_rep = 2.8 h for kidney, as used for PRRT kidney BED by Barone et al., "
    "J Nucl Med 2005;46(Suppl 1):99S-106S and MIRD Pamphlet No. 20 (Wessels et al., J Nucl "
    "Med 2008;49:1884-1899); values as commonly quoted; not verified against the originals "
    "here (the issue fixes these values)."
)
RED_MARROW_SOURCE = (
    "α/β = 15 Gy, T_rep = 2 h for red marrow: values as commonly quoted in the radionuclide-"
    "therapy literature; not verified against an original here. Published marrow parameters "
    "differ between authors: set your own if your protocol uses others."
)
TUMOUR_SOURCE = (
    "α/β = 10 Gy, T_rep = 1.5 h: generic values for tumours, as commonly quoted; not verified "
    "against an original here. Neuroendocrine tumours are slow-growing and may have a lower "
    "α/β: set tumour-specific values when known."
)

KIDNEY = TissueParameters(2.6, 2.8, KIDNEY_SOURCE, name="kidney")
RED_MARROW = TissueParameters(15.0, 2.0, RED_MARROW_SOURCE, name="red_marrow")
TUMOUR = TissueParameters(10.0, 1.5, TUMOUR_SOURCE, name="tumour")

#: Default parameters by tissue class.
TISSUES: Mapping[str, TissueParameters] = types.MappingProxyType(
    {"kidney": KIDNEY, "red_marrow": RED_MARROW, "tumour": TUMOUR}
)

#: Organ / mask names (TotalSegmentator, phantoms) -> tissue class.
ORGAN_ALIASES: Mapping[str, str] = types.MappingProxyType(
    {
        "kidney": "kidney",
        "kidneys": "kidney",
        "kidney_left": "kidney",
        "kidney_right": "kidney",
        "left_kidney": "kidney",
        "right_kidney": "kidney",
        "red_marrow": "red_marrow",
        "bone_marrow": "red_marrow",
        "marrow": "red_marrow",
        "tumour": "tumour",
        "tumor": "tumour",
        "tumours": "tumour",
        "tumors": "tumour",
        "lesion": "tumour",
    }
)
_TUMOUR_PREFIXES: tuple[str, ...] = ("tumour_", "tumor_", "lesion_")


def tissue_class(organ: str) -> str | None:
    """Tissue class of an organ name, or None when netdose has no default for it.

    Exact names from :data:`ORGAN_ALIASES` (case and surrounding blanks ignored), plus any
    name starting with ``tumour_``, ``tumor_`` or ``lesion_`` (``tumour_1``).
    """
    if not isinstance(organ, str) or not organ.strip():
        raise InputError(f"organ = {organ!r} is not an organ name; give e.g. 'kidney_left'.")
    key = organ.strip().lower()
    if key in ORGAN_ALIASES:
        return ORGAN_ALIASES[key]
    if key.startswith(_TUMOUR_PREFIXES):
        return "tumour"
    return None


def tissue_parameters(
    organ: str, table: Mapping[str, TissueParameters] = TISSUES
) -> TissueParameters:
    """Default radiobiology parameters of ``organ`` (via :func:`tissue_class`).

    Raises
    ------
    InputError
        No default for this organ: pass :class:`TissueParameters` explicitly.
    """
    cls = tissue_class(organ)
    if cls is None or cls not in table:
        raise InputError(
            f"no default radiobiology parameters for organ {organ!r} (netdose has "
            f"{', '.join(sorted(table))}; names like 'kidney_left', 'bone_marrow', 'tumour_1' "
            "map to them). Pass TissueParameters(alpha_beta_gy=..., repair_half_time_h=..., "
            "source=...) for this organ."
        )
    return table[cls]


# =========================================================================== G factor
def _scaled_rates(*half_lives_h: float) -> list[float]:
    """Rates 1/T scaled by their maximum (the G factors are homogeneous of degree 0)."""
    rates = [1.0 / t for t in half_lives_h]
    top = max(rates)
    return [r / top for r in rates]


def g_factor(
    effective_half_life_h: float,
    repair_half_time_h: float,
    *,
    uptake_half_time_h: float | None = None,
) -> float:
    """Lea–Catcheside dose-protraction factor G of a decaying dose rate, in (0, 1].

    Without uptake: G = T_rep / (T_rep + T_eff). With a mono-exponential uptake phase
    (T_u < T_eff): G = λ λ_u (λ + λ_u + μ) / [(λ + λ_u)(λ + μ)(λ_u + μ)].

    Parameters
    ----------
    effective_half_life_h : float
        Effective (clearance) half-life of the organ activity, hours (> 0).
    repair_half_time_h : float
        Repair half-time, hours (> 0).
    uptake_half_time_h : float, optional
        Uptake half-time, hours (> 0, shorter than ``effective_half_life_h``).
    """
    t_eff = _checks.positive("effective_half_life_h", effective_half_life_h, "h")
    t_rep = _checks.positive("repair_half_time_h", repair_half_time_h, "h")
    if uptake_half_time_h is None:
        return t_rep / (t_rep + t_eff)
    t_u = _checks.positive("uptake_half_time_h", uptake_half_time_h, "h")
    if t_u >= t_eff:
        raise InputError(
            f"uptake_half_time_h = {t_u:g} h is not shorter than effective_half_life_h = "
            f"{t_eff:g} h. The model A(t) ∝ exp(−λ t) − exp(−λ_u t) takes T_eff as the slow "
            "(clearance) phase and T_u as the fast (uptake) phase: check that they are not "
            "swapped and are in hours."
        )
    lam, lam_u, mu = _scaled_rates(t_eff, t_u, t_rep)
    return lam * lam_u * (lam + lam_u + mu) / ((lam + lam_u) * (lam + mu) * (lam_u + mu))


def g_factor_multiexponential(
    amplitudes: Sequence[float],
    decay_constants_per_h: Sequence[float],
    repair_half_time_h: float,
) -> float:
    """G for a dose rate that is a sum of exponentials, Ḋ(t) ∝ Σ c_i exp(−k_i t).

    G = (2 / D²) Σ_i Σ_j c_i c_j / [(k_i + k_j)(k_i + μ)], with D = Σ c_i / k_i and
    μ = ln 2 / T_rep (exact for any such dose rate that stays >= 0).

    Parameters
    ----------
    amplitudes : sequence of float, shape (n,)
        c_i, in any consistent unit (only ratios matter). Negative values describe uptake.
    decay_constants_per_h : sequence of float, shape (n,)
        k_i, 1/h (> 0).
    repair_half_time_h : float
        Repair half-time, hours (> 0).

    Raises
    ------
    InputError
        Lengths differ, a rate is not > 0, or the dose rate is negative somewhere (checked
        on a logarithmic time grid) or integrates to <= 0.
    """
    if len(amplitudes) != len(decay_constants_per_h) or len(amplitudes) == 0:
        raise InputError(
            f"amplitudes ({len(amplitudes)}) and decay_constants_per_h "
            f"({len(decay_constants_per_h)}) must be non-empty and of the same length: one "
            "amplitude per exponential term."
        )
    c = np.array([_checks.finite(f"amplitudes[{i}]", v) for i, v in enumerate(amplitudes)])
    k = np.array(
        [
            _checks.positive(f"decay_constants_per_h[{i}]", v, "1/h")
            for i, v in enumerate(decay_constants_per_h)
        ]
    )
    t_rep = _checks.positive("repair_half_time_h", repair_half_time_h, "h")
    mu = math.log(2.0) / t_rep
    total = float(np.sum(c / k))
    t = np.concatenate(([0.0], np.geomspace(1e-3 / k.max(), 50.0 / k.min(), 400)))
    rate = (c[None, :] * np.exp(-k[None, :] * t[:, None])).sum(axis=1)
    scale = float(np.abs(c).sum())
    if total <= 0.0 or float(rate.min()) < -1e-12 * scale:
        raise InputError(
            "the dose rate Σ c_i exp(−k_i t) from amplitudes and decay_constants_per_h is "
            "negative at some time or integrates to <= 0; check the signs of the fitted "
            "amplitudes (uptake terms are negative, the sum must stay >= 0)."
        )
    kk = k[:, None] + k[None, :]
    s = float(np.sum(c[:, None] * c[None, :] / (kk * (k[:, None] + mu))))
    return 2.0 * s / total**2


# =========================================================================== BED / EQD2
def _dose(dose_gy: object) -> float:
    return _checks.non_negative("dose_gy", dose_gy, "Gy")


def bed_gy(
    dose_gy: float,
    effective_half_life_h: float,
    alpha_beta_gy: float,
    repair_half_time_h: float,
    *,
    uptake_half_time_h: float | None = None,
) -> float:
    """BED in Gy: D · [1 + G · D / (α/β)] (see :func:`g_factor` for G).

    Parameters
    ----------
    dose_gy : float
        Absorbed dose of one cycle, Gy (>= 0).
    effective_half_life_h : float
        Effective half-life, hours (> 0).
    alpha_beta_gy : float
        α/β, Gy (> 0).
    repair_half_time_h : float
        Repair half-time, hours (> 0).
    uptake_half_time_h : float, optional
        Uptake half-time, hours; None: instantaneous uptake.
    """
    d = _dose(dose_gy)
    ab = _checks.positive("alpha_beta_gy", alpha_beta_gy, "Gy")
    g = g_factor(effective_half_life_h, repair_half_time_h, uptake_half_time_h=uptake_half_time_h)
    return d * (1.0 + g * d / ab)


def eqd2_gy(bed_gy: float, alpha_beta_gy: float) -> float:
    """Equivalent dose in 2 Gy fractions: EQD2 = BED / (1 + 2 / (α/β)), Gy."""
    b = _checks.non_negative("bed_gy", bed_gy, "Gy")
    ab = _checks.positive("alpha_beta_gy", alpha_beta_gy, "Gy")
    return b / (1.0 + 2.0 / ab)


@dataclasses.dataclass(frozen=True)
class BEDResult:
    """BED of one organ in one cycle and everything needed to reproduce it.

    Attributes
    ----------
    dose_gy, bed_gy, eqd2_gy : float
        Absorbed dose, BED and EQD2, Gy.
    g_factor : float
        Dose-protraction factor G used.
    effective_half_life_h : float
        Effective (clearance) half-life, hours.
    uptake_half_time_h : float or None
        Uptake half-time, hours (None: instantaneous uptake).
    alpha_beta_gy, repair_half_time_h : float
        Tissue parameters used.
    tissue : str
        Tissue name of the parameters.
    parameters_source : str
        Source of the tissue parameters.
    model : str
        Model description.
    """

    dose_gy: float
    bed_gy: float
    eqd2_gy: float
    g_factor: float
    effective_half_life_h: float
    uptake_half_time_h: float | None
    alpha_beta_gy: float
    repair_half_time_h: float
    tissue: str
    parameters_source: str
    model: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


def _resolve_tissue(tissue: TissueParameters | str) -> TissueParameters:
    if isinstance(tissue, TissueParameters):
        return tissue
    if isinstance(tissue, str):
        return tissue_parameters(tissue)
    raise InputError(
        f"tissue = {tissue!r} is neither an organ name nor TissueParameters; give e.g. "
        "'kidney' or TissueParameters(alpha_beta_gy=2.6, repair_half_time_h=2.8, source=...)."
    )


def bed(
    dose_gy: float,
    effective_half_life_h: float,
    tissue: TissueParameters | str,
    *,
    uptake_half_time_h: float | None = None,
    physical_half_life_h: float | None = None,
) -> BEDResult:
    """BED and EQD2 of one cycle for one organ.

    Parameters
    ----------
    dose_gy : float
        Absorbed dose of the cycle, Gy (>= 0).
    effective_half_life_h : float
        Effective (clearance) half-life of the organ activity, hours (> 0).
    tissue : TissueParameters or str
        Parameters, or an organ name looked up in :data:`TISSUES` (``"kidney_left"``).
    uptake_half_time_h : float, optional
        Uptake half-time, hours; None (default) neglects the uptake phase, which
        overestimates BED (see module docstring).
    physical_half_life_h : float, optional
        Physical half-life of the nuclide, hours (Lu-177: 159.5 h). When given,
        ``effective_half_life_h`` may not exceed it (an effective half-life longer than the
        physical one is impossible and usually a unit mistake).

    Raises
    ------
    InputError
        Negative, zero or non-finite inputs.
    PhysicsRangeError
        Effective half-life longer than the physical half-life.
    """
    params = _resolve_tissue(tissue)
    d = _dose(dose_gy)
    t_eff = _checks.positive("effective_half_life_h", effective_half_life_h, "h")
    if physical_half_life_h is not None:
        t_phys = _checks.positive("physical_half_life_h", physical_half_life_h, "h")
        if t_eff > t_phys * (1.0 + _CONSISTENCY_RTOL):
            raise PhysicsRangeError(
                f"effective_half_life_h = {t_eff:g} h is longer than the physical half-life "
                f"{t_phys:g} h; the effective half-life cannot exceed it. Check the unit "
                "(hours, not minutes) and the fit of the time-activity curve."
            )
    g = g_factor(t_eff, params.repair_half_time_h, uptake_half_time_h=uptake_half_time_h)
    b = d * (1.0 + g * d / params.alpha_beta_gy)
    return BEDResult(
        dose_gy=d,
        bed_gy=b,
        eqd2_gy=b / (1.0 + 2.0 / params.alpha_beta_gy),
        g_factor=g,
        effective_half_life_h=t_eff,
        uptake_half_time_h=None if uptake_half_time_h is None else float(uptake_half_time_h),
        alpha_beta_gy=params.alpha_beta_gy,
        repair_half_time_h=params.repair_half_time_h,
        tissue=params.name,
        parameters_source=params.source,
        model=MODEL_INSTANT_UPTAKE if uptake_half_time_h is None else MODEL_UPTAKE_PHASE,
    )


@dataclasses.dataclass(frozen=True)
class CumulativeBED:
    """Sum over cycles of one organ.

    Attributes
    ----------
    dose_gy, bed_gy, eqd2_gy : float
        Summed absorbed dose, BED and EQD2 (= summed BED / (1 + 2/(α/β))), Gy.
    cycles : tuple of BEDResult
        The per-cycle results, in the order given.
    alpha_beta_gy, repair_half_time_h : float
        Shared tissue parameters.
    assumption : str
        Why the BEDs may be added.
    """

    dose_gy: float
    bed_gy: float
    eqd2_gy: float
    cycles: tuple[BEDResult, ...]
    alpha_beta_gy: float
    repair_half_time_h: float
    assumption: str = (
        "BED is additive over cycles given weeks apart: no interaction of sublethal damage "
        "between cycles (interval >> T_rep and >> T_eff) and no repopulation between cycles "
        "(neglecting it overestimates BED)."
    )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


def cumulative_bed(results: Sequence[BEDResult]) -> CumulativeBED:
    """Add per-cycle BEDs of one organ (same α/β and T_rep in every cycle).

    Raises
    ------
    InputError
        No results, or cycles computed with different tissue parameters (their BEDs cannot
        be added: recompute all cycles with the same parameters).
    """
    items = tuple(results)
    if not items:
        raise InputError("cumulative_bed needs at least one per-cycle BEDResult; got none.")
    for i, r in enumerate(items):
        if not isinstance(r, BEDResult):
            raise InputError(f"results[{i}] = {r!r} is not a BEDResult (from netdose bed()).")
    ab = {r.alpha_beta_gy for r in items}
    tr = {r.repair_half_time_h for r in items}
    if len(ab) > 1 or len(tr) > 1:
        raise InputError(
            f"cycles were computed with different tissue parameters (alpha_beta_gy "
            f"{sorted(ab)}, repair_half_time_h {sorted(tr)}); BEDs with different α/β cannot "
            "be added. Recompute every cycle with the same TissueParameters."
        )
    a = items[0].alpha_beta_gy
    total_bed = math.fsum(r.bed_gy for r in items)
    return CumulativeBED(
        dose_gy=math.fsum(r.dose_gy for r in items),
        bed_gy=total_bed,
        eqd2_gy=total_bed / (1.0 + 2.0 / a),
        cycles=items,
        alpha_beta_gy=a,
        repair_half_time_h=items[0].repair_half_time_h,
    )
