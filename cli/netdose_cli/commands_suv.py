"""Response command: ``netdose suv`` (SUV/SUL image from a DICOM PET series)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Annotated

import typer

from netdose.errors import InputError
from netdose_cli._app import JsonOpt, app, emit_json, out_console, run

_NORMALISATIONS = ("bw", "lbm-janma", "lbm-james", "bsa", "ibw")


def _injection_datetime(text: str | None) -> _dt.datetime | None:
    if text is None:
        return None
    try:
        value = _dt.datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.utcoffset() is None:
        raise InputError(
            f"--injection-datetime {text!r}: give an ISO date-time with its UTC offset, e.g. "
            "2025-01-01T10:00:00+01:00."
        )
    return value


@app.command()
def suv(
    pet: Annotated[Path, typer.Argument(help="Folder (or file) of the DICOM PET series.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output image (.nii.gz, .nrrd, .mha).")],
    weight_kg: Annotated[
        float | None,
        typer.Option("--weight-kg", help="Patient weight in kg, replacing PatientWeight."),
    ] = None,
    normalisation: Annotated[
        str,
        typer.Option(
            "--normalisation",
            help="bw (SUVbw), lbm-janma (SUL, Janmahasatian), lbm-james (SUL, James-128 as in "
            "PERCIST 1.0), bsa (SUVbsa, cm2/mL) or ibw (ideal body weight).",
        ),
    ] = "bw",
    height_cm: Annotated[
        float | None, typer.Option("--height-cm", help="Height in cm (else PatientSize).")
    ] = None,
    sex: Annotated[
        str | None, typer.Option("--sex", help="F or M (else PatientSex).")
    ] = None,
    injected_mbq: Annotated[
        float | None,
        typer.Option("--injected-mbq", help="Injected activity in MBq, replacing the header's."),
    ] = None,
    injection_datetime: Annotated[
        str | None,
        typer.Option(
            "--injection-datetime",
            help="Injection time, ISO with UTC offset (2025-01-01T10:00:00+01:00), replacing "
            "the header's.",
        ),
    ] = None,
    series: Annotated[
        str | None, typer.Option("--series", help="SeriesInstanceUID to pick.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """SUV image from a DICOM PET series (QIBA pseudo-code) and how its factor was derived."""
    from netdose.io.volume import write_volume
    from netdose.response.suv import SUV_CONSTANTS, suv_from_dicom
    from netdose.units import BQ_PER_MBQ

    kind = normalisation.strip().lower()
    if kind not in _NORMALISATIONS:
        raise InputError(
            f"--normalisation {normalisation!r}: use one of {', '.join(_NORMALISATIONS)}."
        )
    if sex is not None and sex.strip().upper() not in ("F", "M"):
        raise InputError(f"--sex {sex!r}: give F or M.")
    injection = _injection_datetime(injection_datetime)
    with run("suv", pet=pet, out=out, weight_kg=weight_kg, normalisation=kind,
             height_cm=height_cm, sex=sex, injected_mbq=injected_mbq,
             injection_datetime=injection_datetime, series=series) as prov:
        prov.add_input(pet, "pet")
        with prov.timer("suv"):
            res = suv_from_dicom(
                pet,
                series_uid=series,
                weight_kg_override=weight_kg,
                height_cm_override=height_cm,
                sex_override=sex.strip().upper() if sex is not None else None,
                injected_dose_bq_override=(
                    None if injected_mbq is None else injected_mbq * BQ_PER_MBQ
                ),
                injection_datetime_override=injection,
            )
            size = res.body_size(kind)
            image = res.normalised(kind)
        prov.add_constants(SUV_CONSTANTS)
        prov.add_constants({"body_size": size.as_dict()})
        write_volume(image, out)
        prov.outputs.append(str(out))
    f = res.factor
    data = {
        **res.as_dict(),
        "normalisation": kind,
        "suv_unit": size.suv_unit,
        "body_size": size.as_dict(),
        "output": str(out),
    }
    if as_json:
        emit_json({**data, "provenance": prov.to_dict()})
        return
    lines = [
        f"SUV factor {f.factor:.6g} per {f.units} ({f.method})"
        + ("" if f.uniform
           else f"; per slice {min(f.slice_factors):.6g}-{max(f.slice_factors):.6g}"),
        f"reference time {f.reference_datetime or 'as applied by the scanner'}"
        + (f" ({f.reference_time_source})" if f.reference_time_source else ""),
    ]
    if f.decay_factor is not None:
        lines.append(
            f"decay factor {f.decay_factor:.6g} over {f.uptake_time_h:.3f} h uptake"
            if f.uptake_time_h is not None else f"decay factor {f.decay_factor:.6g}"
        )
    if f.injected_dose_bq is not None:
        lines.append(f"injected {f.injected_dose_bq / BQ_PER_MBQ:.6g} MBq ({f.injected_dose_unit})")
    lines.append(f"{size.suv_unit}: {size.formula}")
    for a in res.assumptions:
        lines.append(f"assumption: {a}")
    lines.append(f"Wrote {out}")
    for line in lines:
        out_console.print(line, soft_wrap=True, markup=False)
