"""netdose: treatment planning and dosimetry for radionuclide therapy.

The library never imports the command line (``netdose_cli``) or the phantoms
(``netdose_phantoms``). See docs/physics.md for every model, constant and source.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from netdose.errors import (
    GeometryError,
    InputError,
    LimitExceeded,
    NetdoseError,
    NetdoseWarning,
    PhysicsRangeError,
    UnitsError,
)
from netdose.image import Image

try:
    __version__ = version("netdose")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "GeometryError",
    "Image",
    "InputError",
    "LimitExceeded",
    "NetdoseError",
    "NetdoseWarning",
    "PhysicsRangeError",
    "UnitsError",
    "__version__",
]
