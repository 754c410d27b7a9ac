"""Body-size formulas for SUV normalisation: lean body mass, body surface area, ideal weight.

SUV normalised to another body size ``S`` (in kg, or m² for BSA) than the body weight ``W``:

- SUL (SUV lean body mass): ``SUL = SUVbw · LBM / W`` (g/mL), LBM by
  :func:`lbm_janmahasatian_kg` (netdose's default) or :func:`lbm_james_kg` ("James-128",
  the formula of PERCIST 1.0);
- SUVbsa: ``SUVbsa = SUVbw · BSA / W`` in cm²/mL (BSA in cm², W in g), BSA by DuBois & DuBois
  (:func:`bsa_dubois_m2`, the SIRT implementation is reused);
- SUVibw: ``SUVibw = SUVbw · IBW / W`` (g/mL), IBW by :func:`ibw_kg`.

Formulas (W in kg, H in cm, BMI = W / (H/100)² in kg/m²), as written in DICOM PS3.16 CID 85
"SUV Unit":

=====================  ============================================  ==========================
quantity               male                                          female
=====================  ============================================  ==========================
LBM James-128 (kg)     1.10 W − 128 (W/H)²                           1.07 W − 148 (W/H)²
LBM Janmahasatian (kg) 9270 W / (6680 + 216 BMI)                     9270 W / (8780 + 244 BMI)
IBW (kg)               48.0 + 1.06 (H − 152)                         45.5 + 0.91 (H − 152)
BSA (m²)               0.007184 W^0.425 H^0.725 (both sexes)
=====================  ============================================  ==========================

Sex is ``"F"`` or ``"M"``: these formulas have no other form, so any other value is refused
(:class:`~netdose.errors.InputError`). Weights and heights outside the plausible adult range
(:data:`WEIGHT_RANGE_KG`, :data:`HEIGHT_RANGE_CM`, shared with the SIRT BSA method) raise
:class:`~netdose.errors.PhysicsRangeError`: they are usually unit mistakes (metres, grams),
and the formulas were derived for adults.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from typing import Any, Literal

from netdose.errors import InputError, NetdoseWarning, PhysicsRangeError
from netdose.sirt.constants import DUBOIS_SOURCE, HEIGHT_RANGE_CM, WEIGHT_RANGE_KG
from netdose.sirt.prescription import bsa_dubois_m2 as _sirt_bsa_dubois_m2

__all__ = [
    "BODY_SIZE_SOURCES",
    "HEIGHT_RANGE_CM",
    "IBW_SOURCE",
    "JAMES_SOURCE",
    "JANMAHASATIAN_SOURCE",
    "NORMALISATIONS",
    "WEIGHT_RANGE_KG",
    "BodySize",
    "Normalisation",
    "Sex",
    "body_size",
    "bsa_dubois_m2",
    "ibw_kg",
    "lbm_james_kg",
    "lbm_janmahasatian_kg",
    "normalise_sex",
]

Sex = Literal["F", "M"]
Normalisation = Literal["bw", "lbm-janma", "lbm-james", "bsa", "ibw"]

#: SUV normalisations netdose computes (CLI ``--normalisation``): body weight, lean body
#: mass (Janmahasatian 2005, James-128), body surface area (DuBois), ideal body weight.
NORMALISATIONS: tuple[str, ...] = ("bw", "lbm-janma", "lbm-james", "bsa", "ibw")

# --------------------------------------------------------------------------- constants
#: James-128 LBM: LBM = a·W − b·(W/H)², W kg, H cm; (a, b) per sex.
JAMES_COEFFICIENTS: dict[str, tuple[float, float]] = {"M": (1.10, 128.0), "F": (1.07, 148.0)}
JAMES_SOURCE = (
    "James WPT, Waterlow JC. Research on Obesity: a report of the DHSS/MRC group. London: "
    "HMSO; 1976 (male coefficient 128, not the 120 of Morgan & Bray 1994 / Sugawara 1999); "
    "formula as written in DICOM PS3.16 CID 85 ('SUVlbm(James128)'); used by PERCIST 1.0 "
    "(Wahl RL et al. J Nucl Med 2009;50 Suppl 1:122S-150S)."
)
#: Janmahasatian LBM: LBM = num·W / (c0 + c1·BMI); (num, c0, c1) per sex.
JANMAHASATIAN_COEFFICIENTS: dict[str, tuple[float, float, float]] = {
    "M": (9270.0, 6680.0, 216.0),
    "F": (9270.0, 8780.0, 244.0),
}
JANMAHASATIAN_SOURCE = (
    "Janmahasatian S, Duffull SB, Ash S, Ward LC, Byrne NM, Green B. Quantification of lean "
    "bodyweight. Clin Pharmacokinet 2005;44(10):1051-1065; formula as written in DICOM PS3.16 "
    "CID 85 ('SUVlbm(Janma)')."
)
#: Ideal body weight: IBW = a + b·(H − 152 cm); (a kg, b kg/cm) per sex.
IBW_COEFFICIENTS: dict[str, tuple[float, float]] = {"M": (48.0, 1.06), "F": (45.5, 0.91)}
#: Height (cm) at which the IBW formula gives its intercept.
IBW_REFERENCE_HEIGHT_CM: float = 152.0
IBW_SOURCE = (
    "DICOM PS3.16 CID 85 'SUV Unit' (SUVibw): males 48.0 + 1.06·(H − 152), females "
    "45.5 + 0.91·(H − 152), H in cm (a Hamwi/Devine-type formula); the OncoRay/IBSI SUV DRO "
    "DRO_2_2 was built with it."
)
BODY_SIZE_SOURCES: dict[str, str] = {
    "lbm-james": JAMES_SOURCE,
    "lbm-janma": JANMAHASATIAN_SOURCE,
    "ibw": IBW_SOURCE,
    "bsa": DUBOIS_SOURCE,
}


# --------------------------------------------------------------------------- validation
def _number(name: str, value: object, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} = {value!r} is not a number; give {name} in {unit}.")
    out = float(value)
    if not math.isfinite(out) or out <= 0.0:
        raise InputError(f"{name} = {out!r} {unit}: it must be a finite number greater than 0.")
    return out


def _weight(weight_kg: object) -> float:
    w = _number("weight_kg", weight_kg, "kg")
    lo, hi = WEIGHT_RANGE_KG
    if not lo <= w <= hi:
        hint = " It looks like grams: give kilograms." if w > 1000.0 else ""
        raise PhysicsRangeError(
            f"weight_kg = {w:g} kg is outside the plausible adult range {lo:g}-{hi:g} kg for the "
            f"body-size formulas.{hint}"
        )
    return w


def _height(height_cm: object) -> float:
    h = _number("height_cm", height_cm, "cm")
    lo, hi = HEIGHT_RANGE_CM
    if not lo <= h <= hi:
        hint = " It looks like metres: give centimetres." if h < 3.0 else ""
        raise PhysicsRangeError(
            f"height_cm = {h:g} cm is outside the plausible adult range {lo:g}-{hi:g} cm for the "
            f"body-size formulas.{hint}"
        )
    return h


def normalise_sex(sex: object, where: str = "sex") -> Sex:
    """``"F"`` or ``"M"`` (case and blanks ignored); InputError for anything else.

    Parameters
    ----------
    sex : object
        The value to check.
    where : str
        Name of the field for the message (e.g. ``"PatientSex (0010,0040)"``).
    """
    text = sex.strip().upper() if isinstance(sex, str) else None
    if text not in ("F", "M"):
        raise InputError(
            f"{where} = {sex!r}: the lean-body-mass and ideal-body-weight formulas exist for "
            "'F' (female) and 'M' (male) only; give the patient's sex as 'F' or 'M' (--sex on "
            "the command line)."
        )
    return text  # type: ignore[return-value]


# --------------------------------------------------------------------------- formulas
def lbm_james_kg(weight_kg: float, height_cm: float, sex: str) -> float:
    """Lean body mass by James (1976), "James-128": the formula of PERCIST 1.0.

    LBM = 1.10·W − 128·(W/H)² (male), 1.07·W − 148·(W/H)² (female).

    Parameters
    ----------
    weight_kg : float
        Body weight, kg.
    height_cm : float
        Height, cm.
    sex : {"F", "M"}

    Returns
    -------
    float
        Lean body mass, kg.

    Raises
    ------
    InputError
        Not positive numbers, or sex other than F/M.
    PhysicsRangeError
        Outside the plausible range, or so heavy for the height that the formula gives no
        positive mass.

    Warns
    -----
    NetdoseWarning
        Past the maximum of the formula (W > a·H²/(2b), i.e. BMI > 36.1 kg/m² for women and
        > 43.0 kg/m² for men): there LBM *decreases* with weight, a known failure of the James
        formula in obesity; Janmahasatian is the better choice.
    """
    w, h, s = _weight(weight_kg), _height(height_cm), normalise_sex(sex)
    a, b = JAMES_COEFFICIENTS[s]
    lbm = a * w - b * (w / h) ** 2
    if lbm <= 0.0:
        raise PhysicsRangeError(
            f"the James formula gives no positive lean body mass for {w:g} kg and {h:g} cm "
            f"(sex {s}): it fails in severe obesity. Use the Janmahasatian formula (lbm-janma)."
        )
    w_peak = a * h * h / (2.0 * b)
    if w > w_peak:
        warnings.warn(
            f"James LBM formula used past its maximum ({w:g} kg > {w_peak:.1f} kg for {h:g} cm, "
            f"sex {s}): there LBM falls as weight rises, so SUL is underestimated; the "
            "Janmahasatian formula (lbm-janma) does not have this flaw.",
            NetdoseWarning,
            stacklevel=2,
        )
    return float(lbm)


def lbm_janmahasatian_kg(weight_kg: float, height_cm: float, sex: str) -> float:
    """Lean body mass by Janmahasatian et al. (2005), netdose's default for SUL.

    LBM = 9270·W / (6680 + 216·BMI) (male), 9270·W / (8780 + 244·BMI) (female), with
    BMI = W / (H/100)² in kg/m².

    Parameters
    ----------
    weight_kg : float
        Body weight, kg.
    height_cm : float
        Height, cm.
    sex : {"F", "M"}

    Returns
    -------
    float
        Lean body mass, kg.
    """
    w, h, s = _weight(weight_kg), _height(height_cm), normalise_sex(sex)
    num, c0, c1 = JANMAHASATIAN_COEFFICIENTS[s]
    bmi = w / (h / 100.0) ** 2
    return float(num * w / (c0 + c1 * bmi))


def ibw_kg(height_cm: float, sex: str) -> float:
    """Ideal body weight as defined for SUVibw in DICOM PS3.16 CID 85.

    IBW = 48.0 + 1.06·(H − 152) (male), 45.5 + 0.91·(H − 152) (female), H in cm.

    Parameters
    ----------
    height_cm : float
        Height, cm.
    sex : {"F", "M"}

    Returns
    -------
    float
        Ideal body weight, kg.
    """
    h, s = _height(height_cm), normalise_sex(sex)
    a, b = IBW_COEFFICIENTS[s]
    return float(a + b * (h - IBW_REFERENCE_HEIGHT_CM))


def bsa_dubois_m2(weight_kg: float, height_cm: float) -> float:
    """Body surface area by DuBois & DuBois (1916), m²: 0.007184·W^0.425·H^0.725.

    The SIRT implementation (:func:`netdose.sirt.prescription.bsa_dubois_m2`, same constants
    and ranges) is used; note the argument order here is (weight, height) like the other
    functions of this module.
    """
    return _sirt_bsa_dubois_m2(height_cm, weight_kg)


# --------------------------------------------------------------------------- dispatcher
@dataclasses.dataclass(frozen=True)
class BodySize:
    """The body size an SUV is normalised to, and how it was obtained.

    Attributes
    ----------
    kind : str
        One of :data:`NORMALISATIONS`.
    value : float or None
        The size: kg (``bw``, ``lbm-*``, ``ibw``) or m² (``bsa``); None only for ``bw`` of an
        image the scanner already normalised without recording the weight.
    unit : str
        ``"kg"`` or ``"m2"``.
    factor_from_suvbw : float
        Multiply SUVbw by this to get the normalised SUV: ``value / W`` for masses,
        ``value·10⁴ cm²/m² / (W·10³ g/kg)`` for BSA (result in cm²/mL).
    suv_unit : str
        UCUM unit of the normalised SUV, as in DICOM CID 85 (``"g/ml{SUVbw}"``,
        ``"g/ml{SUVlbm(Janma)}"``, ``"g/ml{SUVlbm(James128)}"``, ``"cm2/ml{SUVbsa}"``,
        ``"g/ml{SUVibw}"``).
    formula : str
        The formula in words, with the inputs used.
    source : str
        Literature source.
    """

    kind: str
    value: float | None
    unit: str
    factor_from_suvbw: float
    suv_unit: str
    formula: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


_SUV_UNITS = {
    "bw": "g/ml{SUVbw}",
    "lbm-janma": "g/ml{SUVlbm(Janma)}",
    "lbm-james": "g/ml{SUVlbm(James128)}",
    "bsa": "cm2/ml{SUVbsa}",
    "ibw": "g/ml{SUVibw}",
}
#: cm² per m² and g per kg, for SUVbsa in cm²/mL.
_CM2_PER_M2 = 1.0e4
_G_PER_KG = 1.0e3


def body_size(
    kind: str, weight_kg: float, height_cm: float | None = None, sex: str | None = None
) -> BodySize:
    """The body size for one SUV normalisation and the factor that turns SUVbw into it.

    Parameters
    ----------
    kind : {"bw", "lbm-janma", "lbm-james", "bsa", "ibw"}
        The normalisation.
    weight_kg : float
        Body weight, kg.
    height_cm : float, optional
        Height, cm (needed for every kind but ``bw``).
    sex : {"F", "M"}, optional
        Needed for ``lbm-*`` and ``ibw``.

    Returns
    -------
    BodySize

    Raises
    ------
    InputError
        Unknown kind, or a missing height/sex the kind needs.
    """
    key = str(kind).strip().lower()
    if key not in NORMALISATIONS:
        raise InputError(
            f"unknown SUV normalisation {kind!r}; use one of {', '.join(NORMALISATIONS)}."
        )
    if key == "bw":
        w = _number("weight_kg", weight_kg, "kg")
        return BodySize("bw", w, "kg", 1.0, _SUV_UNITS["bw"], f"W = {w:g} kg", "definition")
    if height_cm is None:
        raise InputError(
            f"SUV normalisation {key!r} needs the patient's height: give height_cm (the DICOM "
            "tag is PatientSize (0010,1020), in metres)."
        )
    if key == "bsa":
        bsa = bsa_dubois_m2(weight_kg, height_cm)
        w = float(weight_kg)
        return BodySize(
            "bsa", bsa, "m2", bsa * _CM2_PER_M2 / (w * _G_PER_KG), _SUV_UNITS["bsa"],
            f"BSA = 0.007184 · {w:g}^0.425 · {float(height_cm):g}^0.725 = {bsa:.4f} m2",
            DUBOIS_SOURCE,
        )
    if sex is None:
        raise InputError(
            f"SUV normalisation {key!r} needs the patient's sex ('F' or 'M'): give sex (the "
            "DICOM tag is PatientSex (0010,0040))."
        )
    if key == "ibw":
        size = ibw_kg(height_cm, sex)
        text = f"IBW({normalise_sex(sex)}, {float(height_cm):g} cm) = {size:.3f} kg"
    elif key == "lbm-james":
        size = lbm_james_kg(weight_kg, height_cm, sex)
        text = f"LBM James-128({normalise_sex(sex)}, {float(weight_kg):g} kg, " \
               f"{float(height_cm):g} cm) = {size:.3f} kg"
    else:
        size = lbm_janmahasatian_kg(weight_kg, height_cm, sex)
        text = f"LBM Janmahasatian({normalise_sex(sex)}, {float(weight_kg):g} kg, " \
               f"{float(height_cm):g} cm) = {size:.3f} kg"
    w = _weight(weight_kg)
    return BodySize(key, size, "kg", size / w, _SUV_UNITS[key], text, BODY_SIZE_SOURCES[key])
