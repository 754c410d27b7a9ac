"""Generate netdose's tables of monoenergetic photon point kernels (water, soft tissue).

Runs the photon Monte Carlo of :mod:`netdose.kernels.photon_mc` once per energy (log-spaced,
5 keV to 5 MeV) and medium, with a fixed seed, and writes
``src/netdose/data/photon_kernels_<medium>.npz``:

- ``energy_mev`` (n_e,)
- ``r_edges_g_cm2`` (n_r + 1,): shell edges in mass radius rho*r (0, then log-spaced
  1e-3 to 100 g/cm2).
- ``cumulative`` (n_e, n_r + 1): fraction of the photon energy absorbed within each edge.
- ``escaped_fraction`` (n_e,): fraction absorbed beyond 100 g/cm2.
- ``histories``, ``seed``, ``table_version``.

Usage (about 10-20 min on 2 cores):

    python scripts/make_photon_kernels.py [--histories 500000] [--seed 20240611]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from netdose.kernels.photon_mc import photon_radial_edges_g_cm2, simulate_photon_kernel

DATA = Path(__file__).resolve().parents[1] / "src" / "netdose" / "data"
TABLE_VERSION = "photon-v1"
ENERGIES_MEV = np.geomspace(0.005, 5.0, 46)
MEDIA = ("soft_tissue", "water")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--media", nargs="*", default=list(MEDIA))
    args = ap.parse_args()
    edges = photon_radial_edges_g_cm2()
    for medium in args.media:
        t_start = time.time()
        cum, esc = [], []
        for e in ENERGIES_MEV:
            t0 = time.time()
            res = simulate_photon_kernel(
                float(e), args.histories, args.seed, medium=medium, r_edges_g_cm2=edges
            )
            cum.append(res.cumulative_fraction)
            esc.append(res.escaped_fraction)
            print(
                f"{medium} E={e:.4g} MeV within 1 cm: {np.interp(1.0, edges, res.cumulative_fraction):.4f} "
                f"within 10 cm: {np.interp(10.0, edges, res.cumulative_fraction):.4f} "
                f"escaped: {res.escaped_fraction:.2e} ({time.time() - t0:.1f} s)",
                flush=True,
            )
        out = DATA / f"photon_kernels_{medium}.npz"
        np.savez_compressed(
            out,
            energy_mev=ENERGIES_MEV,
            r_edges_g_cm2=edges,
            cumulative=np.array(cum),
            escaped_fraction=np.array(esc),
            histories=np.int64(args.histories),
            seed=np.int64(args.seed),
            table_version=np.str_(f"{TABLE_VERSION}-{medium}"),
        )
        print(f"wrote {out} in {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
