"""``netdose prrt cycle / history`` end to end on the PRRT phantom: organ TIA and dose against
the phantom's truth, the therapy record over four cycles, counts calibration, and the table of
bad cycle files (exit 2, the key named, nothing written)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from netdose_phantoms.prrt_patient import prrt_patient

from netdose.io.volume import read_volume, write_volume
from netdose.nuclides import get_nuclide
from netdose.prrt.cycle import load_cycle, run_cycle

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "prrt_cycle_phantom.toml"




@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example cycle file next to the noise-free, unblurred PRRT phantom."""
    r = tmp_path_factory.mktemp("prrt-cycle")
    prrt_patient().write_nifti(r / "prrt-phantom" / "nifti")
    (r / "cycle.toml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return r


def _variant(root: Path, name: str, *edits: tuple[str, str]) -> Path:
    text = (root / "cycle.toml").read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    p = root / name
    p.write_text(text, encoding="utf-8")
    return p


SAME_KERNEL = (('density = "ct"', 'density = "constant"'),)


def test_phantom_organ_tia_within_1pct_and_dose_within_3pct_of_truth(root):
    """Issue acceptance: noise-free, unblurred; doses against the truth computed with the same
    kernel (the phantom's reference: DVK, uniform 1.04 g/cm3)."""
    spec = load_cycle(_variant(root, "same_kernel.toml", *SAME_KERNEL))
    report = run_cycle(spec)
    truth = json.loads((root / "prrt-phantom/nifti/truth.json").read_text())
    ref = truth["reference_dose"]["dvk"]["organ_mean_gy"]
    for row in report.organ_rows:
        organ = row["organ"]
        assert row["tia_mbq_h"] == pytest.approx(truth["organs"][organ]["tia_mbq_h"], rel=0.01)
        assert row["mean_dose_gy"] == pytest.approx(ref[organ], rel=0.03), organ
    # Registration of identical CTs: identity within 0.05 mm, overlap ~1.
    for reg in report.summary["registration"]:
        if not reg.get("reference"):
            assert max(abs(v) for v in reg["translation_mm"]) < 0.05
            assert reg["bone_dice"] > 0.99
    kid = {r["organ"]: r for r in report.organ_rows}["kidney_left"]
    # BED from the kidney parameters (2.6 Gy, 2.8 h) and this cycle's effective half-life.
    lam, mu = math.log(2) / kid["effective_half_life_h"], math.log(2) / 2.8
    d = kid["mean_dose_gy"]
    assert kid["bed_gy"] == pytest.approx(d * (1 + d / 2.6 * lam / (mu + lam)), rel=1e-9)


def test_per_voxel_fit_recovers_organs_without_uptake_phase(root):
    """The per-voxel mono-exponential fit on the same phantom: kidneys (uptake
    complete before 4 h) within 3 %; lesions with a 6 h uptake phase are underestimated
    (documented in docs/physics.md, PRRT section)."""
    spec = load_cycle(_variant(root, "voxel_fit.toml",
                               ('density = "ct"', 'density = "constant"'),
                               ('voxel_tia = "voi-scaled"', 'voxel_tia = "fit"')))
    report = run_cycle(spec)
    truth = json.loads((root / "prrt-phantom/nifti/truth.json").read_text())
    ref = truth["reference_dose"]["dvk"]["organ_mean_gy"]
    rows = {r["organ"]: r for r in report.organ_rows}
    for organ in ("kidney_left", "kidney_right", "liver", "spleen"):
        assert rows[organ]["mean_dose_gy"] == pytest.approx(ref[organ], rel=0.03), organ
    for organ in ("tumour_1", "tumour_2", "tumour_3"):
        assert 0.85 < rows[organ]["mean_dose_gy"] / ref[organ] < 1.0


def test_four_cycles_in_the_record_sum_their_beds(root, tmp_path, run_cli):
    db = tmp_path / "therapy.sqlite"
    per_cycle = []
    for n in (1, 2, 3, 4):
        # Cycles a month apart (the record refuses cycles out of time order).
        cyc = _variant(root, f"c{n}.toml", ("number = 1", f"number = {n}"),
                       ("2026-03-", f"2026-{2 + n:02d}-"),
                       ('method = "dvk"', 'method = "ldm"'),
                       ('method = "rigid"', 'method = "none"'))
        code, out, err = run_cli(["prrt", "cycle", str(cyc), "-o", str(tmp_path / f"o{n}"),
                                  "--db", str(db), "--json"])
        assert code == 0, err
        r = json.loads(out)
        per_cycle.append({x["organ"]: x for x in r["organs"]})
        if n < 4:
            assert r["next_cycle"]["activity_gbq"] > 0
        else:
            assert r["next_cycle"] is None
    code, out, err = run_cli(["prrt", "history", "prrt-phantom", "--db", str(db), "--json"])
    assert code == 0, err
    hist = json.loads(out)
    cum = {c["organ"]: c for c in hist["cumulative"]}
    for organ in ("kidney_left", "kidney_right"):
        assert cum[organ]["cumulative_bed_gy"] == pytest.approx(
            sum(c[organ]["bed_gy"] for c in per_cycle), rel=1e-12)
        assert cum[organ]["cumulative_dose_gy"] == pytest.approx(
            sum(c[organ]["mean_dose_gy"] for c in per_cycle), rel=1e-12)
    # The same cycle again is refused unless --replace.
    code, _, err = run_cli(["prrt", "cycle", str(root / "c2.toml"), "-o", str(tmp_path / "x"),
                            "--db", str(db)])
    assert code == 2 and "already in the record" in err and not (tmp_path / "x").exists()
    code, out, _ = run_cli(["prrt", "history", "prrt-phantom", "--db", str(db)])
    assert code == 0 and "kidney_left" in out


def test_counts_with_calibration_give_the_same_tia(root, tmp_path):
    """A counts image (cps/MBq x frame duration, decay during the frame) gives the Bq/mL
    result back."""
    cal, frame_s = 5.67, 1800.0
    lam = math.log(2) / get_nuclide("Lu-177").half_life_s
    text = (root / "cycle.toml").read_text()
    for label in ("t004h", "t024h", "t096h", "t168h"):
        img = read_volume(root / f"prrt-phantom/nifti/{label}_activity_bq_ml.nii.gz")
        mbq = img.array.astype(np.float64) * img.voxel_volume_ml / 1e6
        counts = mbq * cal * (1 - math.exp(-lam * frame_s)) / lam
        write_volume(img.with_array(counts.astype(np.float32)), tmp_path / f"{label}.nii.gz")
        text = text.replace(f'spect = "prrt-phantom/nifti/{label}_activity_bq_ml.nii.gz"',
                            f'spect = "{tmp_path / label}.nii.gz"')
    text = text.replace('units = "bq_ml"', 'units = "counts"\ncalibration_cps_per_mbq = 5.67\n'
                        'frame_duration_s = 1800')
    text = text.replace('method = "dvk"', 'method = "ldm"')
    (root / "counts.toml").write_text(text)
    a = run_cycle(load_cycle(root / "counts.toml"))
    b = run_cycle(load_cycle(_variant(root, "bqml_ldm.toml", ('method = "dvk"', 'method = "ldm"'))))
    for ra, rb in zip(a.organ_rows, b.organ_rows):
        assert ra["tia_mbq_h"] == pytest.approx(rb["tia_mbq_h"], rel=1e-4)


BAD = [
    ("time point before injection", ("datetime = 2026-03-02T13:00:00+01:00",
                                     "datetime = 2026-03-02T08:00:00+01:00"),
     r"timepoints\[0\]\.datetime: .* is not after the injection"),
    ("calibration factor 0", ('units = "bq_ml"\n\n[[timepoints]]\nspect = "prrt-phantom/nifti/t024h',
                              ('units = "counts"\ncalibration_cps_per_mbq = 0.0\nframe_duration_s '
                              '= 1800\n\n[[timepoints]]\nspect = "prrt-phantom/nifti/t024h')),
     r"calibration_cps_per_mbq: .*> 0"),
    ("single time point without a method", None, (r"kinetics\.single_time_point: there is one "
     r"time point")),
    ("masks that miss the SPECT", ('file = "prrt-phantom/nifti/labels.nii.gz"',
                                   'file = "far_labels.nii.gz"'),
     r"no mask of .*far_labels.nii.gz overlaps the image"),
    ("unknown organ mask", ('spleen = "spleen"', 'spleen = "spleen_x"'), r"spleen_x"),
    ("naive injection time", ("injection_datetime = 2026-03-02T09:00:00+01:00",
                              "injection_datetime = 2026-03-02T09:00:00"), r"no time zone"),
    ("GBq as MBq", ("injected_mbq = 7400.0", "injected_mbq = 7.4e6"), r"implausible"),
    ("misspelt key", ('voxel_tia = "voi-scaled"', 'voxel_tias = "fit"'),
     r"Did you mean 'voxel_tia'"),
    ("reference beyond the time points", ("reference = 2", "reference = 9"),
     r"registration\.reference: is 9, but there are 4 time points"),
]


def _single(root: Path) -> str:
    text = (root / "cycle.toml").read_text()
    head, _, rest = text.partition("[[timepoints]]")
    first, _, _ = rest.partition("[[timepoints]]")
    tail = text[text.index("[registration]"):]
    return head + "[[timepoints]]" + first + tail.replace("reference = 2", "reference = 1") \
        .replace("timepoint = 2", "timepoint = 1")


@pytest.mark.parametrize(("edit", "match"), [(e, m) for _, e, m in BAD],
                         ids=[i for i, _, _ in BAD])
def test_bad_cycle_file_exit_2_and_nothing_written(root, tmp_path, run_cli, edit, match):
    if not (root / "far_labels.nii.gz").exists():
        lab = read_volume(root / "prrt-phantom/nifti/labels.nii.gz")
        far = lab.with_array(lab.array)
        import dataclasses

        far = dataclasses.replace(far, origin_mm=(5000.0, 5000.0, 5000.0))
        write_volume(far, root / "far_labels.nii.gz")
    if edit is None:
        p = root / "single.toml"
        p.write_text(_single(root))
    else:
        p = _variant(root, f"bad_{abs(hash(edit))}.toml", edit)
    out = tmp_path / "o"
    db = tmp_path / "db.sqlite"
    code, _, err = run_cli(["prrt", "cycle", str(p), "-o", str(out), "--db", str(db)])
    assert code == 2, err
    assert err.startswith("netdose: error:") and len(err.strip().splitlines()) == 1
    assert re.search(match, err), err
    assert not out.exists() or not any(out.iterdir())


def test_single_time_point_haenscheid(root):
    text = _single(root).replace("[kinetics]", '[kinetics]\nsingle_time_point = "haenscheid"')
    text = text.replace("t004h", "t096h").replace("2026-03-02T13:00:00", "2026-03-06T09:00:00")
    (root / "stp.toml").write_text(text)
    report = run_cycle(load_cycle(root / "stp.toml"))
    truth = json.loads((root / "prrt-phantom/nifti/truth.json").read_text())
    kid = {r["organ"]: r for r in report.organ_rows}["kidney_left"]
    a96 = truth["organs"]["kidney_left"]["activity_mbq"][2]
    assert kid["tia_mbq_h"] == pytest.approx(a96 * 2 * 96 / math.log(2), rel=1e-6)
    # Hänscheid at 96 h for a 50 h effective half-life: within ~6 % of the truth.
    assert kid["tia_mbq_h"] == pytest.approx(truth["organs"]["kidney_left"]["tia_mbq_h"],
                                             rel=0.08)
