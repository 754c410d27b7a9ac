"""Shared fixtures: the public data vendored in tests/data (see each folder's SOURCE.md)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests with a fixed seed so that a submission's result is reproducible
# (locally they stay randomised and keep exploring; a failure prints the example to add).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: small public data sets with their SOURCE.md and licence."""
    return DATA_DIR


@pytest.fixture(scope="session")
def maa_dir() -> Path:
    """Real Tc-99m MAA SPECT (NRRD) and its 3D Slicer segmentation (.seg.nrrd)."""
    return DATA_DIR / "sirt-maa-sample"


@pytest.fixture(scope="session")
def totalseg_dir() -> Path:
    """A small real CT (3 mm) and its TotalSegmentator 'total' label map."""
    return DATA_DIR / "totalsegmentator-example"


@pytest.fixture(scope="session")
def dro_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 17 OncoRay/IBSI SUV digital reference objects, extracted once per session.

    Returns the folder holding DRO_list.csv and DRO_x_y/{PT,RS,mask}.
    """
    out = tmp_path_factory.mktemp("oncoray-suv-dro")
    with tarfile.open(DATA_DIR / "oncoray-suv-dro" / "oncoray-suv-dro.tar.xz") as tar:
        tar.extractall(out, filter="data")
    return out / "DRO"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run ``netdose ARGS`` in-process: ``run_cli([...]) -> (exit code, stdout, stderr)``."""
    from netdose_cli.main import main

    def _run(args: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(args)
        captured = capsys.readouterr()
        code = exc.value.code if isinstance(exc.value.code, int) else 1
        return code, captured.out, captured.err

    return _run
