"""Public phantoms with known truth for netdose's tests, benchmarks and demo.

See :mod:`netdose_phantoms.registry` for the list (``netdose phantom --help``).
"""

from __future__ import annotations

from netdose_phantoms.base import Phantom, TimePoint

__all__ = ["Phantom", "TimePoint"]
