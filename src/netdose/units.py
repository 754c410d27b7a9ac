"""Unit conversion constants: the one place where units change.

netdose works internally in mm, s, Bq, Gy and kg. Names of variables carry their unit
(``activity_mbq``, ``half_life_h``); conversions multiply by one of these constants, never by
a bare number.
"""

from __future__ import annotations

import math

#: Bq per MBq.
BQ_PER_MBQ: float = 1.0e6
#: Bq per GBq.
BQ_PER_GBQ: float = 1.0e9
#: MBq per GBq.
MBQ_PER_GBQ: float = 1.0e3
#: Bq per mCi (1 Ci = 3.7e10 Bq exactly).
BQ_PER_MCI: float = 3.7e7

#: seconds per minute / hour / day.
S_PER_MIN: float = 60.0
S_PER_H: float = 3600.0
S_PER_D: float = 86400.0
#: seconds per Julian year (used only for ICRP-107 half-lives given in years).
S_PER_Y: float = 365.25 * 86400.0

#: cm per mm.
CM_PER_MM: float = 0.1
#: mL (= cm^3) per mm^3.
ML_PER_MM3: float = 1.0e-3
#: mm^3 per mL.
MM3_PER_ML: float = 1.0e3
#: kg per g.
KG_PER_G: float = 1.0e-3
#: g per kg.
G_PER_KG: float = 1.0e3

#: joule per MeV (CODATA 2018: 1 eV = 1.602176634e-19 J exactly).
J_PER_MEV: float = 1.602176634e-13
#: mGy per Gy.
MGY_PER_GY: float = 1.0e3

#: natural log of 2, for half-life <-> decay constant.
LN2: float = math.log(2.0)

#: ICRP-107 time units -> seconds.
ICRP_TIME_UNIT_S: dict[str, float] = {
    "us": 1.0e-6,
    "ms": 1.0e-3,
    "s": 1.0,
    "m": S_PER_MIN,
    "h": S_PER_H,
    "d": S_PER_D,
    "y": S_PER_Y,
}
