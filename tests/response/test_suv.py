"""SUV from DICOM PET (netdose.response.suv).

- Acceptance: the 17 OncoRay/IBSI SUV digital reference objects (tests/data/oncoray-suv-dro)
  must give SUVbw min/median/max 0.20/1.00/4.00 inside their masks within 0.005 (DRO_2_3,
  whose integer storage quantises SUVbsa to 0.01 cm2/mL = 0.038 SUVbw, within 0.03), each with
  exactly the expected warnings.
- The table of bad inputs, built by editing copies of DRO files with pydicom.
- The time logic (reference time, injection time, time zones) on edited header facts.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netdose.errors import InputError, NetdoseWarning
from netdose.io.dicom import read_dicom_image
from netdose.io.masks import load_masks
from netdose.response.suv import (
    SuvFactor,
    SuvResult,
    frame_mean_decay,
    frame_mean_time_s,
    suv_factor,
    suv_from_dicom,
)

LN2 = math.log(2.0)
F18_HALF_LIFE_S = 6586.2  # as in the DRO headers (ICRP-107: 109.77 min)

# ---------------------------------------------------------------------- DRO acceptance
#: What each DRO tests (DRO_list.csv) and the warnings netdose must give (regexes; each must
#: match exactly one warning, and there must be no other warning).
DRO_TABLE: dict[str, tuple[str, list[str]]] = {
    "DRO_0_0": ("BQML, DecayCorrection START", []),
    "DRO_1_0": ("several RescaleSlope values", []),
    "DRO_2_0": ("GML = SUVbw; slope 0.1 quantises SUV to 0.1", [r"coarse storage.*10\.0 %"]),
    "DRO_2_1": ("GML = SUVlbm James-128, male", []),
    "DRO_2_2": ("GML = SUVibw, PatientSex O",
                [r"PatientSex \(0010,0040\) is 'O'.*mean of the male"]),
    "DRO_2_3": ("CM2ML = SUVbsa, slope 0.01", [r"coarse storage.*3\.8 %"]),
    "DRO_2_4": ("CNTS, Philips SUV factor", []),
    "DRO_2_5": ("CNTS, Philips activity factor", []),
    "DRO_3_0": ("dose stored in MBq", [r"RadionuclideTotalDose \(0018,1074\) = 368\.08.*MBq"]),
    "DRO_3_1": ("DecayCorrection ADMIN", []),
    "DRO_3_2": ("SeriesTime after AcquisitionTime",
                [r"SeriesTime .*11:30:00 is after the earliest acquisition.*back-computed"]),
    "DRO_3_3": ("GE private scan date-time", []),
    "DRO_3_4": ("DecayCorrection NONE, two beds", []),
    "DRO_4_0": ("only RadiopharmaceuticalStartDateTime", []),
    "DRO_4_1": ("only RadiopharmaceuticalStartTime", []),
    "DRO_4_2": ("injection before midnight, scan after", [r"midnight crossing"]),
    "DRO_5_0": ("Ga-68", []),
}
#: DRO_2_3 stores SUVbsa as integers x 0.01 cm2/mL; one step is 0.0379 SUVbw.
DRO_TOLERANCE = {"DRO_2_3": 0.03}
DEFAULT_TOLERANCE = 0.005


@dataclasses.dataclass
class DroRun:
    result: SuvResult
    warnings: list[str]
    mask: np.ndarray


@pytest.fixture(scope="module")
def dro_runs(dro_root: Path) -> Callable[[str], DroRun]:
    """SUV of each DRO, computed once per module (with the warnings it raised)."""
    cache: dict[str, DroRun] = {}

    def get(dro: str) -> DroRun:
        if dro not in cache:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = suv_from_dicom(dro_root / dro / "PT")
            masks = load_masks(dro_root / dro / "mask" / "DRO_mask.nii.gz", res.suv_bw,
                               names={1: "dro"})
            cache[dro] = DroRun(
                res,
                [str(w.message) for w in caught if issubclass(w.category, NetdoseWarning)],
                np.asarray(masks["dro"].mask.array, dtype=bool),
            )
        return cache[dro]

    return get


def _expected_stats(dro_root: Path) -> dict[str, tuple[float, float, float]]:
    with open(dro_root / "DRO_list.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {
        r["ID"]: (float(r["SUVmin_expected"]), float(r["SUVmed_expected"]),
                  float(r["SUVmax_expected"]))
        for r in rows
    }


def test_dro_list_is_the_table(dro_root: Path) -> None:
    expected = _expected_stats(dro_root)
    assert sorted(expected) == sorted(DRO_TABLE)
    assert set(expected.values()) == {(0.20, 1.00, 4.00)}


@pytest.mark.parametrize("dro", sorted(DRO_TABLE))
def test_dro_suv_statistics_and_warnings(dro_root: Path, dro_runs, dro: str) -> None:
    run = dro_runs(dro)
    suv = run.result.suv_bw
    assert suv.array.dtype == np.float32
    assert suv.meta["units"] == "GML" and suv.meta["suv_type"] == "BW"
    values = suv.array[run.mask]
    assert values.size > 1000
    got = (float(values.min()), float(np.median(values)), float(values.max()))
    want = _expected_stats(dro_root)[dro]
    tol = DRO_TOLERANCE.get(dro, DEFAULT_TOLERANCE)
    for g, w, name in zip(got, want, ("min", "median", "max")):
        assert abs(g - w) <= tol, f"{dro} ({DRO_TABLE[dro][0]}): SUV {name} {g:.4f} vs {w}"
    patterns = DRO_TABLE[dro][1]
    for pattern in patterns:
        hits = [m for m in run.warnings if re.search(pattern, m)]
        assert len(hits) == 1, (pattern, run.warnings)
    assert len(run.warnings) == len(patterns), run.warnings
    assert sorted(run.result.warnings) == sorted(run.warnings)
    json.dumps(run.result.as_dict())  # the record is JSON-ready


def test_dro_0_0_factor_by_hand(dro_runs) -> None:
    f = dro_runs("DRO_0_0").result.factor
    # 368.08 MBq at 10:00, scan (SeriesTime) 11:00, T1/2 6586.2 s, 70 kg:
    # SUV factor = 70000 g / (368.08e6 Bq * 2^(-3600/6586.2))
    decay = 0.5 ** (3600.0 / F18_HALF_LIFE_S)
    assert f.decay_factor == pytest.approx(decay, rel=1e-12)
    assert f.factor == pytest.approx(70_000.0 / (368.08e6 * decay), rel=1e-12)
    assert f.uniform and f.units == "BQML" and f.decay_correction == "START"
    assert f.reference_datetime == "2025-01-01T11:00:00"
    assert f.injection_datetime == "2025-01-01T10:00:00"
    assert f.uptake_time_s == 3600.0
    assert f.weight_kg == 70.0 and f.weight_source.startswith("PatientWeight (0010,1030)")
    assert f.half_life_source.startswith("RadionuclideHalfLife (0018,1075)")
    assert f.nuclide == "F-18"
    assert f.injected_dose_unit.startswith("Bq")
    assert any("same local time" in a for a in f.assumptions)


DRO_FACTS: dict[str, Callable[[SuvFactor], bool]] = {
    "DRO_1_0": lambda f: f.uniform,  # one SUV factor; the slopes were applied when reading
    "DRO_2_0": lambda f: f.factor == 1.0 and f.suv_type_stored == "BW",
    "DRO_2_1": lambda f: f.suv_type_stored == "LBMJAMES128"
    and f.factor == pytest.approx(70.0 / (1.10 * 70 - 128 * (70 / 175) ** 2)),
    "DRO_2_2": lambda f: f.factor == pytest.approx(70.0 / ((72.38 + 66.43) / 2)),
    "DRO_2_3": lambda f: f.suv_type_stored == "BSA" and f.reference_datetime is None,
    "DRO_2_4": lambda f: f.factor == 0.0005 and "7053,xx00" in f.vendor_factor,
    "DRO_2_5": lambda f: "7053,xx09" in f.vendor_factor
    and f.factor == pytest.approx(0.5 * 70_000 / (368.08e6 * 0.5 ** (3600 / F18_HALF_LIFE_S))),
    "DRO_3_0": lambda f: f.injected_dose_bq == pytest.approx(368.08e6)
    and f.injected_dose_stored == 368.08 and f.injected_dose_unit.startswith("MBq"),
    "DRO_3_1": lambda f: f.decay_factor == 1.0 and f.reference_datetime == "2025-01-01T10:00:00"
    and f.factor == pytest.approx(70_000 / 368.08e6),
    "DRO_3_2": lambda f: f.reference_time_source.startswith("back-computed")
    and abs((dt.datetime.fromisoformat(f.reference_datetime)
             - dt.datetime(2025, 1, 1, 11)).total_seconds()) < 1.0,
    "DRO_3_3": lambda f: f.reference_datetime == "2025-01-01T11:00:00",
    "DRO_3_4": lambda f: not f.uniform and len(set(f.slice_decay_factors)) == 2
    and f.slice_decay_factors[0] == pytest.approx(
        0.5 ** (3600 / F18_HALF_LIFE_S) * frame_mean_decay(F18_HALF_LIFE_S, 603.0)),
    "DRO_4_0": lambda f: f.injection_time_source.startswith("RadiopharmaceuticalStartDateTime"),
    "DRO_4_1": lambda f: f.injection_time_source.startswith("RadiopharmaceuticalStartTime")
    and any("injection date taken from SeriesDate" in a for a in f.assumptions),
    "DRO_4_2": lambda f: f.injection_datetime == "2025-01-01T23:30:00"
    and f.uptake_time_s == 3600.0,
    "DRO_5_0": lambda f: f.nuclide == "Ga-68" and f.half_life_s == 4057.7,
}


@pytest.mark.parametrize("dro", sorted(DRO_FACTS))
def test_dro_recorded_facts(dro_runs, dro: str) -> None:
    assert DRO_FACTS[dro](dro_runs(dro).result.factor)


def _stored(dro_root: Path, dro: str) -> np.ndarray:
    """The DRO's values as stored (rescaled, no SUV conversion)."""
    return np.asarray(read_dicom_image(dro_root / dro / "PT").array, dtype=np.float64)


@pytest.mark.parametrize(("dro", "kind", "sex", "step"), [
    ("DRO_2_0", "bw", None, 0.1),
    ("DRO_2_1", "lbm-james", "M", 0.001),
    ("DRO_2_3", "bsa", None, 0.01),
])
def test_normalisations_reproduce_the_dro_generator(dro_root, dro_runs, dro, kind, sex, step):
    # DRO_2_0, DRO_2_1 and DRO_2_3 store the SUVbw of DRO_0_0 normalised to SUVbw, to
    # SUVlbm(James128) of a 70 kg, 175 cm man and to SUVbsa, truncated to their RescaleSlope
    # step. netdose's normalisation of DRO_0_0's SUVbw (computed from Bq/mL) must give the
    # stored values within one step: an independent check of the formulas.
    ref = dro_runs("DRO_0_0")
    image = ref.result.normalised(kind, sex=sex)
    stored = _stored(dro_root, dro)
    m = ref.mask
    diff = np.asarray(image.array, dtype=np.float64)[m] - stored[m]
    assert np.all(diff >= -1e-5) and np.all(diff < step + 1e-5), (diff.min(), diff.max())
    assert image.meta["suv_unit"] == {"bw": "g/ml{SUVbw}", "lbm-james": "g/ml{SUVlbm(James128)}",
                                      "bsa": "cm2/ml{SUVbsa}"}[kind]


def test_dro_ibw_for_sex_other_needs_the_sex(dro_runs) -> None:
    res = dro_runs("DRO_2_2").result
    with pytest.raises(InputError, match=r"PatientSex \(0010,0040\).*'O'.*'F' or 'M'"):
        res.normalised("ibw")
    ibw_m = res.normalised("ibw", sex="M")
    assert ibw_m.meta["body_size"]["value"] == pytest.approx(72.38)


def test_dro_sul_of_the_default_dro(dro_runs) -> None:
    res = dro_runs("DRO_0_0").result
    sul = res.normalised("lbm-janma", sex="F", height_cm=170.0)
    m = dro_runs("DRO_0_0").mask
    # 70 kg, 170 cm woman: SUL = SUVbw * 44.1728 / 70
    assert float(np.median(sul.array[m])) == pytest.approx(44.1728 / 70.0, abs=1e-4)
    assert sul.meta["suv_type"] == "LBMJANMA" and sul.meta["units"] == "GML"
    assert sul.same_grid(res.suv_bw)


# ---------------------------------------------------------------------- bad input files
def _edit_copy(src: Path, dst: Path, edit: Callable[[pydicom.Dataset], None], n: int = 2) -> Path:
    """Copy the first n slices of a DRO's PT folder, editing each with ``edit``."""
    dst.mkdir(parents=True)
    for f in sorted(src.glob("*.dcm"))[:n]:
        ds = pydicom.dcmread(f)
        edit(ds)
        ds.save_as(dst / f.name, enforce_file_format=True)
    return dst


def _rp(ds: pydicom.Dataset) -> pydicom.Dataset:
    return ds.RadiopharmaceuticalInformationSequence[0]


def _set(**values: Any) -> Callable[[pydicom.Dataset], None]:
    def edit(ds: pydicom.Dataset) -> None:
        for k, v in values.items():
            setattr(ds, k, v)
    return edit


def _del(*keywords: str, rp: bool = False) -> Callable[[pydicom.Dataset], None]:
    def edit(ds: pydicom.Dataset) -> None:
        target = _rp(ds) if rp else ds
        for k in keywords:
            delattr(target, k)
    return edit


def _rp_set(**values: Any) -> Callable[[pydicom.Dataset], None]:
    def edit(ds: pydicom.Dataset) -> None:
        for k, v in values.items():
            setattr(_rp(ds), k, v)
    return edit


def _chain(*edits: Callable[[pydicom.Dataset], None]) -> Callable[[pydicom.Dataset], None]:
    def edit(ds: pydicom.Dataset) -> None:
        for e in edits:
            e(ds)
    return edit


BAD_FILES: list[tuple[str, str, Callable[[pydicom.Dataset], None], str]] = [
    ("missing weight", "DRO_0_0", _del("PatientWeight"),
     r"PatientWeight \(0010,1030\) is missing.*--weight-kg"),
    ("zero weight", "DRO_0_0", _set(PatientWeight="0"),
     r"PatientWeight \(0010,1030\) is 0\.0.*never assumes"),
    ("weight in grams", "DRO_0_0", _set(PatientWeight="70000"),
     r"PatientWeight \(0010,1030\) = 70000 kg .*grams"),
    ("missing dose", "DRO_0_0", _del("RadionuclideTotalDose", rp=True),
     r"RadionuclideTotalDose \(0018,1074\) is missing.*--injected-mbq"),
    ("zero dose", "DRO_0_0", _rp_set(RadionuclideTotalDose="0"),
     r"RadionuclideTotalDose \(0018,1074\) is 0\.0"),
    ("dose neither Bq nor MBq", "DRO_0_0", _rp_set(RadionuclideTotalDose="50000"),
     r"RadionuclideTotalDose \(0018,1074\) = 50000 Bq is outside the plausible range"),
    ("no injection time", "DRO_0_0",
     _del("RadiopharmaceuticalStartTime", "RadiopharmaceuticalStartDateTime", rp=True),
     (r"no injection time: RadiopharmaceuticalStartDateTime \(0018,1078\) and "
      r"RadiopharmaceuticalStartTime \(0018,1072\)")),
    ("CNTS without a Philips factor", "DRO_0_0", _set(Units="CNTS"),
     r"Units \(0054,1001\) is CNTS.*\(7053,xx00\).*\(7053,xx09\)"),
    ("not attenuation-corrected", "DRO_0_0",
     _set(CorrectedImage=["NORM", "DTIM", "SCAT", "DECY", "RAN"]),
     r"not attenuation-corrected \(CorrectedImage \(0028,0051\).*no ATTN"),
    ("no CorrectedImage", "DRO_0_0", _del("CorrectedImage"),
     r"CorrectedImage \(0028,0051\) is missing"),
    ("DecayCorrection START without DECY", "DRO_0_0",
     _set(CorrectedImage=["NORM", "DTIM", "ATTN", "SCAT", "RAN"]),
     r"DecayCorrection \(0054,1102\) = START but CorrectedImage.*no DECY"),
    ("DecayCorrection NONE with DECY", "DRO_0_0", _set(DecayCorrection="NONE"),
     r"DecayCorrection \(0054,1102\) = NONE but CorrectedImage.*lists DECY"),
    ("no DecayCorrection", "DRO_0_0", _del("DecayCorrection"),
     r"DecayCorrection \(0054,1102\) is missing; it must be START"),
    ("injection date-time after the scan", "DRO_0_0",
     _rp_set(RadiopharmaceuticalStartDateTime="20250101113000"),
     (r"injection \(RadiopharmaceuticalStartDateTime \(0018,1078\) 2025-01-01T11:30:00\) is "
      r"after the scan")),
    ("injection after the scan even allowing for midnight", "DRO_4_1",
     _rp_set(RadiopharmaceuticalStartTime="113000"),
     (r"RadiopharmaceuticalStartTime \(0018,1072\) 11:30:00\) is after the scan.*even "
      r"allowing for a midnight crossing.*23\.500 h")),
    ("uptake longer than 10 half-lives", "DRO_0_0",
     _rp_set(RadiopharmaceuticalStartDateTime="20241231100000"),
     (r"implausible uptake time 25\.000 h .*RadiopharmaceuticalStartDateTime \(0018,1078\)"
      r".*10 half-lives")),
    ("uptake implausible for Ga-68", "DRO_5_0",
     _rp_set(RadiopharmaceuticalStartDateTime="20241231230000"),
     r"implausible uptake time 12\.000 h .*11\.271 h"),
    ("no half-life and no nuclide", "DRO_0_0",
     _chain(_del("RadionuclideHalfLife", "RadionuclideCodeSequence", rp=True)),
     r"RadionuclideHalfLife \(0018,1075\) is missing and RadionuclideCodeSequence \(0054,0300\)"),
    ("unknown Units", "DRO_0_0", _set(Units="PROPCPS"), r"Units \(0054,1001\) is 'PROPCPS'"),
    ("GML LBM without height", "DRO_2_1", _del("PatientSize"),
     r"SUV of type LBMJAMES128.*PatientSize \(0010,1020\) is missing.*--height-cm"),
    ("GML with BSA", "DRO_2_0", _set(SUVType="BSA"), r"SUVType \(0054,1006\) 'BSA'.*CM2ML"),
    ("CM2ML without weight", "DRO_2_3", _del("PatientWeight"),
     r"SUVbsa.*PatientWeight \(0010,1030\) is missing"),
    ("NONE without frame duration", "DRO_3_4", _del("ActualFrameDuration"),
     r"DecayCorrection NONE needs the duration of every frame \(ActualFrameDuration \(0018,1242\)"),
    ("height in cm", "DRO_2_3", _set(PatientSize="175"),
     r"PatientSize \(0010,1020\) = 175 is not a height in metres"),
]


@pytest.mark.parametrize(("case", "dro", "edit", "match"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_input_files_are_refused(tmp_path, dro_root, case, dro, edit, match) -> None:
    folder = _edit_copy(dro_root / dro / "PT", tmp_path / "PT", edit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        with pytest.raises(InputError, match=match):
            suv_from_dicom(folder)


def test_weight_override_replaces_a_missing_weight(tmp_path, dro_root) -> None:
    folder = _edit_copy(dro_root / "DRO_0_0" / "PT", tmp_path / "PT", _del("PatientWeight"))
    res = suv_from_dicom(folder, weight_kg_override=80.0)
    f = res.factor
    assert f.weight_kg == 80.0 and f.weight_source == "weight_kg_override"
    assert any("80 kg given by the user" in a and "missing" in a for a in f.assumptions)
    assert f.factor == pytest.approx(80_000.0 / (368.08e6 * 0.5 ** (3600 / F18_HALF_LIFE_S)))


@pytest.mark.parametrize("bad", [0.0, -70.0, math.nan, 70_000.0])
def test_bad_weight_override_is_refused(dro_root, bad) -> None:
    with pytest.raises(InputError, match="weight_kg_override"):
        suv_from_dicom(dro_root / "DRO_0_0" / "PT", weight_kg_override=bad)


def test_missing_half_life_uses_icrp107_for_the_coded_nuclide(tmp_path, dro_root) -> None:
    folder = _edit_copy(dro_root / "DRO_5_0" / "PT", tmp_path / "PT",
                        _del("RadionuclideHalfLife", rp=True))
    f = suv_from_dicom(folder).factor
    assert f.nuclide == "Ga-68"
    assert f.half_life_s == pytest.approx(4062.6, abs=0.05)  # ICRP-107: 67.71 min
    assert f.half_life_source.startswith("ICRP-107 Ga-68")
    assert any("ICRP-107 half-life of Ga-68" in a for a in f.assumptions)


def test_header_half_life_far_from_the_nuclide_warns(tmp_path, dro_root) -> None:
    folder = _edit_copy(dro_root / "DRO_0_0" / "PT", tmp_path / "PT",
                        _rp_set(RadionuclideHalfLife="4057.7"))  # Ga-68's, with F-18 coded
    with pytest.warns(NetdoseWarning,
                      match=r"differs by -38\.4 % from the ICRP-107 half-life of F-18"):
        f = suv_from_dicom(folder).factor
    assert f.half_life_s == 4057.7


# ---------------------------------------------------------------------- header facts (meta)
@pytest.fixture(scope="module")
def base_meta(dro_root: Path) -> dict[str, Any]:
    """Header facts of DRO_0_0 (BQML, START, 368.08 MBq at 10:00, scan 11:00, 70 kg)."""
    return dict(read_dicom_image(dro_root / "DRO_0_0" / "PT").meta)


def _meta(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    meta = json.loads(json.dumps(base))
    rp = changes.pop("rp", None)
    meta.update(changes)
    if rp:
        meta["radiopharmaceutical"].update(rp)
    return meta


def _quiet_factor(meta: dict[str, Any], **kwargs: Any) -> tuple[SuvFactor, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = suv_factor(meta, **kwargs)
    return f, [str(w.message) for w in caught if issubclass(w.category, NetdoseWarning)]


def _factor_at(reference: dt.datetime, injection: dt.datetime, w_kg=70.0, d_bq=368.08e6) -> float:
    uptake_s = (reference - injection).total_seconds()
    return w_kg * 1e3 / (d_bq * 0.5 ** (uptake_s / F18_HALF_LIFE_S))


def _post_processed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    n = base["n_slices"]
    return _meta(base, series_time="11:30:00",
                 acquisition_datetimes=["2025-01-01T11:05:00"] * n, **changes)


def test_post_processed_series_uses_the_ge_private_time(base_meta) -> None:
    meta = _post_processed(base_meta, ge_private_scan_datetime="2025-01-01T11:00:00")
    f, warned = _quiet_factor(meta)
    assert f.reference_datetime == "2025-01-01T11:00:00"
    assert f.reference_time_source.startswith("GE private scan date-time")
    assert len(warned) == 1 and "post-processed" in warned[0] and "GE private" in warned[0]


def test_post_processed_series_without_frame_times_uses_the_earliest_acquisition(base_meta) -> None:
    n = base_meta["n_slices"]
    meta = _post_processed(base_meta, frame_reference_times_ms=[None] * n)
    meta["acquisition_datetimes"][3] = "2025-01-01T11:02:00"
    f, warned = _quiet_factor(meta)
    assert f.reference_datetime == "2025-01-01T11:02:00"
    assert f.reference_time_source.startswith("earliest AcquisitionDate")
    assert len(warned) == 1 and "earliest AcquisitionDate" in warned[0]
    assert f.factor == pytest.approx(
        _factor_at(dt.datetime(2025, 1, 1, 11, 2), dt.datetime(2025, 1, 1, 10)), rel=1e-12)


def test_back_computation_needs_agreeing_slices(base_meta) -> None:
    n = base_meta["n_slices"]
    frts = [150000.0] * n
    frts[0] = 160000.0  # one slice 10 s off: no common series reference time
    meta = _post_processed(base_meta, frame_reference_times_ms=frts)
    f, _ = _quiet_factor(meta)
    assert f.reference_time_source.startswith("earliest AcquisitionDate")


def test_ge_time_disagreeing_with_series_time_is_reported(base_meta) -> None:
    meta = _meta(base_meta, ge_private_scan_datetime="2025-01-01T10:58:00")
    f, warned = _quiet_factor(meta)
    assert f.reference_datetime == "2025-01-01T11:00:00"  # QIBA: SeriesTime when not after
    assert len(warned) == 1 and "differs by 120 s" in warned[0]


def test_time_zones_are_honoured(base_meta) -> None:
    meta = _meta(base_meta, timezone_offset_from_utc="+0100")
    f, _ = _quiet_factor(meta)
    assert f.reference_datetime == "2025-01-01T11:00:00+01:00"
    assert not any("same local time" in a for a in f.assumptions)
    # 09:00 UTC is 10:00 local: the same injection as the header's
    f2, _ = _quiet_factor(meta, injection_datetime_override=dt.datetime(
        2025, 1, 1, 9, 0, tzinfo=dt.timezone.utc))
    assert f2.factor == pytest.approx(f.factor, rel=1e-12)
    assert f2.injection_time_source == "injection_datetime_override"


def test_injection_override_must_be_timezone_aware(base_meta) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        suv_factor(base_meta, injection_datetime_override=dt.datetime(2025, 1, 1, 10))


def test_injection_override_without_header_zone_is_local_wall_clock(base_meta) -> None:
    f, _ = _quiet_factor(base_meta, injection_datetime_override=dt.datetime(
        2025, 1, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=5))))
    assert f.injection_datetime == "2025-01-01T10:30:00"
    assert any("local wall-clock" in a for a in f.assumptions)
    assert f.uptake_time_s == 1800.0


def test_dose_override(base_meta) -> None:
    f, _ = _quiet_factor(_meta(base_meta, rp={"total_dose": None}), injected_dose_bq_override=2e8)
    assert f.injected_dose_bq == 2e8 and f.injected_dose_unit.startswith("Bq, given by the user")
    with pytest.raises(InputError, match="injected_dose_bq_override"):
        suv_factor(base_meta, injected_dose_bq_override=200.0)  # MBq given as Bq


def test_gml_without_suv_type_is_taken_as_suvbw_with_a_warning(base_meta) -> None:
    f, warned = _quiet_factor(_meta(base_meta, units="GML", suv_type=None))
    assert f.factor == 1.0 and f.suv_type_stored == "BW"
    assert len(warned) == 1 and r"without SUVType (0054,1006)" in warned[0]


def test_gml_weight_override_rescales_the_scanner_suv(base_meta) -> None:
    f, _ = _quiet_factor(_meta(base_meta, units="GML", suv_type="BW"), weight_kg_override=84.0)
    assert f.factor == pytest.approx(84.0 / 70.0)
    with pytest.raises(InputError, match=r"PatientWeight \(0010,1030\) is missing"):
        suv_factor(_meta(base_meta, units="GML", suv_type="BW", patient_weight_kg=None),
                   weight_kg_override=84.0)


def test_gml_without_weight_still_gives_suvbw(base_meta) -> None:
    f, _ = _quiet_factor(_meta(base_meta, units="GML", suv_type="BW", patient_weight_kg=None))
    assert f.factor == 1.0 and f.weight_kg is None


def test_philips_suv_factor_with_weight_override(base_meta) -> None:
    n = base_meta["n_slices"]
    meta = _meta(base_meta, units="CNTS", philips_suv_factors=[0.0005] * n)
    f, _ = _quiet_factor(meta, weight_kg_override=35.0)
    assert f.factor == pytest.approx(0.00025)
    assert any("Philips SUV factor rescaled" in a for a in f.assumptions)


def test_several_radiopharmaceuticals_warn(base_meta) -> None:
    _, warned = _quiet_factor(_meta(base_meta, rp={"n_items": 2}))
    assert len(warned) == 1 and "has 2 items; the first is used" in warned[0]


def test_spect_is_refused(base_meta) -> None:
    with pytest.raises(InputError, match="modality 'NM'.*to_activity_bq_ml"):
        suv_factor(_meta(base_meta, modality="NM"))


def test_admin_without_injection_time_is_accepted(base_meta) -> None:
    meta = _meta(base_meta, decay_correction="ADMIN",
                 rp={"start_time": None, "start_datetime": None})
    f, _ = _quiet_factor(meta)
    assert f.factor == pytest.approx(70_000.0 / 368.08e6)
    assert f.injection_datetime is None and f.uptake_time_s is None
    assert any("uptake time not checked" in a for a in f.assumptions)


def test_warnings_are_netdose_warnings_and_recorded(base_meta) -> None:
    meta = _meta(base_meta, rp={"total_dose": 368.08})
    with pytest.warns(NetdoseWarning, match="taken as MBq") as record:
        f = suv_factor(meta)
    assert [str(w.message) for w in record if issubclass(w.category, NetdoseWarning)] == list(
        f.warnings)


@given(w_kg=st.floats(30.0, 200.0), d_mbq=st.floats(20.0, 1000.0), k=st.floats(0.25, 4.0))
def test_factor_scales_with_weight_and_inverse_dose(base_meta, w_kg, d_mbq, k) -> None:
    f1 = suv_factor(base_meta, weight_kg_override=w_kg,
                    injected_dose_bq_override=d_mbq * 1e6).factor
    f2 = suv_factor(base_meta, weight_kg_override=min(w_kg * k, 350.0),
                    injected_dose_bq_override=d_mbq * 1e6 * k).factor
    assert f2 == pytest.approx(f1 * min(w_kg * k, 350.0) / (w_kg * k), rel=1e-9)


# ---------------------------------------------------------------------- frame physics
@given(half_life_s=st.floats(60.0, 1e6), duration_s=st.floats(1.0, 3600.0))
def test_frame_mean_time_is_where_the_activity_equals_its_mean(half_life_s, duration_s) -> None:
    t_mean = frame_mean_time_s(half_life_s, duration_s)
    lam = LN2 / half_life_s
    assert math.exp(-lam * t_mean) == pytest.approx(frame_mean_decay(half_life_s, duration_s),
                                                    rel=1e-9)
    # the activity falls during the frame, so the mean is reached before the middle
    assert 0.0 < t_mean <= duration_s / 2.0 * (1 + 1e-12)
    # numerical mean of exp(-lambda t) over the frame (midpoint rule)
    t = (np.arange(20000) + 0.5) / 20000 * duration_s
    assert frame_mean_decay(half_life_s, duration_s) == pytest.approx(
        float(np.mean(np.exp(-lam * t))), rel=1e-6)


def test_frame_mean_limits() -> None:
    assert frame_mean_time_s(1e12, 600.0) == pytest.approx(300.0, rel=1e-6)
    assert frame_mean_decay(6586.2, 0.0) == 1.0
    # DRO_3_2: T = 603 s of F-18: t_mean = 299.94 s (FrameReferenceTime 450 s from 11:02:30)
    assert frame_mean_time_s(F18_HALF_LIFE_S, 603.0) == pytest.approx(299.9056, abs=1e-3)


def test_none_with_a_short_frame_matches_start(base_meta) -> None:
    # DecayCorrection NONE with (nearly) instantaneous frames starting at 11:00 must give the
    # START factor with reference 11:00.
    n = base_meta["n_slices"]
    meta = _meta(base_meta, decay_correction="NONE",
                 corrected_image=["NORM", "DTIM", "ATTN", "SCAT", "RAN"],
                 actual_frame_durations_ms=[1.0] * n)
    f, _ = _quiet_factor(meta)
    start, _ = _quiet_factor(base_meta)
    assert f.factor == pytest.approx(start.factor, rel=1e-6)
