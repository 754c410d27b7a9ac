"""Interfile 3.3 reader: round trips of every supported number format, geometry, zip
archives, the packaged Lu-177 DOTATATE files, and bad inputs from a parametrised table."""

from __future__ import annotations

import importlib.resources
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from netdose_phantoms.interfile import (
    parse_header,
    read_interfile,
    read_interfile_zip,
)

from netdose.errors import InputError

SHAPE_ZYX = (3, 4, 5)

#: A minimal valid header, as (key, value) lines in file order (values may be overridden).
BASE_KEYS: list[tuple[str, str]] = [
    ("!imaging modality", "nucmed"),
    ("!data offset in bytes", "0"),
    ("!name of data file", "vol.i33"),
    ("imagedata byte order", "LITTLEENDIAN"),
    ("!total number of images", "3"),
    ("!matrix size [1]", "5"),
    ("!matrix size [2]", "4"),
    ("!number format", "unsigned integer"),
    ("!number of bytes per pixel", "2"),
    ("scaling factor (mm/pixel) [1]", "2.0"),
    ("scaling factor (mm/pixel) [2]", "3.0"),
    ("!number of slices", "3"),
    ("slice thickness (pixels)", "2.5"),
]


def header_text(overrides: dict[str, str | None] | None = None, *, first: str = "!INTERFILE :=",
                end: bool = True, extra_lines: tuple[str, ...] = ()) -> str:
    """Header text from BASE_KEYS; ``overrides`` replaces values (None removes the key,
    new keys are appended)."""
    overrides = dict(overrides or {})
    lines = [first, "; a comment line"]
    for key, value in BASE_KEYS:
        if key in overrides:
            new = overrides.pop(key)
            if new is None:
                continue
            value = new
        lines.append(f"{key} := {value}")
    lines += [f"{k} := {v}" for k, v in overrides.items() if v is not None]
    lines += list(extra_lines)
    if end:
        lines.append("!END OF INTERFILE :=")
    return "\n".join(lines) + "\n"


def reference_array(dtype: str) -> np.ndarray:
    """A (z, y, x) array whose every voxel encodes its index: 100 z + 10 y + x."""
    z, y, x = np.indices(SHAPE_ZYX)
    return (100 * z + 10 * y + x).astype(dtype)


def write_pair(folder: Path, header: str, data: bytes, name: str = "vol") -> Path:
    hpath = folder / f"{name}.h33"
    hpath.write_text(header, encoding="latin-1")
    (folder / f"{name}.i33").write_bytes(data)
    return hpath


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize(
    ("number_format", "nbytes", "order", "dtype"),
    [
        ("unsigned integer", 1, "LITTLEENDIAN", "u1"),
        ("unsigned integer", 2, "LITTLEENDIAN", "<u2"),
        ("unsigned integer", 2, "BIGENDIAN", ">u2"),
        ("signed integer", 2, "BIGENDIAN", ">i2"),
        ("signed integer", 4, "LITTLEENDIAN", "<i4"),
        ("short float", 4, "LITTLEENDIAN", "<f4"),
        ("long float", 8, "BIGENDIAN", ">f8"),
        ("float", 4, "BIGENDIAN", ">f4"),
    ],
)
def test_round_trip_every_number_format(tmp_path: Path, number_format: str, nbytes: int,
                                        order: str, dtype: str) -> None:
    ref = reference_array(dtype)
    if ref.dtype.kind == "i":
        ref = (ref - 150).astype(dtype)  # negative values too
    header = header_text({"!number format": number_format,
                          "!number of bytes per pixel": str(nbytes),
                          "imagedata byte order": order})
    vol = read_interfile(write_pair(tmp_path, header, ref.tobytes()))
    assert vol.array.shape == SHAPE_ZYX
    assert vol.array.dtype == ref.dtype.newbyteorder("=")
    np.testing.assert_array_equal(vol.array, ref)
    assert not vol.array.flags.writeable
    # x runs fastest in the file: voxel (z=2, y=3, x=4) is the last one written
    assert vol.array[2, 3, 4] == ref.ravel()[-1]


def test_x_fastest_then_y_then_z(tmp_path: Path) -> None:
    data = np.arange(60, dtype="<u2")  # file order
    vol = read_interfile(write_pair(tmp_path, header_text(), data.tobytes()))
    assert vol.array[0, 0, 1] == 1  # next x
    assert vol.array[0, 1, 0] == 5  # next row: matrix size [1] = 5 columns later
    assert vol.array[1, 0, 0] == 20  # next slice: 5 x 4 later


def test_offsets_in_bytes_and_blocks(tmp_path: Path) -> None:
    ref = reference_array("<u2")
    junk = b"\xff" * 16
    vol = read_interfile(write_pair(tmp_path, header_text({"!data offset in bytes": "16"}),
                                    junk + ref.tobytes()))
    np.testing.assert_array_equal(vol.array, ref)
    header = header_text({"!data offset in bytes": None, "data starting block": "1",
                          "!name of data file": "blk.i33"})
    vol = read_interfile(write_pair(tmp_path, header, b"\0" * 2048 + ref.tobytes(), "blk"))
    np.testing.assert_array_equal(vol.array, ref)
    assert vol.header.data_offset_bytes == 2048


def test_byte_order_defaults_to_big_endian(tmp_path: Path) -> None:
    ref = reference_array(">u2")
    vol = read_interfile(write_pair(tmp_path, header_text({"imagedata byte order": None}),
                                    ref.tobytes()))
    np.testing.assert_array_equal(vol.array, ref)
    assert vol.header.byte_order_stated is False
    assert vol.header.facts()["dtype"] == ">u2"


def test_slice_thickness_units(tmp_path: Path) -> None:
    data = reference_array("<u2").tobytes()
    hpath = write_pair(tmp_path, header_text(), data)
    # Interfile 3.3: slice thickness in pixels = multiples of scaling factor [1]
    assert read_interfile(hpath).spacing_mm == (2.0, 3.0, 5.0)
    assert read_interfile(hpath, slice_thickness_unit="mm").spacing_mm == (2.0, 3.0, 2.5)
    # an explicit "(mm)" key needs no choice
    mm = header_text({"slice thickness (pixels)": None, "slice thickness (mm)": "4.0",
                      "!name of data file": "mm.i33"})
    vol = read_interfile(write_pair(tmp_path, mm, data, "mm"))
    assert vol.spacing_mm == (2.0, 3.0, 4.0)
    assert vol.header.slice_thickness_key_unit == "mm"
    with pytest.raises(InputError, match="slice_thickness_unit must be"):
        read_interfile(hpath, slice_thickness_unit="cm")  # type: ignore[arg-type]


def test_keys_are_case_and_blank_insensitive() -> None:
    text = header_text().replace("!matrix size [1]", "Matrix   Size[1]").replace(
        "!number format", "!NUMBER FORMAT")
    header = parse_header(text, "h.h33")
    assert header.matrix_size_xyz == (5, 4, 3)
    assert header.keys["matrix size [1]"] == "5"
    assert header.keys["imaging modality"] == "nucmed"


def test_to_image_geometry(tmp_path: Path) -> None:
    vol = read_interfile(write_pair(tmp_path, header_text(), reference_array("<u2").tobytes()))
    img = vol.to_image()
    assert img.spacing_mm == (2.0, 3.0, 5.0)
    # centred field of view: the middle of the index range is at (0, 0, 0)
    np.testing.assert_allclose(img.physical_points(np.array([2.0, 1.5, 1.0])), 0.0, atol=1e-12)
    flip = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0)
    img2 = vol.to_image(direction=flip, dtype=np.float32)
    assert img2.array.dtype == np.float32
    np.testing.assert_allclose(img2.physical_points(np.array([2.0, 1.5, 1.0])), 0.0, atol=1e-12)
    assert img2.meta["interfile"]["matrix_size_xyz"] == [5, 4, 3]


def test_zip_archive_matches_files(tmp_path: Path) -> None:
    ref = reference_array("<u2")
    hpath = write_pair(tmp_path, header_text(), ref.tobytes())
    archive = tmp_path / "pair.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(hpath, "sub/vol.h33")
        zf.write(tmp_path / "vol.i33", "sub/vol.i33")
    vol = read_interfile_zip(archive, "sub/vol.h33")
    np.testing.assert_array_equal(vol.array, read_interfile(hpath).array)
    assert "pair.zip!sub/vol.h33" in vol.header.source
    with pytest.raises(InputError, match=r"no member 'vol\.h33'"):
        read_interfile_zip(archive, "vol.h33")
    with zipfile.ZipFile(tmp_path / "nodata.zip", "w") as zf:
        zf.write(hpath, "vol.h33")
    with pytest.raises(InputError, match=r"'!name of data file := vol\.i33' is not in the archive"):
        read_interfile_zip(tmp_path / "nodata.zip", "vol.h33")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot open the zip archive"):
        read_interfile_zip(tmp_path / "bad.zip", "vol.h33")


def test_packaged_lu_dotatate_files() -> None:
    """The shipped phantom headers: facts as documented, and the slice-thickness trap."""
    res = importlib.resources.files("netdose_phantoms.data").joinpath(
        "patient_LuDOTATATE_phantoms.zip")
    for member in ("patient15_LuDOTATATE_src.h33", "patient15_LuDOTATATE_attn.h33"):
        with res.open("rb") as fh:
            vol = read_interfile_zip(fh, member, name="pkg.zip")
        h = vol.header
        assert h.matrix_size_xyz == (108, 70, 90)
        assert h.dtype == np.dtype("<u2") and h.byte_order_stated
        assert h.pixel_size_mm == (3.9063, 3.9063)
        assert h.slice_thickness == 4.4196 and h.slice_thickness_key_unit == "pixels"
        assert h.data_offset_bytes == 0
        # read literally (pixels), the z spacing would be 17.3 mm: a 1.55 m tall volume
        assert vol.spacing_mm[2] == pytest.approx(4.4196 * 3.9063)
        assert h.spacing_mm("mm") == (3.9063, 3.9063, 4.4196)


# ------------------------------------------------------------------------------ bad inputs
def _missing_data(folder: Path) -> Path:
    hpath = write_pair(folder, header_text(), b"")
    (folder / "vol.i33").unlink()
    return hpath


def _pair(overrides: dict[str, str | None] | None = None, nbytes: int | None = None,
          **kw: object) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        data = reference_array("<u2").tobytes()
        if nbytes is not None:
            data = (data * 2)[:nbytes]
        return write_pair(folder, header_text(overrides, **kw), data)  # type: ignore[arg-type]
    return make


BAD_INPUTS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing data file", _missing_data,
     r"data file named by '!name of data file := vol\.i33' cannot be read"),
    ("data file too short", _pair(nbytes=100), r"has 100 bytes.*describes 120.*truncated"),
    ("data file too long", _pair(nbytes=122), r"has 122 bytes.*header does not match"),
    ("wrong matrix size", _pair({"!matrix size [1]": "6"}), r"describes 144"),
    ("unsupported number format: bit", _pair({"!number format": "bit"}),
     r"unsupported '!number format := bit'"),
    ("unsupported number format: ASCII", _pair({"!number format": "ASCII"}),
     r"unsupported '!number format := ascii'"),
    ("unsupported bytes per pixel", _pair({"!number of bytes per pixel": "3"}),
     r"unsigned integer' with '!number of bytes per pixel := 3' is not supported"),
    ("short float of 8 bytes", _pair({"!number format": "short float",
                                      "!number of bytes per pixel": "8"}), r"not supported"),
    ("missing matrix size", _pair({"!matrix size [2]": None}),
     r"required key '!matrix size \[2\]' is missing"),
    ("missing data file key", _pair({"!name of data file": None}),
     r"required key '!name of data file' is missing"),
    ("non-numeric matrix size", _pair({"!matrix size [1]": "five"}),
     r"'!matrix size \[1\]' must be a whole number; got 'five'"),
    ("zero matrix size", _pair({"!matrix size [1]": "0"}), r"must be positive"),
    ("zero pixel size", _pair({"scaling factor (mm/pixel) [1]": "0"}),
     r"'scaling factor \(mm/pixel\) \[1\]' must be a positive number"),
    ("no slice thickness", _pair({"slice thickness (pixels)": None}), r"no slice thickness"),
    ("no number of slices", _pair({"!number of slices": None, "!total number of images": None}),
     r"neither '!number of slices' nor"),
    ("slices disagree", _pair({"!total number of images": "4"}), r"disagree"),
    ("bad byte order", _pair({"imagedata byte order": "MIDDLEENDIAN"}),
     r"neither LITTLEENDIAN nor BIGENDIAN"),
    ("negative offset", _pair({"!data offset in bytes": "-4"}), r"must not be negative"),
    ("non-numeric offset", _pair({"!data offset in bytes": "x"}), r"whole number; got 'x'"),
    ("offset and block disagree", _pair({"data starting block": "1"}), r"disagree"),
    ("not an Interfile header", _pair(first="!SOMETHING :="), r"is not an Interfile header"),
    ("truncated header", _pair(end=False), r"no '!END OF INTERFILE :=' line"),
    ("conflicting duplicate key", _pair(extra_lines=("!matrix size [1] := 7",)),
     r"'!matrix size \[1\]' is given twice"),
    ("malformed line", _pair(extra_lines=("matrix size 3",)), r"is not a 'key := value' line"),
]


@pytest.mark.parametrize(("case", "make", "pattern"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_inputs(tmp_path: Path, case: str, make: Callable[[Path], Path], pattern: str) -> None:
    hpath = make(tmp_path)
    with pytest.raises(InputError, match=pattern) as info:
        read_interfile(hpath)
    # every message names the file it is about
    assert re.search(r"vol\.(h33|i33)", str(info.value)), str(info.value)


def test_unreadable_header(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the Interfile header"):
        read_interfile(tmp_path / "absent.h33")
