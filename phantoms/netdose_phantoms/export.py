"""Export any :class:`~netdose_phantoms.base.Phantom` as the DICOM a clinic would have.

:func:`export_dicom` writes, into one folder:

=================  ==========================================================================
``CT/``            the CT (``phantom.ct_hu``), CT Image Storage, one file per slice
``PT/`` or ``NM/`` the activity map (``phantom.activity``): PET (BQML, per-slice slope) for a
                   PET nuclide (F-18, Ga-68, Y-90 ...), else quantitative SPECT (one
                   multi-frame NM object, counts + Real World Value Mapping to Bq/mL) for a
                   SPECT nuclide (Tc-99m, Lu-177, I-131, Ho-166 ...)
``NM_<label>/``    one series per time point of a time series (``PT_<label>`` for a PET
                   nuclide), acquired at injection + ``time_h``
``SEG/SEG.dcm``    every named label as a segment of one DICOM SEG, referencing the CT (else
                   the activity series)
``RTSTRUCT/``      (``rtstruct=True``) the same labels as contours
``export.json``    what was assumed: nuclide, radiopharmaceutical, injection date-time and
                   activity (and where each came from), patient weight/height, and per series
                   its folder, number of files, modality, Series Instance UID and acquisition
                   time
=================  ==========================================================================

All series share one Study Instance UID and one Frame of Reference UID (the phantom's images
are in one patient coordinate system). Everything is deterministic (same phantom and options,
same bytes) and written into a temporary folder renamed at the end, so a failed export leaves
nothing behind. The writers are those of :mod:`netdose.io.dicom_write`.

Defaults, all recorded in ``export.json``: injection 2025-01-10 09:00; patient 70 kg, 1.70 m
(phantoms have no patient; SUV needs a weight); acquisition of a single activity map
``truth["time_h"]`` (else 1 h) after the injection; injected activity from the truth
(``injected_bq``, ``injected_mbq``, ...), else the activity in the image decay-corrected back
to the injection (a lower bound for a real patient: the field of view holds only part of it).
"""

from __future__ import annotations

import datetime
import json
import math
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from netdose.errors import InputError, NetdoseWarning
from netdose.image import Image
from netdose.io.atomic import atomic_write_text
from netdose.io.dicom_write import (
    PET_RADIONUCLIDES,
    SPECT_PROTOCOLS,
    StudyInfo,
    staged_folder,
    write_ct_series,
    write_nm_series,
    write_pt_series,
    write_rtstruct,
    write_seg,
)
from netdose.nuclides import get_nuclide, normalise_name
from netdose.units import BQ_PER_GBQ, BQ_PER_MBQ, S_PER_H
from netdose_phantoms.base import Phantom

__all__ = [
    "DEFAULT_ACQUISITION_DELAY_H",
    "DEFAULT_INJECTION_DATETIME",
    "DEFAULT_PATIENT_HEIGHT_M",
    "DEFAULT_PATIENT_WEIGHT_KG",
    "DEFAULT_RADIOPHARMACEUTICALS",
    "export_dicom",
]

#: Injection date-time of an export (fixed, so exports are deterministic).
DEFAULT_INJECTION_DATETIME: datetime.datetime = datetime.datetime(2025, 1, 10, 9, 0, 0)
#: Patient weight and height written for phantoms (ICRP Publication 89 reference adult male
#: is 73 kg / 1.76 m; 70 kg / 1.70 m is the customary round "standard patient").
DEFAULT_PATIENT_WEIGHT_KG: float = 70.0
DEFAULT_PATIENT_HEIGHT_M: float = 1.70
#: Injection-to-scan time of a single activity map without ``truth["time_h"]`` (the usual
#: uptake time of a PET or MAA scan).
DEFAULT_ACQUISITION_DELAY_H: float = 1.0
#: Radiopharmaceutical names written when neither the caller nor the truth gives one.
DEFAULT_RADIOPHARMACEUTICALS: Mapping[str, str] = {
    "F-18": "Fludeoxyglucose",
    "Ga-68": "Ga-68 DOTATATE",
    "Y-90": "Y-90 microspheres",
    "Lu-177": "Lu-177 DOTATATE",
    "Tc-99m": "Tc-99m MAA",
    "Ho-166": "Ho-166 microspheres",
    "I-131": "I-131 sodium iodide",
}

#: Truth keys for the injected activity and their factor to Bq (looked up in ``truth`` and
#: ``truth["parameters"]``, in this order).
_INJECTED_KEYS: tuple[tuple[str, float], ...] = (
    ("injected_bq", 1.0),
    ("injected_activity_bq", 1.0),
    ("administered_activity_bq", 1.0),
    ("injected_mbq", BQ_PER_MBQ),
    ("injected_activity_mbq", BQ_PER_MBQ),
    ("administered_activity_mbq", BQ_PER_MBQ),
    ("injected_gbq", BQ_PER_GBQ),
    ("injected_activity_gbq", BQ_PER_GBQ),
    ("administered_activity_gbq", BQ_PER_GBQ),
)


def _truth_value(truth: Mapping[str, Any], *keys: str) -> tuple[Any, str] | None:
    for scope, where in ((truth, "truth"), (truth.get("parameters") or {}, "truth.parameters")):
        if not isinstance(scope, Mapping):
            continue
        for key in keys:
            if scope.get(key) is not None:
                return scope[key], f"{where}[{key!r}]"
    return None


def _folder_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "series"


def _warn(message: str) -> None:
    warnings.warn(message, NetdoseWarning, stacklevel=3)


def export_dicom(
    phantom: Phantom,
    folder: str | Path,
    *,
    nuclide: str | None = None,
    radiopharmaceutical: str | None = None,
    injection_datetime: datetime.datetime = DEFAULT_INJECTION_DATETIME,
    injected_bq: float | None = None,
    acquisition_delay_h: float | None = None,
    patient_weight_kg: float = DEFAULT_PATIENT_WEIGHT_KG,
    patient_height_m: float | None = DEFAULT_PATIENT_HEIGHT_M,
    calibration_cps_per_mbq: float | None = None,
    study: StudyInfo | None = None,
    rtstruct: bool = False,
    uid_seed: str | None = None,
    overwrite: bool = False,
) -> dict[str, list[Path]]:
    """Write a phantom as DICOM: CT, activity (PT or NM), one series per time point, SEG.

    Parameters
    ----------
    phantom : Phantom
    folder : path-like
        Output folder (created; must not exist or be empty unless ``overwrite``). Written
        atomically: on failure nothing is left.
    nuclide : str, optional
        Default ``phantom.truth["nuclide"]``; required when the truth has none and the
        phantom has activity or time points.
    radiopharmaceutical : str, optional
        Default ``truth["radiopharmaceutical"]``, else :data:`DEFAULT_RADIOPHARMACEUTICALS`.
    injection_datetime : datetime.datetime
        Default :data:`DEFAULT_INJECTION_DATETIME`; also the study date and time.
    injected_bq : float, optional
        Default from the truth (``injected_bq``, ``injected_mbq``, ``injected_gbq``, ...),
        else the total activity of the (first) activity image decay-corrected to the
        injection (a warning says so).
    acquisition_delay_h : float, optional
        Injection to scan of ``phantom.activity``; default ``truth["time_h"]``, else
        :data:`DEFAULT_ACQUISITION_DELAY_H`. Time points use their own ``time_h``.
    patient_weight_kg, patient_height_m : float
        Written to every series (PET needs the weight for SUV).
    calibration_cps_per_mbq : float, optional
        For SPECT images in counts: the tomographic calibration (adds the Bq/mL mapping).
    study : StudyInfo, optional
        Default: ``PHANTOM^<name>``, ID ``NETDOSE-<name>``, study at the injection.
    rtstruct : bool
        Also write the labels as an RTSTRUCT.
    uid_seed : str, optional
        Default ``"netdose-phantom:<name>"``.
    overwrite : bool
        Replace an existing non-empty ``folder``.

    Returns
    -------
    dict of str -> list of pathlib.Path
        ``"CT"``, ``"PT"``/``"NM"``, ``"NM_<label>"``/``"PT_<label>"``, ``"SEG"``,
        ``"RTSTRUCT"``, ``"manifest"`` (only those written), each with its files.

    Raises
    ------
    InputError
        No nuclide, a nuclide netdose cannot image (e.g. Y-90 SPECT is out of scope: Y-90 is
        written as PET), an activity quantity other than ``activity_bq_ml``/``counts``,
        a PET image in counts, a bad date, weight or activity, a non-empty folder.
    """
    if not isinstance(phantom, Phantom):
        raise InputError(f"phantom must be a netdose_phantoms Phantom; got {type(phantom).__name__}.")
    truth = dict(phantom.truth)
    if not isinstance(injection_datetime, datetime.datetime):
        raise InputError(
            f"injection_datetime must be a datetime.datetime; got {injection_datetime!r}."
        )
    for what, value, unit in (("patient_weight_kg", patient_weight_kg, "kg"),
                              ("patient_height_m", patient_height_m, "m")):
        if value is None and what == "patient_height_m":
            continue
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InputError(f"{what} must be a positive number of {unit}; got {value!r}.")
    emissions: list[tuple[str, str, Image, str, float]] = []  # key, label, image, quantity, h
    if phantom.activity is not None:
        delay = acquisition_delay_h
        delay_source = "argument"
        if delay is None:
            found = _truth_value(truth, "time_h", "acquisition_time_h")
            delay, delay_source = (
                (float(found[0]), found[1]) if found else (DEFAULT_ACQUISITION_DELAY_H, "default")
            )
        if not (isinstance(delay, (int, float)) and math.isfinite(delay) and delay >= 0):
            raise InputError(f"acquisition_delay_h must be >= 0 hours; got {delay!r}.")
        emissions.append(("", "", phantom.activity, phantom.activity_quantity, float(delay)))
    else:
        delay_source = None
    for tp in phantom.time_points:
        if not (math.isfinite(tp.time_h) and tp.time_h >= 0):
            raise InputError(f"time point {tp.label!r} has time_h {tp.time_h!r}; it must be >= 0.")
        emissions.append((tp.label, tp.label, tp.image, tp.quantity, float(tp.time_h)))

    manifest: dict[str, Any] = {
        "phantom": phantom.name,
        "writer": "netdose_phantoms.export.export_dicom",
        "injection_datetime": injection_datetime.isoformat(),
        "patient_weight_kg": patient_weight_kg,
        "patient_height_m": patient_height_m,
        "series": {},
    }
    name: str | None = None
    if emissions:
        if nuclide is None:
            found = _truth_value(truth, "nuclide")
            if found is None:
                raise InputError(
                    f"phantom {phantom.name} has activity but its truth names no nuclide; pass "
                    "nuclide='Lu-177' (or another) to export_dicom."
                )
            nuclide, nuclide_source = str(found[0]), found[1]
        else:
            nuclide_source = "argument"
        name = normalise_name(nuclide)
        get_nuclide(name)
        pet = name in PET_RADIONUCLIDES
        if not pet and name not in SPECT_PROTOCOLS:
            raise InputError(
                f"netdose cannot write images of {name}: PET nuclides are "
                f"{', '.join(PET_RADIONUCLIDES)}; SPECT nuclides are {', '.join(SPECT_PROTOCOLS)}."
            )
        for _key, label, img, quantity, _ in emissions:
            if quantity not in ("activity_bq_ml", "counts"):
                raise InputError(
                    f"phantom {phantom.name}: {label or 'activity'} is in {quantity!r}; DICOM "
                    "export knows 'activity_bq_ml' and 'counts'."
                )
            if pet and quantity != "activity_bq_ml":
                raise InputError(
                    f"phantom {phantom.name}: a PET image must be in activity_bq_ml, not "
                    f"{quantity!r} ({label or 'activity'})."
                )
        if radiopharmaceutical is None:
            found = _truth_value(truth, "radiopharmaceutical")
            radiopharmaceutical, rp_source = (
                (str(found[0]), found[1])
                if found
                else (DEFAULT_RADIOPHARMACEUTICALS.get(name, f"{name} phantom"), "default")
            )
        else:
            rp_source = "argument"
        injected, injected_source = _injected(truth, injected_bq, emissions, name)
        manifest.update(
            nuclide=name,
            nuclide_source=nuclide_source,
            modality="PT" if pet else "NM",
            radiopharmaceutical=radiopharmaceutical,
            radiopharmaceutical_source=rp_source,
            injected_bq=injected,
            injected_bq_source=injected_source,
            acquisition_delay_h=emissions[0][4] if phantom.activity is not None else None,
            acquisition_delay_source=delay_source,
        )
    if study is None:
        study = StudyInfo(
            patient_name=f"PHANTOM^{phantom.name}"[:64],
            patient_id=f"NETDOSE-{phantom.name}"[:64],
            patient_sex="O",
            study_date=injection_datetime.date(),
            study_time=injection_datetime.time().replace(tzinfo=None),
            study_description=f"netdose phantom {phantom.name}"[:64],
        )
    seed = uid_seed if uid_seed is not None else f"netdose-phantom:{phantom.name}"
    manifest.update(study_uid=study.study_uid, frame_of_reference_uid=study.frame_of_reference_uid)

    out = Path(folder)
    written: dict[str, list[Path]] = {}
    with staged_folder(out, overwrite) as tmp:
        first_scan = (
            injection_datetime + datetime.timedelta(hours=min(e[4] for e in emissions))
            if emissions
            else injection_datetime
        )
        if phantom.ct_hu is not None:
            written["CT"] = write_ct_series(
                phantom.ct_hu,
                tmp / "CT",
                study=study,
                series_description=f"{phantom.name} CT"[:64],
                series_number=1,
                acquisition_datetime=first_scan,
                uid_seed=seed,
            )
            manifest["series"]["CT"] = {"acquisition_datetime": first_scan.isoformat()}
        for i, (key, label, img, quantity, time_h) in enumerate(emissions):
            assert name is not None
            acq = injection_datetime + datetime.timedelta(hours=time_h)
            modality = "PT" if name in PET_RADIONUCLIDES else "NM"
            series_key = modality if not key else f"{modality}_{_folder_name(key)}"
            what = "PET" if modality == "PT" else "SPECT"
            description = f"{phantom.name} {name} {what}" + (
                f" {label} {time_h:g} h p.i." if label else ""
            )
            number = 2 if not key else 10 + i
            if modality == "PT":
                files = write_pt_series(
                    img,
                    tmp / series_key,
                    study=study,
                    radiopharmaceutical=str(radiopharmaceutical),
                    nuclide=name,
                    injected_bq=manifest["injected_bq"],
                    injection_datetime=injection_datetime,
                    acquisition_datetime=acq,
                    patient_weight_kg=patient_weight_kg,
                    patient_height_m=patient_height_m,
                    series_description=description[:64],
                    series_number=number,
                    uid_seed=seed,
                )
            else:
                files = write_nm_series(
                    img,
                    tmp / series_key,
                    study=study,
                    nuclide=name,
                    quantity=quantity,  # type: ignore[arg-type]
                    acquisition_datetime=acq,
                    injection_datetime=injection_datetime,
                    injected_bq=manifest["injected_bq"],
                    radiopharmaceutical=str(radiopharmaceutical),
                    calibration_cps_per_mbq=calibration_cps_per_mbq if quantity == "counts" else None,
                    patient_weight_kg=patient_weight_kg,
                    patient_height_m=patient_height_m,
                    series_description=description[:64],
                    series_number=number,
                    uid_seed=seed,
                )
            written[series_key] = files
            manifest["series"][series_key] = {
                "label": label or None,
                "time_h": time_h,
                "acquisition_datetime": acq.isoformat(),
                "quantity": quantity,
            }
        masks = {}
        for mask_name, mask in phantom.masks().items():
            if mask.array.any():
                masks[mask_name] = mask
            else:
                _warn(f"phantom {phantom.name}: label {mask_name!r} has no voxels; not in the SEG.")
        if masks:
            reference = written.get("CT")
            if reference is None and phantom.activity is not None:
                reference = written.get("PT") or written.get("NM")
            written["SEG"] = [
                write_seg(
                    masks,
                    tmp / "SEG" / "SEG.dcm",
                    reference_series=reference,
                    study=study,
                    series_description=f"{phantom.name} labels"[:64],
                    algorithm_name="netdose_phantoms",
                    uid_seed=seed,
                )
            ]
            if rtstruct:
                written["RTSTRUCT"] = [
                    write_rtstruct(
                        masks,
                        tmp / "RTSTRUCT" / "RTSTRUCT.dcm",
                        reference_series=reference,
                        study=study,
                        series_description=f"{phantom.name} labels"[:64],
                        uid_seed=seed,
                    )
                ]
        for key, paths in written.items():
            head = pydicom.dcmread(paths[0], stop_before_pixels=True)
            manifest["series"].setdefault(key, {}).update(
                folder=str(paths[0].parent.relative_to(tmp)),
                n_files=len(paths),
                modality=str(head.Modality),
                series_instance_uid=str(head.SeriesInstanceUID),
            )
        written["manifest"] = [
            atomic_write_text(tmp / "export.json", json.dumps(manifest, indent=2, sort_keys=True))
        ]
        staged = tmp
    return {k: [out / p.relative_to(staged) for p in v] for k, v in written.items()}


def _injected(
    truth: Mapping[str, Any],
    injected_bq: float | None,
    emissions: list[tuple[str, str, Image, str, float]],
    nuclide: str,
) -> tuple[float, str]:
    """The injected activity (Bq) and where it came from."""
    if injected_bq is not None:
        value = float(injected_bq)
        source = "argument"
    else:
        found = None
        for key, factor in _INJECTED_KEYS:
            hit = _truth_value(truth, key)
            if hit is not None:
                found = (float(hit[0]) * factor, hit[1])
                break
        if found is not None:
            value, source = found
        else:
            usable = [e for e in emissions if e[3] == "activity_bq_ml"]
            if not usable:
                raise InputError(
                    "the phantom's truth gives no injected activity and its images are counts; "
                    "pass injected_bq=..."
                )
            _, label, img, _, time_h = usable[0]
            total_bq = float(np.sum(img.array, dtype=np.float64)) * img.voxel_volume_ml
            decay = float(get_nuclide(nuclide).decay_factor(time_h * S_PER_H))
            value = total_bq / decay
            source = (
                f"total activity of {label or 'the activity image'} decay-corrected to the "
                "injection (no injected activity in the truth)"
            )
            _warn(
                f"export_dicom: no injected activity given or in the truth; writing "
                f"{value:.4g} Bq, the {source}."
            )
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"the injected activity must be > 0 Bq; got {value!r}.")
    return value, source
