"""The netdose exception hierarchy.

Every error a user can cause derives from :class:`NetdoseError`. Messages say what was
wrong, where (file, DICOM tag, mask name) and how to fix it. The command line turns a
``NetdoseError`` into a one-paragraph message and exit code 2; a ``LimitExceeded`` raised
while planning becomes exit code 3. Anything else is a bug in netdose.
"""

from __future__ import annotations

__all__ = [
    "GeometryError",
    "InputError",
    "LimitExceeded",
    "NetdoseError",
    "NetdoseWarning",
    "PhysicsRangeError",
    "UnitsError",
]


class NetdoseError(Exception):
    """Base class of every error netdose raises on purpose."""


class InputError(NetdoseError, ValueError):
    """Bad or missing input: a file that cannot be read, a missing DICOM tag, NaN voxels."""


class GeometryError(NetdoseError, ValueError):
    """Images or masks whose grids (size, spacing, origin, direction) do not fit together."""


class UnitsError(NetdoseError, ValueError):
    """A quantity in units netdose cannot use or cannot convert safely."""


class PhysicsRangeError(NetdoseError, ValueError):
    """A value outside the range where a physics model or table is valid."""


class LimitExceeded(NetdoseError):
    """A safety limit that blocks a treatment plan (e.g. lung dose above 30 Gy)."""


class NetdoseWarning(UserWarning):
    """An assumption netdose made that the user should know about (recorded in reports)."""
