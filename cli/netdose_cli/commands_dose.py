"""Dose-engine commands: kernel, dose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from netdose.errors import InputError
from netdose_cli._app import JsonOpt, app, emit_json, out_console, run


def _parse_spacing(text: str) -> tuple[float, float, float]:
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if len(parts) == 1:
        parts = parts * 3
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise InputError(
            f"--spacing {text!r}: give three voxel sizes in mm as X,Y,Z (e.g. 4.42,4.42,4.42), "
            "or one number for cubic voxels."
        )
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"--spacing {text!r}: voxel sizes must be positive numbers (mm).")
    return values  # type: ignore[return-value]


@app.command()
def kernel(
    nuclide: Annotated[str, typer.Argument(help="Radionuclide, e.g. Y-90, Lu-177.")],
    spacing: Annotated[str, typer.Option("--spacing", help="Voxel size X,Y,Z in mm (or one number).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output kernel (.nii.gz, .nrrd, .mha).")],
    density: Annotated[float, typer.Option("--density", help="Medium density, g/cm3.")] = 1.04,
    photons: Annotated[
        bool | None,
        typer.Option("--photons/--no-photons", help="Include photons (default: per nuclide)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Dose voxel kernel in mGy/(MBq·s) per voxel, source voxel at the array centre."""
    from netdose.image import Image
    from netdose.io.volume import write_volume
    from netdose.kernels import voxel_kernel
    from netdose.nuclides import get_nuclide

    spacing_mm = _parse_spacing(spacing)
    nuc = get_nuclide(nuclide)
    kwargs = {}
    if photons is not None:
        kwargs["components"] = ("electrons", "photons") if photons else ("electrons",)
    with run("kernel", nuclide=nuc.name, spacing_mm=spacing_mm, density_g_cm3=density,
             photons=photons, out=out) as prov:
        with prov.timer("kernel"):
            k = voxel_kernel(nuc.name, spacing_mm, density_g_cm3=density, **kwargs)
        arr = k.values_mgy_per_mbq_s
        nz, ny, nx = arr.shape
        # Centre voxel at the physical origin.
        origin = (-(nx // 2) * spacing_mm[0], -(ny // 2) * spacing_mm[1], -(nz // 2) * spacing_mm[2])
        write_volume(Image(arr.astype(np.float32), spacing_mm, origin), out)
        prov.outputs.append(str(out))
    summary = k.summary()
    summary["self_mgy_per_mbq_s"] = float(arr[nz // 2, ny // 2, nx // 2])
    summary["shape_zyx"] = list(arr.shape)
    summary["output"] = str(out)
    if as_json:
        emit_json({**summary, "provenance": prov.to_dict()})
        return
    out_console.print(
        f"{nuc.name} kernel {arr.shape[::-1]} voxels (x,y,z) of {spacing_mm} mm at {density} g/cm3: "
        f"self {summary['self_mgy_per_mbq_s']:.4g} mGy/(MBq·s); "
        f"absorbed inside the kernel {100 * k.absorbed_in_kernel_fraction:.2f} % of emitted energy. "
        f"Wrote {out}"
    )


@app.command()
def dose(
    image: Annotated[Path, typer.Argument(help="Activity (Bq/mL) or time-integrated activity map.")],
    nuclide: Annotated[str, typer.Option("--nuclide", help="Radionuclide, e.g. Y-90.")],
    method: Annotated[str, typer.Option("--method", help="ldm or dvk.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output dose (.nii.gz, .nrrd, .mha) in Gy.")],
    quantity: Annotated[
        str | None,
        typer.Option(
            "--quantity",
            help="What the voxels are: activity_bq_ml, tia_bq_s_ml or tia_mbq_h (per voxel). "
            "Read from the DICOM Units when they say BQML.",
        ),
    ] = None,
    kinetics: Annotated[
        str | None, typer.Option("--kinetics", help="'physical' for activity maps (no washout).")
    ] = None,
    ct: Annotated[Path | None, typer.Option("--ct", help="CT in HU on the same grid.")] = None,
    resample_ct: Annotated[
        bool, typer.Option("--resample-ct", help="Resample the CT onto the activity grid (linear).")
    ] = False,
    clip_negative: Annotated[
        bool, typer.Option("--clip-negative", help="Set negative voxels to 0 (recorded).")
    ] = False,
    rtdose: Annotated[
        Path | None, typer.Option("--rtdose", help="Also write a DICOM RT Dose file.")
    ] = None,
    series: Annotated[str | None, typer.Option("--series", help="SeriesInstanceUID to pick.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Absorbed dose (Gy) by local deposition (ldm) or kernel convolution (dvk)."""
    from netdose.dosimetry import absorbed_dose
    from netdose.image import resample
    from netdose.io import read_image
    from netdose.io.rtdose import write_rtdose
    from netdose.io.volume import write_volume

    if method not in ("ldm", "dvk"):
        raise InputError(f"--method {method!r}: use 'ldm' or 'dvk'.")
    if kinetics not in (None, "physical"):
        raise InputError(f"--kinetics {kinetics!r}: only 'physical' is supported here.")
    with run("dose", image=image, nuclide=nuclide, method=method, quantity=quantity,
             kinetics=kinetics, ct=ct, resample_ct=resample_ct, clip_negative=clip_negative,
             out=out, rtdose=rtdose) as prov:
        act = read_image(image, series_uid=series)
        prov.add_input(image, "activity")
        if quantity is None:
            units = str(act.meta.get("units") or "").upper()
            if units == "BQML":
                quantity = "activity_bq_ml"
            else:
                raise InputError(
                    f"{image}: say what the voxel values are with --quantity (activity_bq_ml, "
                    f"tia_bq_s_ml or tia_mbq_h); the file does not state its units"
                    f"{' (Units ' + units + ')' if units else ''}."
                )
        if clip_negative:
            n_neg = int(np.count_nonzero(act.array < 0))
            if n_neg:
                act = act.with_array(np.clip(act.array, 0, None))
                prov.warnings.append(f"{n_neg} negative voxel(s) of {image} set to 0 (--clip-negative).")
        ct_img = None
        if ct is not None:
            ct_img = read_image(ct)
            prov.add_input(ct, "ct")
            if resample_ct and not ct_img.same_grid(act):
                ct_img = resample(ct_img, act, "linear", fill_value=-1000.0)
                prov.warnings.append(f"CT {ct} resampled (linear) onto the activity grid.")
        with prov.timer("dose"):
            res = absorbed_dose(
                act, quantity=quantity, nuclide=nuclide, method=method,  # type: ignore[arg-type]
                kinetics=kinetics,  # type: ignore[arg-type]
                ct=ct_img, name=str(image), ct_name=str(ct) if ct else "CT",
            )
        prov.add_constants(res.constants)
        write_volume(res.dose_gy, out)
        prov.outputs.append(str(out))
        if rtdose is not None:
            source = image if image.is_dir() or image.suffix.lower() == ".dcm" else None
            write_rtdose(res.dose_gy, rtdose, source=source)
            prov.outputs.append(str(rtdose))
    summary = res.summary()
    if as_json:
        emit_json({**summary, "output": str(out), "provenance": prov.to_dict()})
        return
    out_console.print(
        f"{res.nuclide} {method.upper()} dose: max {summary['dose_max_gy']:.4g} Gy, "
        f"mean {summary['dose_mean_gy']:.4g} Gy over the image. Wrote {out}"
    )
