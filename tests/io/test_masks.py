"""Tests of netdose.io.masks on real public data (tests/data, pydicom test files) and on
small synthetic RTSTRUCT / SEG / label maps whose answers are known exactly."""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.data
import pytest
import SimpleITK as sitk
from dicom_factory import file_meta, save
from matplotlib.path import Path as MplPath
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import RTStructureSetStorage, generate_uid

from netdose.errors import GeometryError, InputError, NetdoseWarning
from netdose.image import Image
from netdose.io import totalsegmentator_classes as tsc
from netdose.io.masks import (
    MaskSet,
    NamedMask,
    UnknownNameError,
    combine,
    load_masks,
    masks_from_dicom_seg,
    masks_from_labelmap,
    masks_from_rtstruct,
    masks_from_slicer_seg,
    masks_from_totalsegmentator,
)

PYDICOM_FILES = Path(pydicom.data.__file__).parent / "test_files"
DRO_IDS = [
    "DRO_0_0", "DRO_1_0", "DRO_2_0", "DRO_2_1", "DRO_2_2", "DRO_2_3", "DRO_2_4", "DRO_2_5",
    "DRO_3_0", "DRO_3_1", "DRO_3_2", "DRO_3_3", "DRO_3_4", "DRO_4_0", "DRO_4_1", "DRO_4_2",
    "DRO_5_0",
]  # fmt: skip


# ---------------------------------------------------------------------- helpers
def centroid_lps(mask: Image) -> np.ndarray:
    """Physical (LPS mm) centroid of a boolean mask."""
    idx_xyz = np.argwhere(mask.array)[:, ::-1].mean(axis=0)
    return mask.physical_points(idx_xyz[None, :])[0]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def read_series(folder: Path) -> Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return Image.from_sitk(reader.Execute())


def grid(
    shape_zyx: tuple[int, int, int],
    spacing: float | tuple[float, float, float],
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    direction: tuple[float, ...] = (1, 0, 0, 0, 1, 0, 0, 0, 1),
    meta: dict[str, Any] | None = None,
) -> Image:
    sp = (spacing,) * 3 if np.isscalar(spacing) else spacing
    return Image(np.zeros(shape_zyx, np.float32), sp, origin, direction, meta or {})


def square(cx: float, cy: float, half: float, z: float) -> list[float]:
    pts = [
        (cx - half, cy - half),
        (cx + half, cy - half),
        (cx + half, cy + half),
        (cx - half, cy + half),
    ]
    return [v for x, y in pts for v in (x, y, z)]


def write_rtstruct(
    path: Path,
    rois: dict[str, list[list[float]]],
    *,
    for_uid: str = "1.2.3.4",
    extra_empty: tuple[str, ...] = (),
) -> Path:
    """A minimal RTSTRUCT: each ROI a list of closed planar contours (flat x, y, z lists)."""
    ds = Dataset()
    ds.SOPClassUID = RTStructureSetStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = file_meta(RTStructureSetStorage, ds.SOPInstanceUID)
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = for_uid
    ssroi, roic = [], []
    for number, name in enumerate(list(rois) + list(extra_empty), start=1):
        item = Dataset()
        item.ROINumber = number
        item.ROIName = name
        item.ReferencedFrameOfReferenceUID = for_uid
        ssroi.append(item)
        rc = Dataset()
        rc.ReferencedROINumber = number
        contours = []
        for data in rois.get(name, []):
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(data) // 3
            c.ContourData = [f"{v:.4f}" for v in data]
            contours.append(c)
        rc.ContourSequence = DicomSequence(contours)
        roic.append(rc)
    ds.StructureSetROISequence = DicomSequence(ssroi)
    ds.ROIContourSequence = DicomSequence(roic)
    return save(ds, path)


def write_labelmap(
    path: Path,
    arr: np.ndarray,
    spacing: float = 2.0,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Path:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((spacing,) * 3)
    img.SetOrigin(origin)
    sitk.WriteImage(img, str(path))
    return path


def make_seg(
    frames: list[tuple[int, float, np.ndarray]],
    *,
    fractional: bool = False,
    iop: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    spacing_between: float | None = 2.0,
) -> Dataset:
    """A DICOM SEG built from pydicom's liver_1frame.dcm with the given frames.

    frames: (segment number, distance along the normal in mm, (rows, cols) 0/1 array).
    Two segments: 1 'Liver', 2 'Lesion'.
    """
    ds = pydicom.dcmread(PYDICOM_FILES / "liver_1frame.dcm")
    rows, cols = frames[0][2].shape
    ds.Rows, ds.Columns = rows, cols
    ds.NumberOfFrames = len(frames)
    seg2 = copy.deepcopy(ds.SegmentSequence[0])
    seg2.SegmentNumber = 2
    seg2.SegmentLabel = "Lesion"
    ds.SegmentSequence.append(seg2)
    shared = ds.SharedFunctionalGroupsSequence[0]
    shared.PlaneOrientationSequence[0].ImageOrientationPatient = list(iop)
    measures = shared.PixelMeasuresSequence[0]
    measures.PixelSpacing = [1.5, 1.0]  # row spacing (along columns), column spacing
    if spacing_between is None:
        del measures.SpacingBetweenSlices
        del measures.SliceThickness
    else:
        measures.SpacingBetweenSlices = spacing_between
        measures.SliceThickness = spacing_between
    normal = np.cross(iop[:3], iop[3:])
    base = np.array([-20.0, -10.0, 0.0])
    template = ds.PerFrameFunctionalGroupsSequence[0]
    items = []
    for number, dist, _ in frames:
        item = copy.deepcopy(template)
        item.SegmentIdentificationSequence[0].ReferencedSegmentNumber = number
        item.PlanePositionSequence[0].ImagePositionPatient = [
            float(v) for v in base + dist * normal
        ]
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(items)
    stack = np.stack([f for _, _, f in frames]).astype(np.uint8)
    if fractional:
        ds.SegmentationType = "FRACTIONAL"
        ds.SegmentationFractionalType = "PROBABILITY"
        ds.MaximumFractionalValue = 200
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = stack.tobytes()
    else:
        ds.PixelData = pack_bits(stack.ravel())
    return ds


# ---------------------------------------------------------------------- MAA sample
@pytest.fixture(scope="module")
def maa(maa_dir: Path) -> dict[str, Any]:
    spect = Image.from_sitk(sitk.ReadImage(str(maa_dir / "patient_2_SPECT.nrrd")))
    seg = maa_dir / "patient_2_Segmentation.seg.nrrd"
    with warnings.catch_warnings():
        warnings.simplefilter("error", NetdoseWarning)  # nothing lost, nothing empty
        on_spect = masks_from_slicer_seg(seg, spect)
    native = masks_from_slicer_seg(seg, select=["liver", "perfused volume", "Tumor 1", "Tumor 2"])
    return {"spect": spect, "on_spect": on_spect, "native": native}


def test_maa_segments_on_spect_grid(maa: dict[str, Any]) -> None:
    spect, ms = maa["spect"], maa["on_spect"]
    assert np.allclose(np.diag(spect.direction_matrix), (1, 1, -1))  # z runs down
    assert list(ms) == [
        "gallbladder",
        "liver",
        "Tumor 1",
        "Tumor 2",
        "perfused volume",
        "whole liver normal",
        "perfused normal",
    ]
    for name in ("liver", "perfused volume", "Tumor 1", "Tumor 2"):
        m = ms[name]
        assert m.mask.same_grid(spect)
        assert m.fraction is not None and m.fraction.same_grid(spect)
        assert m.n_voxels > 0
        assert m.volume_target_ml == pytest.approx(m.n_voxels * spect.voxel_volume_ml)
        assert "layer" in m.source and "label" in m.source
    # case-insensitive look-up after the exact one
    assert ms["LIVER"] is ms["liver"] and ms["tumor 1"] is ms["Tumor 1"]


def test_maa_liver_volume_and_centroid(maa: dict[str, Any]) -> None:
    spect, liver, native = maa["spect"], maa["on_spect"]["liver"], maa["native"]["liver"]
    assert native.fraction is None and native.mask.shape == (161, 512, 512)
    assert native.volume_native_ml == pytest.approx(native.volume_target_ml)
    assert liver.volume_native_ml == pytest.approx(native.volume_native_ml)
    assert abs(liver.volume_target_ml / liver.volume_native_ml - 1.0) < 0.03
    # The SPECT z axis runs inferior, the segmentation's superior: the centroid must agree.
    shift = np.abs(centroid_lps(liver.mask) - centroid_lps(native.mask))
    assert np.all(shift < np.asarray(spect.spacing_mm)), shift
    # The exact-overlap coverage conserves the volume inside the FOV.
    assert float(liver.fraction.array.sum()) * spect.voxel_volume_ml == pytest.approx(
        liver.volume_native_ml, rel=1e-4
    )


def test_maa_masks_inside_spect_fov(maa: dict[str, Any]) -> None:
    spect = maa["spect"]
    n_xyz = np.asarray(spect.size_xyz)
    for name, nm in maa["native"].items():
        box = np.argwhere(nm.mask.array)
        lo, hi = box.min(axis=0)[::-1], box.max(axis=0)[::-1]  # (x, y, z) index corners
        corners = np.array(
            [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])],
            dtype=float,
        )
        idx = spect.continuous_index(nm.mask.physical_points(corners))
        assert np.all(idx >= -0.5) and np.all(idx <= n_xyz - 0.5), name


def test_maa_perfused_volume_inside_liver(maa: dict[str, Any]) -> None:
    ms = maa["on_spect"]
    perfused, liver = ms["perfused volume"].mask.array, ms["liver"].mask.array
    assert np.count_nonzero(perfused & liver) / np.count_nonzero(perfused) >= 0.95


def test_maa_volumes_table(maa: dict[str, Any]) -> None:
    rows = maa["on_spect"].volumes_table()
    assert [r[0] for r in rows] == list(maa["on_spect"])
    for _, native_ml, target_ml, diff_pct in rows:
        assert diff_pct == pytest.approx(100.0 * (target_ml - native_ml) / native_ml)
    liver = next(r for r in rows if r[0] == "liver")
    assert abs(liver[3]) < 3.0


def test_combine_overlapping_segments_warns(maa: dict[str, Any]) -> None:
    ms = maa["on_spect"]
    with pytest.warns(NetdoseWarning, match="overlap.*overestimates"):
        both = combine(ms, ["liver", "perfused volume", "LIVER"], "liver+perfused")
    liver, perfused = ms["liver"], ms["perfused volume"]
    assert np.array_equal(both.mask.array, liver.mask.array | perfused.mask.array)
    assert both.volume_native_ml == pytest.approx(
        liver.volume_native_ml + perfused.volume_native_ml
    )
    assert np.array_equal(
        both.fraction.array, np.maximum(liver.fraction.array, perfused.fraction.array)
    )


def test_load_masks_dispatches_seg_nrrd(maa_dir: Path) -> None:
    ms = load_masks(maa_dir / "patient_2_Segmentation.seg.nrrd", select=["Tumor 2"])
    assert list(ms) == ["Tumor 2"]
    assert ms["Tumor 2"].mask.shape == (161, 512, 512)


def test_single_layer_seg_nrrd(tmp_path: Path) -> None:
    arr = np.zeros((6, 8, 10), np.uint8)
    arr[1:4, 2:5, 3:7] = 3
    arr[5, 0, 0] = 1
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((1.0, 2.0, 3.0))
    for key, value in {
        "Segment0_Name": "Lesion A",
        "Segment0_LabelValue": "3",
        "Segment0_Layer": "0",
        "Segment1_Name": "dot",
        "Segment1_LabelValue": "1",
        "Segment1_Layer": "0",
        "Segment2_Name": "ghost",
        "Segment2_LabelValue": "2",
        "Segment2_Layer": "0",
    }.items():
        img.SetMetaData(key, value)
    path = tmp_path / "one.seg.nrrd"
    sitk.WriteImage(img, str(path), True)
    with pytest.warns(NetdoseWarning, match="'ghost'.*empty"):
        ms = load_masks(path)
    assert list(ms) == ["Lesion A", "dot"]
    assert ms["lesion a"].volume_native_ml == pytest.approx(36 * 6.0e-3)
    assert ms["dot"].n_voxels == 1


# ---------------------------------------------------------------------- TotalSegmentator
def test_totalsegmentator_class_table() -> None:
    assert len(tsc.TOTAL) == 117 and list(tsc.TOTAL) == list(range(1, 118))
    assert len(set(tsc.TOTAL.values())) == 117
    assert (tsc.TOTAL[1], tsc.TOTAL[2], tsc.TOTAL[3], tsc.TOTAL[5], tsc.TOTAL[7]) == (
        "spleen",
        "kidney_right",
        "kidney_left",
        "liver",
        "pancreas",
    )
    assert (tsc.TOTAL[51], tsc.TOTAL[90], tsc.TOTAL[116], tsc.TOTAL[117]) == (
        "heart",
        "brain",
        "sternum",
        "costal_cartilages",
    )
    for group in (tsc.LUNG, tsc.KIDNEYS, tsc.GI):
        assert set(group) <= set(tsc.TOTAL.values())


def test_totalsegmentator_example(totalseg_dir: Path) -> None:
    path = totalseg_dir / "example_seg.nii.gz"
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    ms = masks_from_totalsegmentator(path)
    voxel_ml = 3.0**3 * 1e-3
    for label, name in (
        (1, "spleen"),
        (2, "kidney_right"),
        (3, "kidney_left"),
        (5, "liver"),
        (6, "stomach"),
    ):
        m = ms[name]
        count = int(np.count_nonzero(labels == label))
        assert count > 0
        assert m.volume_native_ml == pytest.approx(count * voxel_ml)
        assert m.volume_target_ml == pytest.approx(count * voxel_ml)
        assert np.array_equal(m.mask.array, labels == label)
        assert m.source.endswith(f"label {label}")
    kidneys = combine(ms, tsc.KIDNEYS, "kidneys")
    assert kidneys.volume_native_ml == pytest.approx(
        ms["kidney_left"].volume_native_ml + ms["kidney_right"].volume_native_ml
    )
    assert np.array_equal(kidneys.mask.array, np.isin(labels, (2, 3)))
    lungs = combine(ms, [n for n in tsc.LUNG if n in ms], "lungs")
    assert lungs.n_voxels == np.count_nonzero(np.isin(labels, [10, 11, 12, 13, 14]))
    # the dispatcher with names="totalsegmentator" gives the same masks
    same = load_masks(path, names="totalsegmentator", select=["liver"])
    assert np.array_equal(same["liver"].mask.array, ms["liver"].mask.array)


def test_totalsegmentator_onto_coarser_grid(totalseg_dir: Path) -> None:
    ct = Image.from_sitk(sitk.ReadImage(str(totalseg_dir / "example_ct_sm.nii.gz")))
    coarse = grid((20, 64, 78), 4.8, ct.origin_mm, ct.direction)
    ms = masks_from_totalsegmentator(
        totalseg_dir / "example_seg.nii.gz", coarse, select=["liver", "spleen", *tsc.KIDNEYS]
    )
    for m in ms.values():
        assert m.mask.same_grid(coarse)
        assert abs(m.relative_difference_pct) < 3.0
    kidneys = combine(ms, tsc.KIDNEYS, "kidneys")
    # disjoint parts: union of the two kidneys >= each, fraction is the clipped sum
    assert kidneys.n_voxels >= ms["kidney_left"].n_voxels + ms["kidney_right"].n_voxels
    assert kidneys.fraction is not None and float(kidneys.fraction.array.max()) <= 1.0


# ---------------------------------------------------------------------- label maps
def test_labelmap_names_select_and_default_names(tmp_path: Path) -> None:
    arr = np.zeros((10, 10, 10), np.uint8)
    arr[2:5, 2:5, 2:5] = 1
    arr[6:8, 6:8, 6:8] = 4
    path = write_labelmap(tmp_path / "labels.nii.gz", arr)
    ms = masks_from_labelmap(path, {1: "Tumour", 2: "absent", 4: "node"})
    assert list(ms) == ["Tumour", "node"]  # label 2 absent: no mask, no error
    assert ms["tumour"].volume_native_ml == pytest.approx(27 * 8e-3)
    with pytest.raises(InputError, match=r"'absent'.*Labels present: 1 \(Tumour\), 4\. "):
        masks_from_labelmap(path, {1: "Tumour", 2: "absent"}, select=["absent"])
    with pytest.warns(NetdoseWarning, match="label_<value>"):
        named = load_masks(path)
    assert list(named) == ["label_1", "label_4"]
    with pytest.warns(NetdoseWarning, match="without a name.*4"):
        only = masks_from_labelmap(path, {1: "Tumour"})
    assert list(only) == ["Tumour"]


def test_labelmap_partly_outside_target_warns_with_percentage(tmp_path: Path) -> None:
    arr = np.zeros((10, 10, 10), np.uint8)
    arr[2:6, 2:6, 0:4] = 1  # x 0..8 mm (voxel edges -1..7)
    img = Image(arr, (2.0, 2.0, 2.0))
    target = grid((10, 10, 10), 2.0, origin=(3.0, 0.0, 0.0))  # starts at x = 2 mm (edge)
    with pytest.warns(NetdoseWarning, match=r"partly outside.* 37\.5 % of its") as rec:
        ms = masks_from_labelmap(img, {1: "box"}, target)
    assert len(rec) == 1
    assert float(ms["box"].fraction.array.sum()) * 8e-3 == pytest.approx(0.625 * 64 * 8e-3)


def test_outside_mask_skipped_unless_selected(tmp_path: Path) -> None:
    arr = np.zeros((10, 10, 10), np.uint8)
    arr[1:3, 1:3, 1:3] = 1
    arr[1:3, 1:3, 8:10] = 2  # x 16..19 mm
    img = Image(arr, (2.0, 2.0, 2.0))
    target = grid((10, 10, 5), 2.0)  # x -1..9 mm: label 2 outside
    with pytest.warns(NetdoseWarning, match="'far'.*outside the image field of view.*skipped"):
        ms = masks_from_labelmap(img, {1: "near", 2: "far"}, target)
    assert list(ms) == ["near"]
    with pytest.raises(GeometryError, match=r"'far'.*outside the image field of view"):
        masks_from_labelmap(img, {1: "near", 2: "far"}, target, select=["far"])


def test_maskset_lookup_errors() -> None:
    img = Image(np.ones((2, 2, 2), bool), (1.0, 1.0, 1.0))
    m = NamedMask("Liver", img, 0.008, 0.008, None, "test")
    ms = MaskSet([m, NamedMask("liver", img, 0.008, 0.008, None, "test")], source="set.nii")
    assert ms["Liver"] is m  # exact match first
    with pytest.raises(InputError, match="differ only in case"):
        ms["LIVER"]
    assert ms.get("nope") is None  # also a KeyError, so Mapping.get works
    with pytest.raises(UnknownNameError, match=r"'livr'.*Did you mean '[Ll]iver'\?.*Available"):
        ms["livr"]
    with pytest.raises(UnknownNameError, match=r"'Livr'.*Did you mean 'Liver'\?"):
        MaskSet([m])["Livr"]
    with pytest.raises(InputError, match="duplicate mask name"):
        MaskSet([m, m])


# ---------------------------------------------------------------------- RTSTRUCT: DROs
@pytest.mark.parametrize("dro", DRO_IDS)
def test_dro_rtstruct_matches_nifti_mask(dro: str, dro_root: Path) -> None:
    """The OncoRay DRO RTSTRUCTs rasterised on the PET grid against the shipped NIfTI masks.

    The shipped contours are not the NIfTI mask: they cover slices 2-17 while the mask (and
    the object in the PET) fills slices 1-18, and they run about 1.5 pixels inside the mask
    edge (polygon area ~10 890 pixels per slice against 11 289 mask pixels). A faithful
    rasterisation therefore reaches Dice ~0.925 overall and ~0.98 on the contoured slices;
    that is what is asserted, together with an exact match to an independent centre-point
    rasterisation of the same polygons (matplotlib).
    """
    folder = dro_root / dro
    pet = read_series(folder / "PT")
    rs = next((folder / "RS").glob("*.dcm"))
    t0 = time.perf_counter()
    ms = masks_from_rtstruct(rs, pet)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    region = ms["region_1"]
    assert region.mask.same_grid(pet)
    ref_img = sitk.ReadImage(str(folder / "mask" / "DRO_mask.nii.gz"))
    ref = Image.from_sitk(ref_img)
    if not ref.same_grid(pet):  # pragma: no cover - the DRO masks are on the PET grid
        from netdose.image import resample

        ref = resample(ref, pet, mode="nearest")
    ref_mask = ref.array > 0
    got = region.mask.array
    contoured = np.flatnonzero(got.any(axis=(1, 2)))
    assert list(contoured) == list(range(2, 18))
    assert list(np.flatnonzero(ref_mask.any(axis=(1, 2)))) == list(range(1, 19))
    d_all = dice(got, ref_mask)
    d_contoured = dice(got[2:18], ref_mask[2:18])
    assert d_all >= 0.92, d_all
    assert d_contoured >= 0.98, d_contoured
    assert np.count_nonzero(got & ref_mask) / np.count_nonzero(got) >= 0.999  # inside the mask
    # independent reference: pixel-centre point-in-polygon test with matplotlib
    ds = pydicom.dcmread(rs)
    ref_poly = np.zeros_like(got)
    for c in ds.ROIContourSequence[0].ContourSequence:
        raw = c.get_item("ContourData").value  # raw DS text: much faster than DSfloat values
        idx = pet.continuous_index(np.array(raw.split(b"\\"), dtype=float).reshape(-1, 3))
        k = round(idx[0, 2])
        (x0, y0), (x1, y1) = (
            np.floor(idx[:, :2].min(0)).astype(int),
            np.ceil(idx[:, :2].max(0)).astype(int),
        )
        yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
        inside = MplPath(idx[:, :2]).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
        ref_poly[k, y0 : y1 + 1, x0 : x1 + 1] ^= inside.reshape(xx.shape)
    assert dice(got, ref_poly) >= 0.995
    # volumes: polygons x 4 mm against the voxel count
    assert abs(region.relative_difference_pct) < 1.0


# ---------------------------------------------------------------------- RTSTRUCT: synthetic
def test_rtstruct_holes_finer_target_and_no_contour_rois(tmp_path: Path) -> None:
    planes = (0.0, 4.0, 8.0)
    outer = [square(0.0, 0.0, 20.0, z) for z in planes]
    hole = [square(0.0, 0.0, 10.0, z) for z in planes]
    path = write_rtstruct(
        tmp_path / "rs.dcm", {"ring": outer + hole, "block": outer}, extra_empty=("marker",)
    )
    # target 2 mm in z (contours 4 mm apart), 1 mm in-plane, aligned on the contour planes
    target = grid((9, 60, 60), (1.0, 1.0, 2.0), origin=(-29.5, -29.5, -4.0))
    with pytest.warns(NetdoseWarning, match=r"'marker' \(no contours\)"):
        ms = masks_from_rtstruct(path, target)
    assert list(ms) == ["ring", "block"]
    ring, block = ms["ring"], ms["block"]
    assert ring.volume_native_ml == pytest.approx((1600 - 400) * 4 * 3 * 1e-3)
    assert block.volume_native_ml == pytest.approx(1600 * 4 * 3 * 1e-3)
    # slices at z = -2 .. 10 mm are within 2 mm (half the contour spacing) of a plane
    assert list(np.flatnonzero(block.mask.array.any(axis=(1, 2)))) == list(range(1, 8))
    assert block.mask.array[4].sum() == 1600 and ring.mask.array[4].sum() == 1200
    assert not ring.mask.array[4, 30, 30] and ring.mask.array[4, 30, 12]
    assert ring.volume_target_ml == pytest.approx(7 * 1200 * 2e-3)


def test_rtstruct_supersampling_is_unbiased_on_a_circle(tmp_path: Path) -> None:
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    r = 23.3
    contour = [v for a in t for v in (r * np.cos(a) + 0.37, r * np.sin(a) - 0.21, 0.0)]
    path = write_rtstruct(tmp_path / "c.dcm", {"disc": [contour]})
    target = grid((1, 60, 60), (1.0, 1.0, 3.0), origin=(-29.5, -29.5, 0.0))
    disc = masks_from_rtstruct(path, target)["disc"]
    area_px = 0.5 * 400 * r * r * np.sin(2 * np.pi / 400)
    assert disc.n_voxels == pytest.approx(area_px, rel=0.01)


def test_rtstruct_partly_outside_and_oblique(tmp_path: Path) -> None:
    path = write_rtstruct(
        tmp_path / "rs.dcm", {"box": [square(0.0, 0.0, 10.0, z) for z in (0, 2, 4)]}
    )
    half_out = grid((3, 20, 10), 2.0, origin=(1.0, -19.0, 0.0))  # x from 0 mm: half the box
    with pytest.warns(NetdoseWarning, match=r"'box'.*partly outside.* 50\.0 %"):
        ms = masks_from_rtstruct(path, half_out)
    assert ms["box"].volume_target_ml == pytest.approx(0.5 * ms["box"].volume_native_ml)
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    tilted = grid(
        (10, 20, 20), 2.0, origin=(-19.0, -19.0, -5.0), direction=(1, 0, 0, 0, c, -s, 0, s, c)
    )
    with pytest.raises(GeometryError, match="not parallel to the slices"):
        masks_from_rtstruct(path, tilted)
    # an in-plane rotation (about z) is not oblique
    rotated = grid(
        (5, 40, 40), 1.0, origin=(19.5, 19.5, 0.0), direction=(0, -1, 0, -1, 0, 0, 0, 0, 1)
    )
    r2 = masks_from_rtstruct(path, rotated, select=["BOX"])["box"]
    assert r2.n_voxels == 5 * 400  # slices 1 and 3 tie between two planes: union


def test_load_masks_from_a_dicom_folder(dro_root: Path) -> None:
    folder = dro_root / "DRO_0_0"
    pet = read_series(folder / "PT")
    ms = load_masks(folder / "RS", pet)
    assert list(ms) == ["region_1"]
    rs_series = pydicom.dcmread(next((folder / "RS").glob("*.dcm"))).SeriesInstanceUID
    assert list(load_masks(folder / "RS", pet, series_uid=rs_series)) == ["region_1"]
    with pytest.raises(InputError, match=r"no DICOM RTSTRUCT or SEG with SeriesInstanceUID 1\.2"):
        load_masks(folder / "RS", pet, series_uid="1.2")
    with pytest.raises(InputError, match=r"no DICOM RTSTRUCT or SEG \(found: PT x20\)"):
        load_masks(folder / "PT", pet)


def test_pydicom_rtstruct() -> None:
    path = PYDICOM_FILES / "rtstruct.dcm"  # no DICOM preamble; contours at z = -200, -190, -180
    ds = pydicom.dcmread(path, force=True)
    roi_for = ds.StructureSetROISequence[0].ReferencedFrameOfReferenceUID
    target = grid(
        (7, 70, 90), 5.0, origin=(-222.5, -172.5, -210.0), meta={"frame_of_reference_uid": roi_for}
    )
    with pytest.warns(NetdoseWarning, match=r"'Isocenter 1' \(POINT\), 'Isocenter 2' \(POINT\)"):
        ms = load_masks(path, target)
    assert list(ms) == ["patient"]
    patient = ms["patient"]
    assert patient.volume_native_ml == pytest.approx(3 * 400 * 300 * 10 * 1e-3)
    assert patient.volume_target_ml == pytest.approx(patient.volume_native_ml)
    assert list(np.flatnonzero(patient.mask.array.any(axis=(1, 2)))) == list(range(1, 7))
    assert patient.source.endswith("rtstruct.dcm: ROI number 1") and patient.fraction is None


# ---------------------------------------------------------------------- DICOM SEG
def test_pydicom_seg_files() -> None:
    for name in ("liver_1frame.dcm", "liver_expb_1frame.dcm"):
        with pytest.warns(NetdoseWarning, match="1 frame.* 3 per-frame"):
            ms = load_masks(PYDICOM_FILES / name)
        liver = ms["Liver"]
        assert liver.n_voxels > 1000 and liver.fraction is None
        assert liver.mask.shape == (1, 512, 512)
        assert liver.mask.origin_mm == pytest.approx((-235.2, -226.8, -128.69))
        assert liver.mask.spacing_mm == pytest.approx((0.810547, 0.810547, 1.0))
        assert liver.volume_native_ml == pytest.approx(liver.n_voxels * 0.810547**2 * 1e-3)


def _box(rows: int, cols: int, r: slice, c: slice) -> np.ndarray:
    a = np.zeros((rows, cols), np.uint8)
    a[r, c] = 1
    return a


@pytest.mark.parametrize("fractional", [False, True])
def test_seg_multiframe_sparse_geometry(fractional: bool) -> None:
    rows, cols = 16, 24
    liver = _box(rows, cols, slice(2, 10), slice(3, 15))
    lesion = _box(rows, cols, slice(4, 6), slice(5, 8))
    scale = 200 if fractional else 1
    frames = [
        (1, 0.0, liver * scale),
        (1, 2.0, liver * scale),
        (1, 4.0, liver * scale),
        (2, 0.0, lesion * scale),
        (2, 8.0, lesion * scale),
    ]  # lesion frames are sparse
    if fractional:
        frames.append((2, 4.0, lesion * 90))  # below 0.5 x 200: not in the mask
    iop = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0)  # rows run along +y, columns along +x; normal -z
    ds = make_seg(frames, fractional=fractional, iop=iop)
    ms = masks_from_dicom_seg(ds)
    assert list(ms) == ["Liver", "Lesion"]
    les = ms["lesion"].mask
    assert les.shape == (5, rows, cols)  # grid spans all frame positions 0..8 mm, 2 mm apart
    assert les.spacing_mm == pytest.approx((1.0, 1.5, 2.0))
    assert list(np.flatnonzero(les.array.any(axis=(1, 2)))) == [0, 4]
    assert ms["Liver"].n_voxels == 3 * 8 * 12
    # voxel (row 4, col 5) of the frame at distance 8 mm along the normal (0, 0, -1):
    # IPP + col * 1.0 * row_dir + row * 1.5 * col_dir
    expected = (
        np.array([-20.0, -10.0, 0.0])
        + 8.0 * np.array([0, 0, -1.0])
        + 5 * 1.0 * np.array([0, 1.0, 0])
        + 4 * 1.5 * np.array([1.0, 0, 0])
    )
    assert les.physical_points(np.array([[5, 4, 4]]))[0] == pytest.approx(expected)
    # onto an axial target grid: same physical centroid
    target = grid((12, 30, 30), 1.0, origin=(-25.0, -15.0, -10.25))
    on_t = masks_from_dicom_seg(ds, target)
    assert on_t["Liver"].mask.same_grid(target)
    assert np.allclose(centroid_lps(on_t["Liver"].mask), centroid_lps(ms["Liver"].mask), atol=0.5)
    assert on_t["Liver"].volume_target_ml == pytest.approx(ms["Liver"].volume_native_ml, rel=0.05)
    assert float(on_t["Liver"].fraction.array.sum()) * 1e-3 == pytest.approx(0.864)


def test_seg_single_frame_without_thickness_is_refused() -> None:
    ds = make_seg([(1, 0.0, _box(8, 8, slice(1, 4), slice(1, 4)))], spacing_between=None)
    with pytest.raises(InputError, match="SpacingBetweenSlices or SliceThickness"):
        masks_from_dicom_seg(ds)


# ---------------------------------------------------------------------- bad inputs
def _nonoverlap(ctx: dict[str, Path]) -> None:
    img = Image(np.ones((3, 3, 3), np.uint8), (2.0, 2.0, 2.0), origin_mm=(500.0, 0.0, 0.0))
    masks_from_labelmap(img, {1: "organ"}, grid((5, 5, 5), 2.0))


def _rtstruct_nonoverlap(ctx: dict[str, Path]) -> None:
    masks_from_rtstruct(ctx["rs"], grid((3, 10, 10), 2.0, origin=(300.0, 300.0, 0.0)))


def _for_mismatch(ctx: dict[str, Path]) -> None:
    masks_from_rtstruct(
        ctx["rs"],
        grid(
            (3, 20, 20), 2.0, origin=(-19.0, -19.0, 0.0), meta={"frame_of_reference_uid": "9.9.9"}
        ),
    )


def _seg_for_mismatch(ctx: dict[str, Path]) -> None:
    masks_from_dicom_seg(
        PYDICOM_FILES / "liver_1frame.dcm",
        grid((3, 20, 20), 2.0, meta={"frame_of_reference_uid": "9.9.9"}),
    )


BAD_INPUTS: list[tuple[str, Callable[[dict[str, Path]], Any], type[Exception], str]] = [
    ("missing file", lambda c: load_masks(c["tmp"] / "nope.nii.gz"), InputError, "no such file"),
    (
        "missing seg.nrrd",
        lambda c: masks_from_slicer_seg(c["tmp"] / "x.seg.nrrd"),
        InputError,
        "no such file",
    ),
    (
        "missing folder entry",
        lambda c: load_masks(c["tmp"] / "empty_dir"),
        InputError,
        "no DICOM RTSTRUCT or SEG",
    ),
    (
        "unknown name in select",
        lambda c: masks_from_slicer_seg(c["seg"], select=["livr"]),
        InputError,
        r"unknown segment name 'livr'.*Did you mean 'liver'\?.*'Tumor 1'",
    ),
    (
        "unknown name lookup",
        lambda c: masks_from_totalsegmentator(c["ts"], select=["liver"])["livre"],
        InputError,
        r"Did you mean 'liver'",
    ),
    (
        "unknown TotalSegmentator class",
        lambda c: masks_from_totalsegmentator(c["ts"], select=["lungs"]),
        InputError,
        r"'lungs'.*Did you mean 'lung_",
    ),
    (
        "selected label absent",
        lambda c: masks_from_totalsegmentator(c["ts"], select=["brain"]),
        InputError,
        r"no voxels with the label of 'brain' \(label 90\).*Labels present: 1 \(spleen\)",
    ),
    (
        "non-overlapping mask",
        _nonoverlap,
        GeometryError,
        r"mask 'organ' from .* lies outside the image field of view.*frame of\s+reference",
    ),
    (
        "non-overlapping RTSTRUCT",
        _rtstruct_nonoverlap,
        GeometryError,
        "lies outside the image field",
    ),
    (
        "RTSTRUCT without target",
        lambda c: load_masks(c["rs"]),
        InputError,
        "is an RTSTRUCT.*Give the image grid",
    ),
    (
        "RTSTRUCT loader without target",
        lambda c: masks_from_rtstruct(c["rs"], None),
        InputError,
        "Give the image grid",
    ),
    (
        "frame-of-reference mismatch",
        _for_mismatch,
        GeometryError,
        "frame of reference 1.2.3.4, but the image is in 9.9.9",
    ),
    ("SEG frame-of-reference mismatch", _seg_for_mismatch, GeometryError, "frame of reference"),
    (
        "image, not a label map (SPECT)",
        lambda c: load_masks(c["spect"]),
        InputError,
        "not a label map",
    ),
    (
        "CT, not a label map",
        lambda c: load_masks(c["ct"], names="totalsegmentator"),
        InputError,
        "not a label map",
    ),
    (
        "PET DICOM, not a segmentation",
        lambda c: load_masks(c["pt"]),
        InputError,
        "is not a DICOM RTSTRUCT or SEG .Modality PT",
    ),
    (
        "text file",
        lambda c: load_masks(c["txt"]),
        InputError,
        "not a segmentation netdose can read",
    ),
    (
        "DICOM given to the SEG loader",
        lambda c: masks_from_dicom_seg(c["rs"]),
        InputError,
        "is not a DICOM SEG",
    ),
    (
        "plain NRRD given to the Slicer loader",
        lambda c: masks_from_slicer_seg(c["spect"]),
        InputError,
        "not a 3D Slicer segmentation",
    ),
    (
        "bad names argument",
        lambda c: load_masks(c["ts"], names="totalseg"),
        InputError,
        "'totalsegmentator'",
    ),
    (
        "unknown task",
        lambda c: masks_from_totalsegmentator(c["ts"], task="lung_vessels"),
        InputError,
        "unknown TotalSegmentator task",
    ),
    (
        "target not an Image",
        lambda c: load_masks(c["ts"], c["spect"], names="totalsegmentator"),
        InputError,
        "target must be a netdose Image",
    ),
]


@pytest.fixture()
def bad_ctx(tmp_path: Path, maa_dir: Path, totalseg_dir: Path, dro_root: Path) -> dict[str, Path]:
    (tmp_path / "empty_dir").mkdir()
    txt = tmp_path / "notes.txt"
    txt.write_text("not an image\n")
    rs = write_rtstruct(
        tmp_path / "rs.dcm", {"box": [square(0.0, 0.0, 10.0, z) for z in (0, 2, 4)]}
    )
    return {
        "tmp": tmp_path,
        "seg": maa_dir / "patient_2_Segmentation.seg.nrrd",
        "spect": maa_dir / "patient_2_SPECT.nrrd",
        "ts": totalseg_dir / "example_seg.nii.gz",
        "ct": totalseg_dir / "example_ct_sm.nii.gz",
        "pt": next((dro_root / "DRO_0_0" / "PT").glob("*.dcm")),
        "txt": txt,
        "rs": rs,
    }


@pytest.mark.parametrize(
    ("what", "call", "error", "match"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_inputs(
    what: str,
    call: Callable[[dict[str, Path]], Any],
    error: type[Exception],
    match: str,
    bad_ctx: dict[str, Path],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        with pytest.raises(error, match=match):
            call(bad_ctx)


def test_error_messages_name_the_file(bad_ctx: dict[str, Path]) -> None:
    with pytest.raises(InputError) as exc:
        load_masks(bad_ctx["pt"])
    assert str(bad_ctx["pt"]) in str(exc.value)
    with pytest.raises(GeometryError) as gexc:
        _for_mismatch(bad_ctx)
    assert str(bad_ctx["rs"]) in str(gexc.value) and "'box'" in str(gexc.value)
