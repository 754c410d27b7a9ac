"""Print the validation tables of docs/physics.md (section 4) (markdown) from the shipped tables.

    python scripts/kernel_validation_report.py > /tmp/kernel_validation.md

Sections: Y-90 and Lu-177 voxel S values against Lanconelli et al. (2012); the Lu-177
conversion-electron effect; energy closure; Y-90 sphere absorbed fractions; timings.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from netdose.kernels import point_kernel, voxel_kernel
from netdose.units import BQ_PER_MBQ, J_PER_MEV, MGY_PER_GY

ROOT = Path(__file__).resolve().parents[1]
LANCONELLI = ROOT / "tests" / "data" / "lanconelli-2012"
OFFSETS = [(0, 0, 0), (0, 0, 1), (0, 1, 1), (1, 1, 1), (0, 0, 2), (0, 1, 2), (0, 0, 3)]


def lanconelli(tag: str, size: str) -> np.ndarray:
    rows = np.loadtxt(LANCONELLI / f"{tag}{size}mmsoft.txt", skiprows=2)
    out = np.zeros((6, 6, 6))
    for i, j, k, s in rows:
        out[int(i), int(j), int(k)] = s
    return out


def value_at(vk, i: int, j: int, k: int) -> float:
    cz, cy, cx = vk.center_index
    if abs(k) > cz or abs(j) > cy or abs(i) > cx:
        return 0.0
    return float(vk.values_mgy_per_mbq_s[cz + k, cy + j, cx + i])


def lanconelli_table(nuclide: str, tag: str, components, label: str) -> None:
    print(f"\n**{nuclide}, {label}** (ours / Lanconelli, % difference)\n")
    print(
        "| voxel (mm) | "
        + " | ".join(str(o) for o in OFFSETS)
        + " | kernel sum (MeV/decay): ours, Lanconelli 11^3 |"
    )
    print("|---" * (len(OFFSETS) + 2) + "|")
    for size in ("3", "4.42", "6"):
        h = float(size)
        vk = voxel_kernel(
            nuclide, (h, h, h), 1.04, components=components, use_cache=False
        )
        ref = lanconelli(tag, size)
        cells = []
        for i, j, k in OFFSETS:
            ours, theirs = value_at(vk, i, j, k), ref[i, j, k]
            cells.append(
                f"{ours:.3g} / {theirs:.3g} ({100 * (ours / theirs - 1):+.1f} %)"
            )
        # sums over the same 11x11x11 region as the reference
        c = vk.center_index
        sub = vk.values_mgy_per_mbq_s[
            max(c[0] - 5, 0) : c[0] + 6,
            max(c[1] - 5, 0) : c[1] + 6,
            max(c[2] - 5, 0) : c[2] + 6,
        ]
        to_mev = vk.voxel_mass_kg / (J_PER_MEV * BQ_PER_MBQ * MGY_PER_GY)
        full = np.zeros((11, 11, 11))
        for i in range(-5, 6):
            for j in range(-5, 6):
                for k in range(-5, 6):
                    full[i + 5, j + 5, k + 5] = ref[abs(i), abs(j), abs(k)]
        ours_sum = float(sub.sum()) * to_mev
        ref_sum = float(full.sum()) * to_mev
        print(
            f"| {size} | " + " | ".join(cells) + f" | {ours_sum:.4f}, {ref_sum:.4f} |"
        )


def main() -> None:
    os.environ.setdefault("NETDOSE_CACHE_DIR", tempfile.mkdtemp())
    lanconelli_table("Y-90", "90Y", None, "electrons (default components)")
    lanconelli_table(
        "Lu-177",
        "177Lu",
        ("beta", "auger", "photons"),
        "beta + Auger + photons (no conversion electrons)",
    )
    lanconelli_table(
        "Lu-177", "177Lu", None, "all emissions (default: beta + CE + Auger + photons)"
    )
    lanconelli_table(
        "Lu-177", "177Lu", ("electrons",), "electrons only (beta + CE + Auger)"
    )

    print("\n**Energy closure** (MeV per decay)\n")
    print(
        "| nuclide | voxel (mm) | components | emitted | escaped (reported) | kernel sum x mass | (sum - (emitted - escaped)) / emitted |"
    )
    print("|---|---|---|---|---|---|---|")
    for nuc, sp, comps in [
        ("Y-90", (3.0,) * 3, None),
        ("Y-90", (4.42,) * 3, None),
        ("Y-90", (2.34, 2.34, 2.78), None),
        ("Y-90", (0.98, 0.98, 3.0), None),
        ("Lu-177", (4.42,) * 3, ("electrons",)),
        ("Lu-177", (4.42,) * 3, None),
        ("Lu-177", (0.98, 0.98, 3.0), None),
    ]:
        vk = voxel_kernel(nuc, sp, 1.04, components=comps, use_cache=False)
        em = sum(vk.emitted_energy_mev.values())
        es = sum(vk.escaped_energy_mev.values())
        ks = vk.kernel_energy_mev()
        print(
            f"| {nuc} | {sp} | {'+'.join(vk.components)} | {em:.5f} | {es:.5f} | {ks:.5f} | {(ks - (em - es)) / em:+.1e} |"
        )

    print("\n**Y-90 absorbed fractions in unit-density spheres**\n")
    print(
        "| mass (g) | radius (cm) | netdose (soft tissue, 1.00 g/cm3) | netdose (1.04 g/cm3) | published |"
    )
    print("|---|---|---|---|---|")
    pub = {
        4: "0.80 (Akabani)",
        10: "0.85 (Amato)",
        20: "0.88 (Amato)",
        100: "0.93 (Amato)",
    }
    for m in (4, 10, 20, 100):
        afs = []
        for rho in (1.0, 1.04):
            pk = point_kernel("Y-90", rho)
            radius_mm = (3.0 * m / (4.0 * math.pi * rho)) ** (1 / 3) * 10.0
            r, c = pk.r_mm, pk.total_cumulative_mev
            x = 0.5 * (r[1:] + r[:-1]) / radius_mm
            phi = np.where(x < 2.0, 1.0 - 0.75 * x + x**3 / 16.0, 0.0)
            afs.append((c[0] + np.sum(phi * np.diff(c))) / sum(pk.emitted_mev.values()))
        print(
            f"| {m} | {(3.0 * m / (4.0 * math.pi)) ** (1 / 3):.2f} | {afs[0]:.3f} | {afs[1]:.3f} | {pub[m]} |"
        )

    print("\n**Timings** (this machine)\n")
    for nuc, sp in [
        ("Y-90", (4.42,) * 3),
        ("Y-90", (2.34, 2.34, 2.78)),
        ("Lu-177", (4.42,) * 3),
        ("Lu-177", (0.98, 0.98, 3.0)),
        ("Lu-177", (2.0, 2.0, 2.0)),
    ]:
        t0 = time.perf_counter()
        vk = voxel_kernel(nuc, sp)
        t1 = time.perf_counter()
        voxel_kernel(nuc, sp)
        t2 = time.perf_counter()
        print(
            f"- {nuc} {sp}: new {t1 - t0:.2f} s, cached {1000 * (t2 - t1):.0f} ms, shape {vk.shape}"
        )


if __name__ == "__main__":
    main()
