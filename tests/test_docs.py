"""The documentation stays true: the README starts with the two set-up commands, the command
reference is generated from the current command line, and every example file loads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from netdose.prrt.cycle import load_cycle
from netdose.response.case import load_case
from netdose.sirt.plan import load_plan, load_post

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert block == ["pip install . && netdose demo", "pip install '.[test]' && pytest"]


def test_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts/gen_cli_reference.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs/cli-reference.md").read_text(encoding="utf-8") == gen.render(), (
        "docs/cli-reference.md is stale: run python scripts/gen_cli_reference.py")


def test_real_maa_example_plan_loads():
    spec = load_plan(ROOT / "docs/examples/sirt_plan_maa_sample.toml")
    assert spec.maa_path.is_file() and spec.methods[0] == "partition"


@pytest.mark.parametrize(("name", "loader", "needs"), [
    ("sirt_plan_phantom.toml", load_plan, "sirt-phantom"),
    ("sirt_post_phantom.toml", load_post, "sirt-phantom"),
    ("prrt_cycle_phantom.toml", load_cycle, "prrt-phantom"),
])
def test_phantom_examples_load_next_to_their_phantom(tmp_path, name, loader, needs):
    """The phantom examples refer to a phantom made next to them (as their comments say)."""
    from netdose_phantoms.prrt_patient import prrt_patient
    from netdose_phantoms.sirt_liver import sirt_liver

    (tmp_path / name).write_text((ROOT / "docs/examples" / name).read_text(encoding="utf-8"))
    if needs == "sirt-phantom":
        sirt_liver().write_nifti(tmp_path / "sirt-phantom" / "nifti")
        (tmp_path / "y90_pet.nii.gz").write_bytes(
            (tmp_path / "sirt-phantom/nifti/activity.nii.gz").read_bytes())
        (tmp_path / "plan-out").mkdir()
        (tmp_path / "plan-out/plan.json").write_text("{}")
    else:
        prrt_patient().write_nifti(tmp_path / "prrt-phantom" / "nifti")
    loader(tmp_path / name)


def test_response_example_loads():
    case = load_case(ROOT / "docs/examples/response_case.json")
    assert len(case.timepoints) == 3
