"""Kernel-convolution dose against local deposition, energy conservation and the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from netdose_cli.main import main

from netdose.dosimetry import absorbed_dose, dose_dvk, dose_ldm
from netdose.image import Image
from netdose.kernels import voxel_kernel


def test_uniform_y90_far_from_edges_equals_ldm_within_half_a_percent():
    # A 44 mm cube of uniform Y-90 (max electron range 11 mm) at 4 mm voxels: at the centre
    # the DVK dose equals the LDM dose minus the bremsstrahlung the kernel lets escape
    # (0.42 % of the energy for Y-90).
    spacing = (4.0, 4.0, 4.0)
    tia = Image(np.full((11, 11, 11), 1.0e9), spacing)
    dvk = dose_dvk(tia, "Y-90")
    ldm = dose_ldm(tia, "Y-90")
    centre = (5, 5, 5)
    ratio = float(dvk.dose_gy.array[centre]) / float(ldm.dose_gy.array[centre])
    assert ratio == pytest.approx(1.0, abs=0.005)
    kernel = voxel_kernel("Y-90", spacing)
    assert ratio == pytest.approx(kernel.absorbed_in_kernel_fraction, rel=1e-4)


def test_dvk_conserves_energy_inside_a_padded_volume():
    # A point source in the middle of a volume larger than the kernel: total energy deposited
    # (dose x mass summed) = decays x kernel energy.
    spacing = (2.34, 2.34, 2.78)
    arr = np.zeros((15, 15, 15))
    arr[7, 7, 7] = 1.0e9  # Bq·s
    res = dose_dvk(Image(arr, spacing), "Lu-177", components=("electrons",))
    mass_kg = 1.04 * (2.34 * 2.34 * 2.78 * 1e-3) * 1e-3
    energy_j = float(np.sum(res.dose_gy.array, dtype=np.float64)) * mass_kg
    kernel = voxel_kernel("Lu-177", spacing, components=("electrons",))
    expected_j = 1.0e9 * kernel.kernel_energy_mev() * 1.602176634e-13
    assert energy_j == pytest.approx(expected_j, rel=1e-5)


def test_dvk_with_ct_scales_by_density():
    spacing = (4.42, 4.42, 4.42)
    tia = Image(np.full((9, 9, 9), 1.0e8), spacing)
    hu = np.zeros((9, 9, 9), dtype=np.float32)
    hu[0] = -1000.0
    ct = tia.with_array(hu)
    plain = dose_dvk(tia, "Y-90")
    corrected = dose_dvk(tia, "Y-90", ct=ct)
    # 0 HU -> 1.03 + (14 HU is 1.03 in the Schneider table; 0 HU lies on the -97..14 line).
    rho0 = 0.930486 + (0.0 + 97.0) / (14.0 + 97.0) * (1.03 - 0.930486)
    assert corrected.dose_gy.array[4, 4, 4] / plain.dose_gy.array[4, 4, 4] == pytest.approx(
        1.04 / rho0, rel=1e-5
    )


def test_activity_map_with_physical_kinetics_through_dvk():
    spacing = (4.0, 4.0, 4.0)
    img = Image(np.full((12, 12, 12), 1.0e6), spacing)  # 1 MBq/mL
    res = absorbed_dose(img, quantity="activity_bq_ml", nuclide="Y-90", method="dvk", kinetics="physical")
    # Centre of a 48 mm cube: 47.86 Gy per MBq/mL by LDM at 1.04 g/cm3, less 0.42 % escaping.
    ldm = absorbed_dose(img, quantity="activity_bq_ml", nuclide="Y-90", method="ldm", kinetics="physical")
    assert float(res.dose_gy.array[6, 6, 6]) == pytest.approx(float(ldm.dose_gy.array[6, 6, 6]), rel=0.005)
    assert res.constants["kernel"]["nuclide"] == "Y-90"


def _run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    cap = capsys.readouterr()
    return exc.value.code, cap.out, cap.err


def test_cli_kernel_json(tmp_path, capsys):
    out = tmp_path / "k.nii.gz"
    code, stdout, err = _run(["kernel", "Y-90", "--spacing", "4.42,4.42,4.42", "-o", str(out), "--json"], capsys)
    assert code == 0, err
    data = json.loads(stdout)
    assert data["self_mgy_per_mbq_s"] == pytest.approx(0.689, rel=0.03)  # Lanconelli 2012
    assert 0.99 < data["absorbed_in_kernel_fraction"] <= 1.0
    img = sitk.ReadImage(str(out))
    arr = sitk.GetArrayFromImage(img)
    c = tuple(s // 2 for s in arr.shape)
    assert arr[c] == arr.max()


def test_cli_dose_ldm_and_dvk(tmp_path, capsys):
    arr = np.zeros((10, 10, 10), dtype=np.float32)
    arr[3:7, 3:7, 3:7] = 2.0e5  # Bq/mL
    src = tmp_path / "act.nrrd"
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((4.0, 4.0, 4.0))
    sitk.WriteImage(img, str(src))
    for method in ("ldm", "dvk"):
        out = tmp_path / f"dose_{method}.nii.gz"
        code, stdout, err = _run(
            ["dose", str(src), "--nuclide", "Y-90", "--method", method, "--quantity", "activity_bq_ml",
             "--kinetics", "physical", "-o", str(out), "--rtdose", str(tmp_path / f"{method}.dcm"), "--json"],
            capsys,
        )
        assert code == 0, err
        data = json.loads(stdout)
        assert data["dose_max_gy"] > 0
        assert (tmp_path / f"{method}.dcm").exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["kernel", "Yx-90", "--spacing", "4"], "chemical element"),
        (["kernel", "Y-90", "--spacing", "4,0,4"], "positive"),
        (["kernel", "Y-90", "--spacing", "4,4"], "three voxel sizes"),
        (["kernel", "Y-90", "--spacing", "4", "--density", "-1"], "density"),
        (["dose", "ACT", "--nuclide", "Y-90", "--method", "ldm"], "--quantity"),
        (["dose", "ACT", "--nuclide", "Y-90", "--method", "mc", "--quantity", "tia_mbq_h"], "ldm.*dvk"),
        (["dose", "NEG", "--nuclide", "Y-90", "--method", "dvk", "--quantity", "tia_mbq_h"], "negative"),
        (["dose", "ACT", "--nuclide", "Y-90", "--method", "dvk", "--quantity", "activity_bq_ml"], "kinetics"),
        (["dose", "ACT", "--nuclide", "Y-90", "--method", "dvk", "--quantity", "tia_mbq_h", "--ct", "CT"],
         "not on the grid"),
    ],
)
def test_cli_dose_engine_bad_inputs(tmp_path, capsys, args, match):
    act = np.ones((6, 6, 6), dtype=np.float32)
    files = {}
    for key, arr, spacing in (("ACT", act, 4.0), ("NEG", act - 2.0, 4.0), ("CT", act * -1000.0, 3.0)):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing((spacing,) * 3)
        files[key] = tmp_path / f"{key.lower()}.nrrd"
        sitk.WriteImage(img, str(files[key]))
    args = [str(files.get(a, a)) if a in files else a for a in args]
    out = tmp_path / "out" / "result.nii.gz"
    code, _, err = _run(args + ["-o", str(out)], capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert re.search(match, err), err
    assert not out.exists()


_spacings = st.tuples(*[st.sampled_from([2.34, 2.78, 3.0, 4.42])] * 3)


@settings(max_examples=15, deadline=None)
@given(spacing=_spacings, seed=st.integers(0, 10_000), a=st.floats(0.1, 10.0), b=st.floats(0.1, 10.0))
def test_dvk_dose_is_linear(spacing, seed, a, b):
    rng = np.random.default_rng(seed)
    x = rng.random((9, 8, 7)) * (rng.random((9, 8, 7)) < 0.3) * 1e8
    y = rng.random((9, 8, 7)) * 1e8
    d = lambda arr: dose_dvk(Image(arr, spacing), "Y-90").dose_gy.array.astype(np.float64)
    lhs = d(a * x + b * y)
    rhs = a * d(x) + b * d(y)
    assert np.abs(lhs - rhs).max() <= 1e-5 * np.abs(lhs).max()


@settings(max_examples=15, deadline=None)
@given(spacing=_spacings, seed=st.integers(0, 10_000), axis=st.integers(0, 2))
def test_dvk_dose_mirrors_with_the_activity(spacing, seed, axis):
    # The kernel of any (non-cubic) box voxel is symmetric under each axis flip, so mirroring
    # the activity mirrors the dose.
    rng = np.random.default_rng(seed)
    x = rng.random((9, 8, 7)) * (rng.random((9, 8, 7)) < 0.5) * 1e8
    d = lambda arr: dose_dvk(Image(arr, spacing), "Lu-177").dose_gy.array.astype(np.float64)
    direct = d(x)
    mirrored = np.flip(d(np.flip(x, axis=axis).copy()), axis=axis)
    assert np.abs(direct - mirrored).max() <= 1e-5 * direct.max()
