"""Tests of netdose_phantoms.export: any Phantom as CT + PT/NM + time points + SEG DICOM."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import netdose_phantoms.export as export_module
import numpy as np
import pydicom
import pytest
from netdose_phantoms.base import Phantom, TimePoint
from netdose_phantoms.export import DEFAULT_INJECTION_DATETIME, export_dicom

from netdose.errors import InputError, NetdoseWarning
from netdose.image import Image
from netdose.io import read_image
from netdose.io.dicom import to_activity_bq_ml
from netdose.io.masks import load_masks
from netdose.nuclides import get_nuclide

SHAPE = (6, 8, 10)  # (z, y, x)
SPACING = (2.0, 2.5, 3.0)
ORIGIN = (-12.0, 30.5, -7.25)
FLIPPED = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
NAMES = {1: "liver", 2: "kidney_left", 3: "tumour"}


def labels_array() -> np.ndarray:
    z, y, x = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    lab = np.zeros(SHAPE, dtype=np.int16)
    lab[(x - 4) ** 2 + (y - 4) ** 2 < 12] = 1
    lab[(x >= 7) & (y <= 2) & (z >= 1) & (z <= 4)] = 2
    lab[(x - 3) ** 2 + (y - 4) ** 2 + (z - 3) ** 2 < 3] = 3
    return lab


def small_phantom(
    *, nuclide: str = "Lu-177", time_series: bool = True, truth: dict | None = None
) -> Phantom:
    lab = labels_array()
    grid = Image(lab, SPACING, ORIGIN, FLIPPED)
    hu = np.where(lab > 0, 60.0, -1000.0) + np.where(lab == 3, 30.0, 0.0)
    conc = {0: 0.0, 1: 2.0e4, 2: 5.0e4, 3: 2.0e5}
    activity = np.vectorize(conc.get)(lab).astype(np.float32)
    time_points: tuple[TimePoint, ...] = ()
    if time_series:
        # SPECT on a coarser grid covering the same field of view.
        coarse = Image(activity[::2, ::2, ::2], tuple(2 * s for s in SPACING), ORIGIN, FLIPPED)
        time_points = tuple(
            TimePoint(f"t{h:03d}h", float(h),
                      coarse.with_array(coarse.array * math.exp(-math.log(2) * h / 160.0)),
                      "activity_bq_ml")
            for h in (24, 96)
        )
    return Phantom(
        name="tiny",
        description="a small synthetic phantom for export tests",
        labels=grid,
        label_names=NAMES,
        ct_hu=grid.with_array(hu.astype(np.float32)),
        activity=grid.with_array(activity),
        activity_quantity="activity_bq_ml",
        time_points=time_points,
        truth=truth if truth is not None else {"nuclide": nuclide, "injected_mbq": 7400.0},
    )


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_export_spect_phantom(tmp_path: Path) -> None:
    ph = small_phantom()
    out = export_dicom(ph, tmp_path / "dicom")
    assert set(out) == {"CT", "NM", "NM_t024h", "NM_t096h", "SEG", "manifest"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dicom"]  # nothing else left
    all_files = [p for paths in out.values() for p in paths if p.suffix == ".dcm"]
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in all_files]
    assert len({h.StudyInstanceUID for h in headers}) == 1
    assert len({h.FrameOfReferenceUID for h in headers}) == 1
    assert len({h.SeriesInstanceUID for h in headers}) == 5
    assert {h.PatientID for h in headers} == {"NETDOSE-tiny"}

    ct = read_image(tmp_path / "dicom" / "CT")
    assert ct.same_grid(Image(np.zeros(SHAPE)[::-1], SPACING,
                              (ORIGIN[0], ORIGIN[1], ORIGIN[2] - (SHAPE[0] - 1) * SPACING[2])))
    assert np.max(np.abs(ct.array - ph.ct_hu.array[::-1])) <= 0.5

    nm = to_activity_bq_ml(read_image(out["NM"][0]))
    assert nm.same_grid(ct)
    assert np.max(np.abs(nm.array - ph.activity.array[::-1])) <= 2.0e5 / 65535
    assert nm.meta["radiopharmaceutical"]["total_dose_bq"] == pytest.approx(7.4e9)
    assert nm.meta["radiopharmaceutical"]["radiopharmaceutical"] == "Lu-177 DOTATATE"
    assert (nm.meta["acquisition_date"], nm.meta["acquisition_time"]) == ("2025-01-10", "10:00:00")

    for tp in ph.time_points:
        img = read_image(out[f"NM_{tp.label}"][0])
        acq = DEFAULT_INJECTION_DATETIME + datetime.timedelta(hours=tp.time_h)
        assert img.meta["acquisition_date"] == acq.date().isoformat()
        assert img.meta["acquisition_time"] == acq.time().isoformat()
        assert img.meta["radiopharmaceutical"]["start_datetime"] == "2025-01-10T09:00:00"
        act = to_activity_bq_ml(img)
        assert np.max(np.abs(act.array - tp.image.array[::-1])) <= tp.image.array.max() / 65535

    masks = load_masks(tmp_path / "dicom" / "SEG", ct)
    assert set(masks) == set(NAMES.values())
    lab = labels_array()[::-1]
    for value, name in NAMES.items():
        assert dice(masks[name].mask.array, lab == value) >= 0.95
    seg = pydicom.dcmread(out["SEG"][0])
    ct_series = pydicom.dcmread(out["CT"][0]).SeriesInstanceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == ct_series

    manifest = json.loads(out["manifest"][0].read_text())
    assert manifest["nuclide"] == "Lu-177" and manifest["modality"] == "NM"
    assert manifest["injected_bq"] == pytest.approx(7.4e9)
    assert manifest["injected_bq_source"] == "truth['injected_mbq']"
    assert manifest["patient_weight_kg"] == 70.0 and manifest["acquisition_delay_h"] == 1.0
    assert manifest["series"]["NM_t096h"]["acquisition_datetime"] == "2025-01-14T09:00:00"
    assert manifest["series"]["CT"]["n_files"] == SHAPE[0]
    assert manifest["series"]["SEG"]["series_instance_uid"] == seg.SeriesInstanceUID
    assert manifest["frame_of_reference_uid"] == seg.FrameOfReferenceUID


def test_export_pet_phantom_derives_the_injected_activity(tmp_path: Path) -> None:
    ph = small_phantom(nuclide="F-18", time_series=False, truth={"nuclide": "F-18", "time_h": 1.5})
    with pytest.warns(NetdoseWarning, match="no injected activity"):
        out = export_dicom(ph, tmp_path / "pet", patient_weight_kg=81.0, rtstruct=True)
    assert set(out) == {"CT", "PT", "SEG", "RTSTRUCT", "manifest"}
    pet = read_image(tmp_path / "pet" / "PT")
    assert pet.meta["units"] == "BQML" and pet.meta["patient_weight_kg"] == 81.0
    rel = np.abs(pet.array - ph.activity.array[::-1]).max(axis=(1, 2))
    assert np.all(rel <= ph.activity.array[::-1].max(axis=(1, 2)) * 1e-4)
    total_bq = float(ph.activity.array.sum(dtype=np.float64)) * ph.activity.voxel_volume_ml
    expected = total_bq / float(get_nuclide("F-18").decay_factor(1.5 * 3600))
    assert pet.meta["radiopharmaceutical"]["total_dose_bq"] == pytest.approx(expected, rel=1e-9)
    assert pet.meta["series_time"] == "10:30:00"
    ct = read_image(tmp_path / "pet" / "CT")
    rt = load_masks(out["RTSTRUCT"][0], ct)
    for value, name in NAMES.items():
        np.testing.assert_array_equal(rt[name].mask.array, labels_array()[::-1] == value)


def test_export_is_deterministic(tmp_path: Path) -> None:
    ph = small_phantom(time_series=False)
    a = export_dicom(ph, tmp_path / "a")
    b = export_dicom(ph, tmp_path / "b")
    for key in a:
        assert [p.read_bytes() for p in a[key]] == [p.read_bytes() for p in b[key]], key


def test_y90_is_exported_as_pet(tmp_path: Path) -> None:
    ph = small_phantom(time_series=False, truth={"nuclide": "Y-90", "injected_gbq": 2.0})
    out = export_dicom(ph, tmp_path / "y90", radiopharmaceutical="SIR-Spheres")
    assert "PT" in out and "NM" not in out
    meta = read_image(tmp_path / "y90" / "PT").meta
    assert meta["radiopharmaceutical"]["radionuclide_code"]["value"] == "14691008"
    assert meta["radiopharmaceutical"]["total_dose_bq"] == pytest.approx(2.0e9)


def test_failed_export_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SEG writer failed")

    monkeypatch.setattr(export_module, "write_seg", broken)
    with pytest.raises(RuntimeError, match="SEG writer failed"):
        export_dicom(small_phantom(time_series=False), tmp_path / "dicom")
    assert list(tmp_path.iterdir()) == []


LU = {"nuclide": "Lu-177", "injected_mbq": 7400.0}


@pytest.mark.parametrize(
    "truth, kwargs, match",
    [
        ({}, {}, "names no nuclide"),
        ({"nuclide": "Sr-89"}, {}, "cannot write images of Sr-89"),
        (LU, {"patient_weight_kg": 0.0}, "patient_weight_kg"),
        (LU, {"injected_bq": -1.0}, "injected"),
        (LU, {"acquisition_delay_h": -2.0}, "acquisition_delay_h"),
        (LU, {"injection_datetime": "2025-01-10"}, "datetime"),
    ],
    ids=["no nuclide", "unknown modality", "zero weight", "negative activity", "negative delay",
         "date string"],
)
def test_bad_exports(tmp_path: Path, truth: dict, kwargs: dict, match: str) -> None:
    ph = small_phantom(time_series=False, truth=truth)
    with pytest.raises(InputError, match=match):
        export_dicom(ph, tmp_path / "dicom", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dicom").mkdir()
    (tmp_path / "dicom" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        export_dicom(small_phantom(time_series=False), tmp_path / "dicom")
    assert [p.name for p in (tmp_path / "dicom").iterdir()] == ["keep.txt"]
