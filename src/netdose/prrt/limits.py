"""PRRT organ limits as data, renal risk factors, and the cumulative limit check.

Limits (docs/physics.md, PRRT section, gives sources and verification status):

=============  ==========  =========================================  =========
organ class    quantity    condition                                  default
=============  ==========  =========================================  =========
kidney         dose_gy     always                                     23 Gy
kidney         bed_gy      no renal risk factor                       40 Gy
kidney         bed_gy      any renal risk factor                      28 Gy
red_marrow     dose_gy     always                                     2 Gy
=============  ==========  =========================================  =========

Renal risk factors (hypertension, diabetes, prior nephrotoxic chemotherapy, reduced GFR)
are explicit booleans: there is no default, because the choice between 28 and 40 Gy is a
clinical one.

Organ names map to a limit class through :func:`netdose.dosimetry.radiobiology.tissue_class`
(``kidney_left``, ``kidney_right`` and ``kidneys`` are all checked against the kidney limits,
each on its own: checking each kidney rather than their mean is conservative).

:class:`Limits` is built from the defaults plus overrides, e.g. from a TOML table::

    [limits.kidney]
    dose_gy = 23.0
    bed_gy = 40.0
    bed_gy_with_risk_factors = 28.0
    [limits.red_marrow]
    dose_gy = 2.0

A limit that is exceeded does not raise: :func:`check_cumulative` returns a
:class:`LimitCheck` whose ``ok`` is False and whose messages say why;
:meth:`LimitCheck.raise_if_exceeded` raises :class:`~netdose.errors.LimitExceeded`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from netdose.dosimetry.radiobiology import tissue_class
from netdose.errors import InputError, LimitExceeded
from netdose.sirt import _checks

__all__ = [
    "KIDNEY_BED_LIMIT_GY",
    "KIDNEY_BED_LIMIT_RISK_FACTORS_GY",
    "KIDNEY_BED_LIMIT_SOURCE",
    "KIDNEY_DOSE_LIMIT_GY",
    "KIDNEY_DOSE_LIMIT_SOURCE",
    "LIMIT_RTOL",
    "RED_MARROW_DOSE_LIMIT_GY",
    "RED_MARROW_DOSE_LIMIT_SOURCE",
    "RISK_FACTOR_NAMES",
    "CycleOrganDose",
    "LimitCheck",
    "LimitStatus",
    "Limits",
    "OrganLimits",
    "OrganSummary",
    "RiskFactors",
    "check_cumulative",
]

#: Relative tolerance of limit comparisons: a cumulative value that sits on a limit to the
#: last bits (e.g. from an activity planned exactly to it) is not "exceeded".
LIMIT_RTOL: float = 1e-9

# --------------------------------------------------------------------------- defaults
KIDNEY_DOSE_LIMIT_GY: float = 23.0
KIDNEY_DOSE_LIMIT_SOURCE = (
    "23 Gy cumulative mean kidney absorbed dose: the external-beam whole-kidney TD5/5 "
    "(Emami et al., Int J Radiat Oncol Biol Phys 1991;21:109-122; 23 Gy checked here against "
    "a secondary summary of that paper's table, not the original), as transferred to PRRT "
    "and quoted in EANM/PRRT dosimetry practice (value as commonly quoted). External-beam "
    "tolerance in 2 Gy fractions is not the same radiobiology as a decaying Lu-177 dose "
    "rate: read it together with the BED limit."
)
KIDNEY_BED_LIMIT_GY: float = 40.0
KIDNEY_BED_LIMIT_RISK_FACTORS_GY: float = 28.0
KIDNEY_BED_LIMIT_SOURCE = (
    "Cumulative kidney BED 40 Gy without and 28 Gy with renal risk factors (hypertension, "
    "diabetes, prior nephrotoxic chemotherapy, reduced renal function): Bodei et al., "
    "Eur J Nucl Med Mol Imaging 2008;35:1847-1856 (values as commonly quoted; not verified "
    "against the original here)."
)
RED_MARROW_DOSE_LIMIT_GY: float = 2.0
RED_MARROW_DOSE_LIMIT_SOURCE = (
    "2 Gy cumulative red-marrow absorbed dose, the limit carried over from radioiodine "
    "therapy (blood/marrow dose) and used in PRRT dosimetry (value as commonly quoted; not "
    "verified against an original here)."
)

Quantity = Literal["dose_gy", "bed_gy"]
_FIELDS: tuple[str, ...] = ("dose_gy", "bed_gy", "bed_gy_with_risk_factors")

# --------------------------------------------------------------------------- risk factors
RISK_FACTOR_NAMES: tuple[str, ...] = (
    "hypertension",
    "diabetes",
    "nephrotoxic_chemotherapy",
    "reduced_gfr",
)


@dataclasses.dataclass(frozen=True)
class RiskFactors:
    """Renal risk factors of one patient (each an explicit True/False, no default).

    Attributes
    ----------
    hypertension, diabetes, nephrotoxic_chemotherapy, reduced_gfr : bool
        True when the patient has it. Any True switches the kidney BED limit from the
        "without risk factors" value (40 Gy) to the "with risk factors" value (28 Gy).
    """

    hypertension: bool
    diabetes: bool
    nephrotoxic_chemotherapy: bool
    reduced_gfr: bool

    def __post_init__(self) -> None:
        for name in RISK_FACTOR_NAMES:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise InputError(
                    f"risk factor {name} = {value!r} is not True/False; state it explicitly "
                    "(it decides whether the 28 Gy or the 40 Gy kidney BED limit applies)."
                )

    @classmethod
    def none(cls) -> RiskFactors:
        """A patient with none of the renal risk factors (explicitly stated)."""
        return cls(False, False, False, False)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> RiskFactors:
        """From the list of risk factors present, e.g. ``["hypertension"]`` (``[]``: none).

        Raises
        ------
        InputError
            An unknown name (the message lists the known ones).
        """
        if isinstance(names, (str, bytes)):
            raise InputError(
                f"risk factors {names!r} must be a list of names, e.g. ['hypertension']."
            )
        present: set[str] = set()
        for n in names:
            key = n.strip().lower() if isinstance(n, str) else None
            if key not in RISK_FACTOR_NAMES:
                raise InputError(
                    f"unknown renal risk factor {n!r}; known: {', '.join(RISK_FACTOR_NAMES)}."
                )
            present.add(key)
        return cls(*(name in present for name in RISK_FACTOR_NAMES))

    @property
    def any(self) -> bool:
        """True when at least one risk factor is present."""
        return any(getattr(self, n) for n in RISK_FACTOR_NAMES)

    def names(self) -> tuple[str, ...]:
        """Names of the risk factors present."""
        return tuple(n for n in RISK_FACTOR_NAMES if getattr(self, n))

    def as_dict(self) -> dict[str, bool]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- limits
@dataclasses.dataclass(frozen=True)
class OrganLimits:
    """Cumulative limits of one organ class.

    Attributes
    ----------
    organ : str
        Limit class (``"kidney"``, ``"red_marrow"`` or the caller's organ name).
    dose_gy : float or None
        Cumulative absorbed-dose limit, Gy.
    bed_gy : float or None
        Cumulative BED limit, Gy (for the kidney: patients without risk factors).
    bed_gy_with_risk_factors : float or None
        Cumulative BED limit for patients with any renal risk factor, Gy; None: ``bed_gy``
        applies to everyone.
    sources : dict
        Source of each limit, keyed by field name.
    """

    organ: str
    dose_gy: float | None
    bed_gy: float | None
    bed_gy_with_risk_factors: float | None
    sources: Mapping[str, str]

    def applicable(self, risk_factors: RiskFactors) -> tuple[tuple[Quantity, float, str], ...]:
        """(quantity, limit in Gy, condition) of the limits that apply to this patient."""
        out: list[tuple[Quantity, float, str]] = []
        if self.dose_gy is not None:
            out.append(("dose_gy", self.dose_gy, "always"))
        if risk_factors.any and self.bed_gy_with_risk_factors is not None:
            cond = f"renal risk factors: {', '.join(risk_factors.names())}"
            out.append(("bed_gy", self.bed_gy_with_risk_factors, cond))
        elif self.bed_gy is not None:
            cond = (
                "no renal risk factor" if self.bed_gy_with_risk_factors is not None
                else "always"
            )
            out.append(("bed_gy", self.bed_gy, cond))
        return tuple(out)

    def source_of(self, quantity: Quantity, risk_factors: RiskFactors) -> str:
        """Source string of the limit of ``quantity`` that applies to this patient."""
        if quantity == "bed_gy" and risk_factors.any and self.bed_gy_with_risk_factors:
            return self.sources.get("bed_gy_with_risk_factors", "")
        return self.sources.get(quantity, "")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "organ": self.organ,
            "dose_gy": self.dose_gy,
            "bed_gy": self.bed_gy,
            "bed_gy_with_risk_factors": self.bed_gy_with_risk_factors,
            "sources": dict(self.sources),
        }


def _default_organs() -> dict[str, OrganLimits]:
    return {
        "kidney": OrganLimits(
            organ="kidney",
            dose_gy=KIDNEY_DOSE_LIMIT_GY,
            bed_gy=KIDNEY_BED_LIMIT_GY,
            bed_gy_with_risk_factors=KIDNEY_BED_LIMIT_RISK_FACTORS_GY,
            sources=types.MappingProxyType(
                {
                    "dose_gy": KIDNEY_DOSE_LIMIT_SOURCE,
                    "bed_gy": KIDNEY_BED_LIMIT_SOURCE,
                    "bed_gy_with_risk_factors": KIDNEY_BED_LIMIT_SOURCE,
                }
            ),
        ),
        "red_marrow": OrganLimits(
            organ="red_marrow",
            dose_gy=RED_MARROW_DOSE_LIMIT_GY,
            bed_gy=None,
            bed_gy_with_risk_factors=None,
            sources=types.MappingProxyType({"dose_gy": RED_MARROW_DOSE_LIMIT_SOURCE}),
        ),
    }


def _limit_key(organ: str) -> str:
    """Limit class of an organ name: its tissue class, or the lower-case name itself."""
    cls = tissue_class(organ)
    return cls if cls is not None else organ.strip().lower()


@dataclasses.dataclass(frozen=True)
class Limits:
    """The organ limits of one plan or check; results record :meth:`as_dict`.

    Build with :meth:`default` or :meth:`from_overrides`.

    Attributes
    ----------
    organs : mapping of str to OrganLimits
        Limits by organ class.
    """

    organs: Mapping[str, OrganLimits]

    @classmethod
    def default(cls) -> Limits:
        """netdose's default PRRT limits (table in the module docstring)."""
        return cls(types.MappingProxyType(_default_organs()))

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None = None) -> Limits:
        """Defaults with caller-set values, e.g. from a TOML ``[limits]`` table.

        Parameters
        ----------
        overrides : mapping
            ``{organ: {"dose_gy": x, "bed_gy": y, "bed_gy_with_risk_factors": z}}``; any
            subset of fields. Organ names are mapped to classes (``"kidneys"`` ->
            ``"kidney"``); a new organ adds limits for it. Values in Gy, finite and > 0.

        Raises
        ------
        InputError
            Unknown field, a value that is not a positive number, or a BED limit with risk
            factors above the one without (risk factors cannot allow more).
        """
        organs = _default_organs()
        if overrides is None:
            return cls(types.MappingProxyType(organs))
        if not isinstance(overrides, Mapping):
            raise InputError(
                f"limit overrides must be a mapping {{organ: {{field: Gy}}}}, got "
                f"{type(overrides).__name__}; e.g. {{'kidney': {{'bed_gy': 40.0}}}}."
            )
        for organ, fields in overrides.items():
            if not isinstance(organ, str) or not organ.strip():
                raise InputError(f"limit override organ {organ!r} is not an organ name.")
            if not isinstance(fields, Mapping):
                raise InputError(
                    f"limits.{organ} must be a table of limits in Gy "
                    f"({', '.join(_FIELDS)}), got {fields!r}."
                )
            key = _limit_key(organ)
            base = organs.get(key) or OrganLimits(key, None, None, None, {})
            values = {f: getattr(base, f) for f in _FIELDS}
            sources = dict(base.sources)
            for field, value in fields.items():
                if field not in _FIELDS:
                    raise InputError(
                        f"limits.{organ}.{field} is not a known limit; use "
                        f"{', '.join(_FIELDS)} (all in Gy)."
                    )
                v = _checks.positive(f"limits.{organ}.{field}", value, "Gy")
                old = values[field]
                sources[field] = (
                    f"set by the caller ({v:g} Gy); netdose default: "
                    + (f"{old:g} Gy ({base.sources.get(field, '')})" if old is not None
                       else "none")
                )
                values[field] = v
            with_rf, without_rf = values["bed_gy_with_risk_factors"], values["bed_gy"]
            if with_rf is not None and without_rf is not None and with_rf > without_rf:
                raise InputError(
                    f"limits.{organ}: bed_gy_with_risk_factors = {with_rf:g} Gy is above "
                    f"bed_gy = {without_rf:g} Gy; the limit with risk factors must be the "
                    "stricter one."
                )
            organs[key] = OrganLimits(
                organ=key, sources=types.MappingProxyType(sources), **values
            )
        return cls(types.MappingProxyType(organs))

    def for_organ(self, organ: str) -> OrganLimits | None:
        """Limits of an organ name (via its class), or None when it has none."""
        return self.organs.get(_limit_key(organ))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: every organ class with values and sources."""
        return {k: v.as_dict() for k, v in sorted(self.organs.items())}


# --------------------------------------------------------------------------- records
@dataclasses.dataclass(frozen=True)
class CycleOrganDose:
    """Dose (and BED) of one organ in one cycle, as input to :func:`check_cumulative`.

    Attributes
    ----------
    cycle : int
        Cycle number (>= 1).
    organ : str
        Organ name (``"kidney_left"``).
    dose_gy : float
        Absorbed dose of this cycle, Gy.
    bed_gy : float or None
        BED of this cycle, Gy (needed for organs with a BED limit).
    """

    cycle: int
    organ: str
    dose_gy: float
    bed_gy: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.cycle, bool) or not isinstance(self.cycle, numbers.Integral) or (
            self.cycle < 1
        ):
            raise InputError(f"cycle = {self.cycle!r} must be a whole number >= 1.")
        object.__setattr__(self, "cycle", int(self.cycle))
        if not isinstance(self.organ, str) or not self.organ.strip():
            raise InputError(f"organ = {self.organ!r} is not an organ name.")
        where = f"cycle {self.cycle}, {self.organ}"
        object.__setattr__(
            self, "dose_gy", _checks.non_negative(f"dose_gy ({where})", self.dose_gy, "Gy")
        )
        if self.bed_gy is not None:
            b = _checks.non_negative(f"bed_gy ({where})", self.bed_gy, "Gy")
            if b < self.dose_gy * (1.0 - LIMIT_RTOL):
                raise InputError(
                    f"bed_gy ({where}) = {b:g} Gy is below dose_gy = {self.dose_gy:g} Gy; "
                    "BED is never below the absorbed dose: check that the two are not swapped."
                )
            object.__setattr__(self, "bed_gy", b)

    @classmethod
    def coerce(cls, item: object, index: int) -> CycleOrganDose:
        """From a CycleOrganDose or a mapping with keys cycle, organ, dose_gy, bed_gy."""
        if isinstance(item, cls):
            return item
        if isinstance(item, Mapping):
            missing = [k for k in ("cycle", "organ", "dose_gy") if k not in item]
            if missing:
                raise InputError(
                    f"per-cycle record {index} lacks {', '.join(missing)}; each record needs "
                    "cycle, organ, dose_gy (and bed_gy for organs with a BED limit)."
                )
            return cls(item["cycle"], item["organ"], item["dose_gy"], item.get("bed_gy"))
        raise InputError(
            f"per-cycle record {index} = {item!r} is neither a CycleOrganDose nor a mapping."
        )


# --------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class LimitStatus:
    """One limit of one organ, checked.

    Attributes
    ----------
    organ : str
        Organ name as recorded.
    limit_class : str
        Limit class it was checked against (``"kidney"``).
    quantity : str
        ``"dose_gy"`` or ``"bed_gy"``.
    cumulative_gy : float
        Cumulative value over the cycles, Gy.
    limit_gy : float
        Limit, Gy.
    fraction_used : float
        cumulative / limit.
    exceeded : bool
        cumulative > limit · (1 + LIMIT_RTOL).
    condition : str
        When this limit applies (``"no renal risk factor"``).
    source : str
        Source of the limit.
    message : str
        One sentence for the report.
    """

    organ: str
    limit_class: str
    quantity: Quantity
    cumulative_gy: float
    limit_gy: float
    fraction_used: float
    exceeded: bool
    condition: str
    source: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class OrganSummary:
    """Cumulative values of one organ and its limit statuses.

    Attributes
    ----------
    organ : str
    limit_class : str or None
        None when no limit applies to this organ (e.g. tumours).
    cycles : tuple of int
        Cycles counted, ascending.
    cumulative_dose_gy : float
    cumulative_bed_gy : float or None
        Sum of per-cycle BEDs; None when a cycle has no BED.
    statuses : tuple of LimitStatus
    """

    organ: str
    limit_class: str | None
    cycles: tuple[int, ...]
    cumulative_dose_gy: float
    cumulative_bed_gy: float | None
    statuses: tuple[LimitStatus, ...]

    @property
    def exceeded(self) -> bool:
        """True when any limit of this organ is exceeded."""
        return any(s.exceeded for s in self.statuses)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = dataclasses.asdict(self)
        out["cycles"] = list(self.cycles)
        out["statuses"] = [s.as_dict() for s in self.statuses]
        out["exceeded"] = self.exceeded
        return out


@dataclasses.dataclass(frozen=True)
class LimitCheck:
    """Result of :func:`check_cumulative`.

    Attributes
    ----------
    organs : tuple of OrganSummary
        One per organ name, sorted by name.
    risk_factors : RiskFactors
    limits : dict
        ``Limits.as_dict()`` of the limits used.
    warnings : tuple of str
        Limits that could not be checked because no dose of that organ was given.
    """

    organs: tuple[OrganSummary, ...]
    risk_factors: RiskFactors
    limits: dict[str, Any]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no limit is exceeded."""
        return not any(o.exceeded for o in self.organs)

    @property
    def exceeded(self) -> tuple[LimitStatus, ...]:
        """Every exceeded limit."""
        return tuple(s for o in self.organs for s in o.statuses if s.exceeded)

    @property
    def messages(self) -> tuple[str, ...]:
        """The message of every limit checked."""
        return tuple(s.message for o in self.organs for s in o.statuses)

    def raise_if_exceeded(self) -> LimitCheck:
        """Raise :class:`LimitExceeded` if a limit is exceeded; return ``self`` otherwise."""
        if not self.ok:
            raise LimitExceeded(
                "cumulative organ limit exceeded: "
                + "; ".join(s.message for s in self.exceeded)
                + ". No further cycle should be given at these doses; review the dosimetry "
                "and the limits used."
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "ok": self.ok,
            "organs": [o.as_dict() for o in self.organs],
            "risk_factors": self.risk_factors.as_dict(),
            "limits": self.limits,
            "warnings": list(self.warnings),
        }


_LABEL = {"dose_gy": "absorbed dose", "bed_gy": "BED"}


def _status(
    organ: str,
    limit_class: str,
    quantity: Quantity,
    value: float,
    limit: float,
    condition: str,
    source: str,
) -> LimitStatus:
    frac = value / limit
    exceeded = value > limit * (1.0 + LIMIT_RTOL)
    verb = "EXCEEDS" if exceeded else "within"
    message = (
        f"{organ}: cumulative {_LABEL[quantity]} {value:.2f} Gy {verb} the {limit:g} Gy "
        f"{limit_class} {_LABEL[quantity]} limit ({100.0 * frac:.1f} % used; {condition})"
    )
    return LimitStatus(
        organ=organ,
        limit_class=limit_class,
        quantity=quantity,
        cumulative_gy=value,
        limit_gy=limit,
        fraction_used=frac,
        exceeded=exceeded,
        condition=condition,
        source=source,
        message=message,
    )


def check_cumulative(
    per_cycle_records: Iterable[CycleOrganDose | Mapping[str, Any]],
    limits: Limits,
    *,
    risk_factors: RiskFactors,
) -> LimitCheck:
    """Cumulative dose and BED of each organ against its limits.

    Parameters
    ----------
    per_cycle_records : iterable of CycleOrganDose or mapping
        One entry per organ and cycle (keys cycle, organ, dose_gy, bed_gy).
    limits : Limits
        ``Limits.default()`` or with overrides.
    risk_factors : RiskFactors
        The patient's renal risk factors (required: they choose the kidney BED limit).

    Returns
    -------
    LimitCheck
        Per organ: cumulative dose and BED, each applicable limit, fraction used, exceeded
        or not, and a message.

    Raises
    ------
    InputError
        Malformed records, the same organ twice in one cycle, or a BED limit that applies
        to an organ with a cycle without BED (compute BED for every cycle).
    """
    if not isinstance(limits, Limits):
        raise InputError(f"limits = {limits!r} is not a Limits; use Limits.default().")
    if not isinstance(risk_factors, RiskFactors):
        raise InputError(
            f"risk_factors = {risk_factors!r} is not a RiskFactors; state them explicitly, "
            "e.g. RiskFactors.none() or RiskFactors.from_names(['hypertension'])."
        )
    if isinstance(per_cycle_records, (str, bytes, Mapping)):
        raise InputError("per_cycle_records must be a list of per-organ, per-cycle records.")
    records = [CycleOrganDose.coerce(r, i) for i, r in enumerate(per_cycle_records)]
    by_organ: dict[str, list[CycleOrganDose]] = {}
    for r in records:
        by_organ.setdefault(r.organ, []).append(r)
    summaries: list[OrganSummary] = []
    for organ in sorted(by_organ):
        rows = sorted(by_organ[organ], key=lambda r: r.cycle)
        cycles = tuple(r.cycle for r in rows)
        dupes = sorted({c for c in cycles if cycles.count(c) > 1})
        if dupes:
            raise InputError(
                f"{organ} appears more than once in cycle(s) {dupes}; give one record per "
                "organ and cycle."
            )
        dose = math.fsum(r.dose_gy for r in rows)
        no_bed = [r.cycle for r in rows if r.bed_gy is None]
        bed_total = None if no_bed else math.fsum(r.bed_gy or 0.0 for r in rows)
        organ_limits = limits.for_organ(organ)
        statuses: list[LimitStatus] = []
        if organ_limits is not None:
            for quantity, limit, condition in organ_limits.applicable(risk_factors):
                if quantity == "bed_gy" and bed_total is None:
                    raise InputError(
                        f"{organ}: no BED for cycle(s) {no_bed}, so the {limit:g} Gy "
                        f"{organ_limits.organ} BED limit cannot be checked; compute BED for "
                        "every cycle (it needs the organ's effective half-life)."
                    )
                value = dose if quantity == "dose_gy" else float(bed_total or 0.0)
                statuses.append(
                    _status(organ, organ_limits.organ, quantity, value, limit, condition,
                            organ_limits.source_of(quantity, risk_factors))
                )
        summaries.append(
            OrganSummary(
                organ=organ,
                limit_class=None if organ_limits is None else organ_limits.organ,
                cycles=cycles,
                cumulative_dose_gy=dose,
                cumulative_bed_gy=bed_total,
                statuses=tuple(statuses),
            )
        )
    covered = {s.limit_class for s in summaries}
    warnings = tuple(
        f"no dose recorded for any {key} organ: its limits "
        f"({', '.join(f'{q} {v:g} Gy' for q, v, _ in ol.applicable(risk_factors))}) were "
        "not checked"
        for key, ol in sorted(limits.organs.items())
        if key not in covered and ol.applicable(risk_factors)
    )
    return LimitCheck(
        organs=tuple(summaries),
        risk_factors=risk_factors,
        limits=limits.as_dict(),
        warnings=warnings,
    )
