"""Foundation commands: info, nuclide, convert, masks."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import netdose
from netdose.errors import InputError
from netdose_cli._app import JsonOpt, app, emit_json, out_console, run


@app.command()
def info(as_json: JsonOpt = False) -> None:
    """Version, radionuclides, threads and cache folder."""
    from netdose.config import cache_dir, data_dir, thread_count
    from netdose.nuclides import CLINICAL_NUCLIDES, available_nuclides, get_nuclide
    from netdose.provenance import software_versions

    data = {
        "version": netdose.__version__,
        "software": software_versions(),
        "nuclides": {
            n: {
                "half_life_h": round(get_nuclide(n).half_life_h, 6),
                "electron_energy_mev": round(get_nuclide(n).electron_energy_mev, 6),
                "photon_energy_mev": round(get_nuclide(n).photon_energy_mev, 6),
            }
            for n in CLINICAL_NUCLIDES
        },
        "nuclides_available": len(available_nuclides()),
        "nuclide_data": "ICRP Publication 107 (icrp107-database)",
        "threads": thread_count(),
        "cpu_count": os.cpu_count(),
        "cache_dir": str(cache_dir()),
        "data_dir": str(data_dir()),
    }
    if as_json:
        emit_json(data)
        return
    out_console.print(f"netdose {data['version']}")
    for k, v in data["software"].items():
        if k != "netdose":
            out_console.print(f"  {k:<17} {v}")
    out_console.print(f"threads {data['threads']} (of {data['cpu_count']} CPUs)")
    out_console.print(f"kernel cache {data['cache_dir']}")
    out_console.print(f"data folder  {data['data_dir']}")
    table = Table(title=f"Radionuclides (ICRP-107; {data['nuclides_available']} available)")
    for col in ("nuclide", "half-life (h)", "electrons (MeV/decay)", "photons (MeV/decay)"):
        table.add_column(col, justify="right")
    for n, d in data["nuclides"].items():
        table.add_row(n, f"{d['half_life_h']:.4g}", f"{d['electron_energy_mev']:.5f}",
                      f"{d['photon_energy_mev']:.5f}")
    out_console.print(table)


@app.command()
def nuclide(
    name: Annotated[str, typer.Argument(help="Radionuclide, e.g. Lu-177, Y90, 99mTc.")],
    as_json: JsonOpt = False,
) -> None:
    """Decay data of a radionuclide: half-life, energy per decay by category, main lines."""
    from netdose.nuclides import get_nuclide

    nuc = get_nuclide(name)
    data = nuc.summary()
    data["photon_lines"] = [
        {"energy_mev": float(e), "yield": float(y)} for e, y in nuc.photon_lines(min_yield=0.01)
    ]
    data["electron_lines"] = [
        {"energy_mev": float(e), "yield": float(y)} for e, y in nuc.electron_lines(min_yield=0.01)
    ]
    data["beta_max_mev"] = float(nuc.beta_spectrum_mev[-1, 0]) if nuc.beta_spectrum_mev.size else 0.0
    if as_json:
        emit_json(data)
        return
    out_console.print(f"{nuc.name}: half-life {nuc.half_life_h:.5g} h ({data['source']})")
    for key, value in data.items():
        if key.endswith("_mev") and isinstance(value, float) and value > 0:
            out_console.print(f"  {key:<22} {value:.6f}")
    for kind in ("photon_lines", "electron_lines"):
        for line in data[kind]:
            out_console.print(f"  {kind[:-6]} {line['energy_mev'] * 1000:8.2f} keV  {100 * line['yield']:.2f} %")


@app.command()
def convert(
    image: Annotated[Path, typer.Argument(help="DICOM folder/file, NIfTI, NRRD or MHA.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output .nii.gz, .nrrd or .mha.")],
    series: Annotated[str | None, typer.Option("--series", help="SeriesInstanceUID to pick.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read an image (checking its geometry and values) and write it as NIfTI/NRRD/MHA."""
    from netdose.io import read_image
    from netdose.io.volume import write_volume

    with run("convert", image=image, out=out, series=series) as prov:
        img = read_image(image, series_uid=series)
        img.require_finite(str(image))
        prov.add_input(image, "image")
        write_volume(img, out)
        prov.outputs.append(str(out))
    data = {
        "output": str(out),
        "size_xyz": list(img.size_xyz),
        "spacing_mm": list(img.spacing_mm),
        "origin_mm": list(img.origin_mm),
        "direction": list(img.direction),
        "meta": dict(img.meta),
        "provenance": prov.to_dict(),
    }
    if as_json:
        emit_json(data)
    else:
        out_console.print(f"wrote {out}: {img.describe_grid()}")


def _safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "mask"


@app.command()
def masks(
    image: Annotated[Path, typer.Argument(help="The image whose grid the masks go on.")],
    mask_file: Annotated[
        Path, typer.Argument(help="Label map, 3D Slicer .seg.nrrd, DICOM RTSTRUCT or SEG.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for one NIfTI per mask + volumes.csv.")],
    names: Annotated[
        str | None,
        typer.Option(
            "--names",
            help="For label maps: 'totalsegmentator', or a table like '1=liver,2=spleen'.",
        ),
    ] = None,
    select: Annotated[
        list[str] | None, typer.Option("--select", help="Only these masks (repeatable).")
    ] = None,
    series: Annotated[str | None, typer.Option("--series", help="SeriesInstanceUID of the image.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Put named masks on an image's grid, report native and on-grid volumes, write them."""
    from netdose.io import read_image
    from netdose.io.atomic import atomic_write_text
    from netdose.io.masks import load_masks
    from netdose.io.volume import write_volume

    name_table: object = None
    if names:
        if names.strip().lower() == "totalsegmentator":
            name_table = "totalsegmentator"
        else:
            table: dict[int, str] = {}
            for item in names.split(","):
                label, sep, label_name = item.partition("=")
                if not sep or not label.strip().isdigit() or not label_name.strip():
                    raise InputError(
                        f"--names: {item!r} is not of the form LABEL=NAME (e.g. '1=liver,2=spleen')."
                    )
                table[int(label)] = label_name.strip()
            name_table = table
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is a file; give a folder.")
    with run("masks", image=image, mask_file=mask_file, out=out, names=names, select=select) as prov:
        img = read_image(image, series_uid=series)
        prov.add_input(image, "image")
        mset = load_masks(mask_file, target=img, names=name_table, select=select)
        prov.add_input(mask_file, "masks")
        # Everything is read and checked before the first file is written.
        rows = []
        for nm in mset.values():
            path = out / f"{_safe_file_name(nm.name)}.nii.gz"
            write_volume(nm.mask, path)
            prov.outputs.append(str(path))
            rows.append(
                {
                    "name": nm.name,
                    "volume_native_ml": round(nm.volume_native_ml, 3),
                    "volume_on_image_grid_ml": round(nm.volume_target_ml, 3),
                    "difference_pct": round(
                        100.0 * (nm.volume_target_ml - nm.volume_native_ml) / nm.volume_native_ml, 2
                    )
                    if nm.volume_native_ml > 0
                    else None,
                    "file": str(path),
                    "source": nm.source,
                }
            )
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out / "volumes.csv", buf.getvalue())
        prov.outputs.append(str(out / "volumes.csv"))
    if as_json:
        emit_json({"masks": rows, "image_grid": img.describe_grid(), "provenance": prov.to_dict()})
        return
    tab = Table(title=f"Masks on {image.name} ({img.describe_grid()})")
    for col in ("mask", "native (mL)", "on image grid (mL)", "difference"):
        tab.add_column(col, justify="right")
    for r in rows:
        diff = "" if r["difference_pct"] is None else f"{r['difference_pct']:+.2f} %"
        tab.add_row(r["name"], f"{r['volume_native_ml']:.2f}", f"{r['volume_on_image_grid_ml']:.2f}", diff)
    out_console.print(tab)
    out_console.print(f"wrote {len(rows)} masks and volumes.csv to {out}")
