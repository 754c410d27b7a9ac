"""Generate netdose's table of scaled monoenergetic electron point kernels in water.

Runs the condensed-history Monte Carlo of :mod:`netdose.kernels.electron_mc` once per energy
(log-spaced, 10 keV to 5 MeV) with a fixed seed and writes
``src/netdose/data/electron_kernels_water.npz``:

- ``energy_mev`` (n_e,): initial kinetic energies.
- ``r0_cm`` (n_e,): ESTAR CSDA range in water at 1 g/cm3 (the scaling length).
- ``x_edges`` (n_x + 1,): scaled radii x = r / r0 of the shell edges.
- ``cumulative`` (n_e, n_x + 1): fraction of E0 deposited within x (0 at x = 0).
- ``radiative_fraction`` (n_e,): fraction of E0 radiated as bremsstrahlung (escapes).
- ``beyond_fraction`` (n_e,): fraction deposited beyond the last edge (should be 0).
- ``histories``, ``seed``, ``table_version`` and the transport parameters.

Usage (about 15-30 min on 2 cores):

    python scripts/make_electron_kernels.py [--histories 200000] [--seed 20240607]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from netdose.kernels.electron_mc import simulate_electron_kernel

OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "netdose"
    / "data"
    / "electron_kernels_water.npz"
)
TABLE_VERSION = "electron-water-v1"
ENERGIES_MEV = np.geomspace(0.01, 5.0, 42)
PARAMS = {
    "x_max": 1.6,
    "n_bins": 640,
    "step_fraction": 0.03,
    "hard_elastic_c1": 0.05,
    "stop_range_fraction": 0.002,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=20240607)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    cum, rad, beyond, r0 = [], [], [], []
    x_edges = None
    t_start = time.time()
    for e in ENERGIES_MEV:
        t0 = time.time()
        res = simulate_electron_kernel(float(e), args.histories, args.seed, **PARAMS)
        x_edges = res.x_edges
        cum.append(res.cumulative_fraction)
        rad.append(res.radiative_fraction)
        beyond.append(res.beyond_fraction)
        r0.append(res.r0_cm)
        print(
            f"E0={e:.4g} MeV r0={res.r0_cm:.4g} cm absorbed={res.cumulative_fraction[-1]:.5f} "
            f"radiative={res.radiative_fraction:.5f} overflow={res.overflowed} ({time.time() - t0:.1f} s)",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        energy_mev=ENERGIES_MEV,
        r0_cm=np.array(r0),
        x_edges=x_edges,
        cumulative=np.array(cum),
        radiative_fraction=np.array(rad),
        beyond_fraction=np.array(beyond),
        histories=np.int64(args.histories),
        seed=np.int64(args.seed),
        table_version=np.str_(TABLE_VERSION),
        parameters=np.str_(repr(PARAMS)),
    )
    print(f"wrote {args.out} in {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
