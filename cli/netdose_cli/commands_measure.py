"""PET lesion measurement commands: ``netdose response measure`` (lesion metrics into a case
file) and ``netdose prrt eligibility`` (Krenning-type score, SSTR/FDG mismatch, NETPET)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from netdose.errors import InputError
from netdose_cli._app import JsonOpt, emit_json, out_console, run
from netdose_cli.commands_prrt import prrt_app
from netdose_cli.commands_response import response_app

_UNITS = {"bw": "SUVbw", "lbm-janma": "SUL", "lbm-james": "SUL", "bsa": "SUVbsa",
          "ibw": "SUVibw"}


def _suv_image(pet: Path, unit: str | None, normalisation: str, weight_kg: float | None,
               height_cm: float | None, sex: str | None, prov: Any) -> tuple[Any, str,
                                                                                   dict[str, Any]]:
    """The PET as an SUV-type image: from DICOM (SUV computed, normalised) or from a volume
    file whose unit the user states."""
    from netdose.io import read_image

    prov.add_input(pet, "pet")
    if pet.is_dir() or pet.suffix.lower() in ("", ".dcm"):
        from netdose.response.suv import suv_from_dicom

        res = suv_from_dicom(pet, weight_kg_override=weight_kg, height_cm_override=height_cm,
                             sex_override=sex)
        img = res.suv_bw if normalisation == "bw" else res.normalised(
            normalisation, height_cm=height_cm, sex=sex)
        return img, _UNITS[normalisation], res.as_dict()
    if unit is None:
        raise InputError(f"{pet}: a volume file does not say what its voxels are; give --unit "
                         "(SUVbw, SUL, SUVbsa, SUVibw), or give the DICOM PET folder so netdose "
                         "computes the SUV.")
    img = read_image(pet)
    return img, unit, {"source": "volume file in " + unit + " (as stated by --unit)"}


def _masks(masks: Path, labels: str | None, grid: Any) -> Any:
    from netdose.io.runfiles import MaskFile, load_mask_files

    names: Path | str | None = None
    if labels is not None:
        names = "totalsegmentator" if labels.lower() == "totalsegmentator" else Path(labels)
    return load_mask_files([MaskFile(masks, names)], grid)


def _report(pet: Path, masks: Path, labels: str | None, lesions: list[str] | None,
            liver: str | None, spleen: str | None, unit: str | None,
            normalisation: str, weight_kg: float | None, height_cm: float | None,
            sex: str | None, prov: Any) -> tuple[Any, dict[str, Any]]:
    from netdose.response.lesions import measure_lesions

    img, u, facts = _suv_image(pet, unit, normalisation, weight_kg, height_cm, sex, prov)
    prov.add_input(masks, "masks")
    ms = _masks(masks, labels, img)
    refs = {n for n in (liver, spleen) if n}
    chosen = lesions if lesions else [n for n in ms.names if n not in refs]
    report = measure_lesions(img, {n: ms[n] for n in chosen}, unit=u,
                             liver_mask=ms[liver] if liver else None,
                             spleen_mask=ms[spleen] if spleen else None)
    return report, facts


_Masks = Annotated[Path, typer.Option("--masks", help="Segmentation (labels, .seg.nrrd, SEG, "
                                      "RTSTRUCT) with the lesion, liver and spleen masks.")]
_Labels = Annotated[str | None, typer.Option(
    "--labels", help="For label maps: JSON file of value -> name, or 'totalsegmentator'.")]
_Lesion = Annotated[list[str] | None, typer.Option(
    "--lesion", help="Lesion mask name (repeatable); default every mask except liver/spleen.")]
_Liver = Annotated[str | None, typer.Option("--liver", help="Liver mask name (reference).")]
_Spleen = Annotated[str | None, typer.Option("--spleen", help="Spleen mask name (reference).")]
_Unit = Annotated[str | None, typer.Option(
    "--unit", help="Voxel unit of a volume-file PET: SUVbw, SUL, SUVbsa or SUVibw.")]
_Norm = Annotated[str, typer.Option(
    "--normalisation", help="For DICOM PET: bw, lbm-janma (SUL), lbm-james, bsa, ibw.")]
_Weight = Annotated[float | None, typer.Option("--weight-kg", help="Override PatientWeight.")]
_Height = Annotated[float | None, typer.Option("--height-cm", help="Override PatientSize.")]
_Sex = Annotated[str | None, typer.Option("--sex", help="Override PatientSex (F/M).")]


@response_app.command("measure")
def measure_cmd(
    pet: Annotated[Path, typer.Argument(help="PET: DICOM folder, or a volume file in SUV units.")],
    masks: _Masks,
    out: Annotated[Path, typer.Option("-o", "--out", help="Measurements JSON, or the updated "
                                      "case file with --case.")],
    labels: _Labels = None,
    lesion: _Lesion = None,
    liver: _Liver = None,
    spleen: _Spleen = None,
    unit: _Unit = None,
    normalisation: _Norm = "lbm-janma",
    weight_kg: _Weight = None,
    height_cm: _Height = None,
    sex: _Sex = None,
    case: Annotated[Path | None, typer.Option(
        "--case", help="Case file (JSON) to put the PET measurements into.")] = None,
    timepoint: Annotated[str | None, typer.Option(
        "--timepoint", help="Label of the case time point to fill (with --case).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Lesion SUVmax/SUVmean/SULpeak, volume, total lesion SSTR expression, liver/spleen
    references, tumour-to-liver/spleen ratios and Krenning-type score; optionally written into
    a case file's time point (``pet`` block) for ``netdose response assess``."""
    from netdose.io.atomic import atomic_write_text
    from netdose.io.runfiles import dump_json

    if (case is None) != (timepoint is None):
        raise InputError("--case and --timepoint go together: the case file and the label of "
                         "the time point whose PET block to fill.")
    with run("response measure", pet=pet, masks=masks, out=out, case=case,
             timepoint=timepoint, normalisation=normalisation, unit=unit) as prov:
        report, facts = _report(pet, masks, labels, lesion, liver, spleen, unit, normalisation,
                                weight_kg, height_cm, sex, prov)
        result = {"measurements": report.to_dict(), "suv": facts}
        if case is not None:
            prov.add_input(case, "case")
            if report.unit != "SUL":
                raise InputError(f"--case: PERCIST works on SUL; this PET is {report.unit}. Use "
                                 "--normalisation lbm-janma (or lbm-james), or a SUL volume.")
            try:
                data = json.loads(case.read_text(encoding="utf-8"))
                tp = next(t for t in data["timepoints"] if t.get("label") == timepoint)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{case}: not a readable case file ({exc!r}).") from None
            except StopIteration:
                raise InputError(f"{case}: no time point labelled {timepoint!r}.") from None
            pet_block = tp.setdefault("pet", {})
            if report.liver is None:
                raise InputError("--case needs the liver reference (--liver) for PERCIST.")
            pet_block["liver_sul_mean"] = report.liver.mean
            pet_block["liver_sul_sd"] = report.liver.sd
            if report.spleen is not None:
                pet_block["spleen_sul_mean"] = report.spleen.mean
            pet_block["lesions"] = [{"id": m.id, "sul_peak": m.suv_peak,
                                     "suv_max": m.suv_max} for m in report.lesions]
            pet_block.setdefault("new_lesions", [])
            atomic_write_text(out, dump_json(data))
        else:
            atomic_write_text(out, dump_json({**result, "provenance": prov.to_dict()}))
        prov.outputs.append(str(out))
    if as_json:
        emit_json(result)
        return
    for m in report.lesions:
        score = m.krenning_score if m.krenning_score is not None else m.krenning_score_range
        out_console.print(f"{m.id:16s} max {m.suv_max:7.2f} peak {m.suv_peak:7.2f} "
                          f"{report.unit}  {m.volume_ml:8.1f} mL  Krenning {score}", markup=False)
    out_console.print(f"wrote {out}", markup=False)


@prrt_app.command("eligibility")
def eligibility_cmd(
    sstr: Annotated[Path, typer.Argument(help="SSTR PET (Ga-68 DOTATATE/-TOC): DICOM folder or "
                                         "SUV volume.")],
    masks: _Masks,
    labels: _Labels = None,
    lesion: _Lesion = None,
    liver: _Liver = None,
    spleen: _Spleen = None,
    unit: _Unit = None,
    fdg: Annotated[Path | None, typer.Option("--fdg", help="FDG PET (optional).")] = None,
    fdg_masks: Annotated[Path | None, typer.Option(
        "--fdg-masks", help="Masks on the FDG PET (same lesion names).")] = None,
    fdg_unit: Annotated[str | None, typer.Option("--fdg-unit", help="As --unit.")] = None,
    threshold: Annotated[str, typer.Option(
        "--threshold", help="Krenning-type score needed for PRRT, e.g. '> 2' or '>= 3'.")] = "> 2",
    weight_kg: _Weight = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Verdict JSON.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """PRRT eligibility: per-lesion Krenning-type score against liver and spleen, SSTR/FDG
    mismatch lesions, NETPET grade, and a verdict (eligible / not eligible / review) with
    reasons."""
    from netdose.io.atomic import atomic_write_text
    from netdose.io.runfiles import dump_json
    from netdose.prrt.eligibility import assess_eligibility

    if (fdg is None) != (fdg_masks is None):
        raise InputError("--fdg and --fdg-masks go together.")
    with run("prrt eligibility", sstr=sstr, masks=masks, fdg=fdg, threshold=threshold) as prov:
        s_rep, _ = _report(sstr, masks, labels, lesion, liver, spleen, unit, "bw", weight_kg,
                           None, None, prov)
        f_rep = None
        if fdg is not None and fdg_masks is not None:
            f_rep, _ = _report(fdg, fdg_masks, labels, lesion, liver, spleen, fdg_unit, "bw",
                               None, None, None, prov)
        verdict = assess_eligibility(s_rep, f_rep, threshold=threshold)
        result = {"verdict": verdict.to_dict(), "sstr": s_rep.to_dict(),
                  "fdg": None if f_rep is None else f_rep.to_dict()}
        if out is not None:
            atomic_write_text(out, dump_json({**result, "provenance": prov.to_dict()}))
    if as_json:
        emit_json(result)
        return
    out_console.print(f"PRRT eligibility: {verdict.verdict.upper()}", markup=False)
    for r in verdict.reasons:
        out_console.print(f"  - {r}", markup=False, soft_wrap=True)
