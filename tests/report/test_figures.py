"""Report figures: valid, deterministic PNGs; contours drawn; orientation independent of
how the array is stored; bad inputs refused; and the blank-screenshot check of
scripts/screenshot_reports.py."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from netdose.dosimetry.dvh import dvh
from netdose.errors import GeometryError, InputError
from netdose.image import Image
from netdose.report import figures as F

PNG = b"\x89PNG\r\n\x1a\n"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshot_reports.py"


def decode(png: bytes) -> np.ndarray:
    return np.asarray(imread(io.BytesIO(png), format="png"))


def blob_image(shape=(16, 24, 32), spacing=(3.0, 3.0, 4.0), centre=(8, 12, 24),
               radius=4.0) -> tuple[Image, Image, Image]:
    """Background with a bright ball at ``centre`` (z, y, x), a dose overlay peaked there and
    a spherical mask around it."""
    z, y, x = np.indices(shape)
    r2 = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
    bg = (10.0 + 100.0 * (r2 <= radius**2)).astype(np.float32)
    dose = (200.0 * np.exp(-r2 / (2 * radius**2))).astype(np.float32)
    img = Image(bg, spacing)
    return img, img.with_array(dose), img.with_array(r2 <= (radius + 1) ** 2)


def near_colour(rgb: np.ndarray, hex_colour: str, tol: float = 0.08) -> np.ndarray:
    target = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.all(np.abs(rgb[..., :3] - target) < tol, axis=-1)


# --------------------------------------------------------------------------- image panels
def test_slice_panel_is_a_deterministic_non_uniform_png():
    img, dose, mask = blob_image()
    a = F.slice_panel(img, dose, {"ball": mask}, kind="axial")
    b = F.slice_panel(img, dose, {"ball": mask}, kind="axial")
    assert a.startswith(PNG) and len(a) > 1000
    assert a == b
    pix = decode(a)
    assert pix.ndim == 3 and pix[..., :3].std() > 0.05


@pytest.mark.parametrize("kind", ["axial", "coronal", "sagittal"])
def test_mask_contour_is_drawn(kind):
    """Without overlay the picture is grey (and white around it); the mask adds contour
    pixels of the first palette colour."""
    img, _, mask = blob_image()
    plain = decode(F.slice_panel(img, kind=kind, index=(8, 12, 24)[("axial", "coronal",
                                                                     "sagittal").index(kind)]))
    with_mask = decode(F.slice_panel(img, None, {"ball": mask}, kind=kind))
    assert near_colour(plain, F.PALETTE[0]).sum() == 0
    assert near_colour(with_mask, F.PALETTE[0]).sum() > 50


def test_slice_through_a_point_equals_the_slice_by_index():
    img, dose, _ = blob_image()
    point = img.physical_points(np.array([24.0, 12.0, 8.0]))  # (x, y, z) index of the centre
    by_point = F.slice_panel(img, dose, kind="coronal", through_lps_mm=point)
    by_index = F.slice_panel(img, dose, kind="coronal", index=12)
    by_default = F.slice_panel(img, dose, kind="coronal")  # through the overlay maximum
    assert by_point == by_index == by_default


def test_patient_left_is_on_the_right_of_an_axial_picture():
    """LPS: x grows to the patient's left; radiological display puts it on the right."""
    img, _, _ = blob_image(centre=(8, 12, 26))
    pix = decode(F.slice_panel(img, kind="axial", index=8))
    bright = np.all(pix[..., :3] > 0.95, axis=-1)
    dark = np.all(pix[..., :3] < 0.2, axis=-1)  # the background of the image area
    cols = np.nonzero(dark.any(axis=0))[0]
    image_centre = (cols.min() + cols.max()) / 2
    ball_cols = np.nonzero((bright & dark.any(axis=0)[None, :]).any(axis=0))[0]
    assert ball_cols.mean() > image_centre


def test_storage_order_does_not_change_the_picture():
    """The same patient stored with flipped or permuted axes gives the same picture."""
    img, _, _ = blob_image(centre=(5, 9, 20))
    nz, _, nx = img.shape
    flipped = Image(img.array[::-1, :, ::-1], img.spacing_mm,
                    tuple(img.physical_points(np.array([nx - 1.0, 0.0, nz - 1.0]))),
                    (-1.0, 0, 0, 0, 1.0, 0, 0, 0, -1.0))
    # index x along P and index y along L: swap the array's last two axes
    swapped = Image(np.swapaxes(img.array, 1, 2),
                    (img.spacing_mm[1], img.spacing_mm[0], img.spacing_mm[2]), img.origin_mm,
                    (0, 1.0, 0, 1.0, 0, 0, 0, 0, 1.0))
    for kind in ("axial", "coronal", "sagittal"):
        ref = F.slice_panel(img, kind=kind, index={"axial": 5, "coronal": 9,
                                                   "sagittal": 20}[kind])
        f_idx = {"axial": 5, "coronal": 9, "sagittal": 20}[kind]
        assert F.slice_panel(flipped, kind=kind, index=f_idx) == ref
        assert F.slice_panel(swapped, kind=kind, index=f_idx) == ref
        point = img.physical_points(np.array([20.0, 9.0, 5.0]))
        assert F.slice_panel(flipped, kind=kind, through_lps_mm=point) == ref


def test_crop_and_mark_change_the_picture_and_mark_needs_the_slice():
    img, dose, mask = blob_image(shape=(16, 40, 48))
    full = F.slice_panel(img, dose, {"ball": mask})
    cropped = F.slice_panel(img, dose, {"ball": mask}, crop_margin_mm=5.0)
    assert cropped != full
    centre = img.physical_points(np.array([24.0, 12.0, 8.0]))
    marked = F.slice_panel(img, dose, {"ball": mask}, mark_lps_mm=centre)
    assert marked != full


def test_mip_panel_draws_the_projected_contour():
    img, _, mask = blob_image()
    plain = decode(F.mip_panel(img, axis="coronal"))
    with_mask = F.mip_panel(img, {"ball": mask}, axis="coronal", label="counts")
    assert with_mask.startswith(PNG)
    assert with_mask == F.mip_panel(img, {"ball": mask}, axis="coronal", label="counts")
    assert near_colour(plain, F.PALETTE[0]).sum() == 0
    assert near_colour(decode(with_mask), F.PALETTE[0]).sum() > 50


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"kind": "oblique"}, InputError, "slice kind 'oblique' is not one of"),
    ({"index": 99}, InputError, "axial slice index 99 is outside 0..15"),
    ({"index": 3, "through_lps_mm": (0, 0, 0)}, InputError, "give index or through_lps_mm"),
    ({"through_lps_mm": (1e4, 0, 0)}, InputError, "outside the image"),
    ({"through_lps_mm": (0, 0)}, InputError, "must be 3 numbers"),
    ({"crop_margin_mm": -1.0, "masks": "ball"}, InputError, "crop_margin_mm must be >= 0"),
])
def test_slice_panel_refuses_bad_requests(kwargs, error, match):
    img, _, mask = blob_image()
    if kwargs.get("masks") == "ball":
        kwargs["masks"] = {"ball": mask}
    with pytest.raises(error, match=match):
        F.slice_panel(img, **kwargs)


def test_overlay_and_masks_must_be_on_the_image_grid():
    img, dose, _ = blob_image()
    other = Image(np.zeros((16, 24, 32), np.float32), (2.0, 3.0, 4.0))
    with pytest.raises(GeometryError):
        F.slice_panel(img, other)
    with pytest.raises(GeometryError):
        F.mip_panel(img, {"m": other.with_array(np.zeros((16, 24, 32), bool))})
    with pytest.raises(InputError, match="mask 'float' must be boolean"):
        F.slice_panel(img, masks={"float": dose})
    nan = dose.with_array(np.full(dose.shape, np.nan, np.float32))
    with pytest.raises(InputError, match="NaN or infinite"):
        F.slice_panel(img, nan)


# --------------------------------------------------------------------------- plots
def test_dvh_plot():
    img, dose, mask = blob_image()
    dvhs = {"ball": dvh(dose, mask, name="ball"),
            "all": dvh(dose, img.with_array(np.ones(img.shape, bool)), name="all")}
    a = F.dvh_plot(dvhs, [100.0, (150.0, "ball D70 >= 150 Gy")])
    assert a.startswith(PNG) and a == F.dvh_plot(dvhs, [100.0, (150.0, "ball D70 >= 150 Gy")])
    assert a != F.dvh_plot(dvhs)
    assert decode(a)[..., :3].std() > 0.05
    with pytest.raises(InputError, match="at least one DVH"):
        F.dvh_plot({})
    with pytest.raises(InputError, match="'x' is not a DVH"):
        F.dvh_plot({"x": [1, 2]})  # type: ignore[dict-item]
    with pytest.raises(InputError, match="not a finite dose"):
        F.dvh_plot(dvhs, [float("nan")])


def test_tac_plot_with_fit_callable_and_shade():
    t = np.array([4.0, 24.0, 96.0, 168.0])
    series = [{"name": "kidney", "times_h": t, "values": 50 * np.exp(-0.01 * t),
               "fit_t": np.linspace(0, 200, 50), "fit_values": lambda x: 50 * np.exp(-0.01 * x),
               "shade": True},
              {"name": "tumour", "times_h": t, "values": [10, 30, 25, 15]}]
    a = F.tac_plot(series)
    assert a.startswith(PNG) and a == F.tac_plot(series)
    assert a != F.tac_plot([{**series[0], "shade": False}, series[1]])
    assert F.tac_plot(series, log_y=True).startswith(PNG)


@pytest.mark.parametrize(("series", "match"), [
    ([], "at least one series"),
    ([{"name": "k", "times_h": [1, 2]}], "needs the key 'values'"),
    ([{"name": "k", "times_h": [1, 2], "values": [1]}], "same length"),
    ([{"name": "k", "times_h": [1, 2], "values": [1, np.nan]}], "NaN or infinite"),
    ([{"name": "k", "times_h": [1, 2], "values": [1, 2], "fit_t": [0, 1]}],
     "fit_t given without fit_values"),
    ([{"name": "k", "times_h": [1, 2], "values": [1, 2], "fit_t": [0, 1],
       "fit_values": [1, 2, 3]}], "fit_values has shape"),
])
def test_tac_plot_refuses_bad_series(series, match):
    with pytest.raises(InputError, match=match):
        F.tac_plot(series)


def test_waterfall_and_spider_plots():
    changes = {"L1": -45.0, "L2": 25.0, "L3": -10.0, "N1": -100.0}
    w = F.waterfall_plot(changes)
    assert w.startswith(PNG) and w == F.waterfall_plot(dict(reversed(list(changes.items()))))
    s = F.spider_plot({"L1": ([0, 8, 16], [0, -20, -45]), "L2": ([0, 8], [0, 25])})
    assert s.startswith(PNG) and decode(s)[..., :3].std() > 0.05
    with pytest.raises(InputError, match="thresholds must be"):
        F.waterfall_plot(changes, thresholds=(20, -30))
    with pytest.raises(InputError, match="at least one lesion"):
        F.waterfall_plot({})
    with pytest.raises(InputError, match="must be \\(times, values\\)"):
        F.spider_plot({"L1": [0, 1, 2]})  # type: ignore[dict-item]
    with pytest.raises(InputError, match="same length"):
        F.spider_plot({"L1": ([0, 1], [0])})


def test_importing_figures_leaves_pyplot_and_the_backend_alone():
    # rcParams read with dict methods: RcParams.__getitem__("backend") would resolve (and
    # import) a backend itself.
    code = ("import matplotlib, sys; rc = matplotlib.rcParams; "
            "snap = lambda: {k: dict.__getitem__(rc, k) for k in dict.keys(rc)}; "
            "before = snap(); import netdose.report.figures, netdose.report.sirt; "
            "print('matplotlib.pyplot' in sys.modules, snap() == before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


# --------------------------------------------------------------------------- screenshot check
def load_script():
    spec = importlib.util.spec_from_file_location("screenshot_reports", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_blank_detection_tells_a_white_page_from_a_rendered_figure():
    mod = load_script()
    white = Figure(figsize=(4, 3), dpi=50, facecolor="white")
    buf = io.BytesIO()
    white.savefig(buf, format="png")
    reason = mod.blank_reason(buf.getvalue())
    assert reason is not None and "not white" in reason and "distinct colours" in reason
    img, dose, mask = blob_image()
    assert mod.blank_reason(F.slice_panel(img, dose, {"ball": mask})) is None
    assert mod.blank_reason(b"<html>") == "not a PNG file"
