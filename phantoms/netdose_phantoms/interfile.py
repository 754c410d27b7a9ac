"""A small, strict reader for Interfile 3.3 volumes (``.h33`` header + raw ``.i33`` data).

Interfile 3.3 (Todd-Pokropek, Cradduck & Deconinck, Eur J Nucl Med 1992; 19: 600-604) is a
text header of ``key := value`` lines in front of (or next to) raw voxel data. This reader
covers what single-volume phantom files use: matrix sizes, number format and byte order,
pixel size, slice thickness, data offset and the name of the data file. It refuses what it
does not understand rather than guess: every problem raises :class:`~netdose.errors.InputError`
naming the file and the key, and saying how to fix it.

Conventions:

- Keys are matched case-insensitively with the leading ``!`` (the "required key" mark) and
  repeated blanks removed: ``!matrix size [1]`` and ``Matrix Size [1]`` are the same key.
- ``matrix size [1]`` is the number of columns (x, fastest in the file), ``matrix size [2]``
  the number of rows (y); the slices follow each other (z, slowest). The array is returned
  indexed (z, y, x) in file order, without any flip: Interfile does not say which way the
  patient lies, so orientation is the caller's decision (see :meth:`InterfileVolume.to_image`).
- Interfile 3.3 gives the slice thickness in *pixels* (``slice thickness (pixels)``), i.e. as a
  multiple of ``scaling factor (mm/pixel) [1]``. Some writers put millimetres under that key
  (the Lu-177 DOTATATE patient phantom does: see docs/phantoms.md), so the unit is a
  parameter: ``slice_thickness_unit="pixels"`` (the standard, default) or ``"mm"``. A header
  with ``slice thickness (mm)`` is unambiguous and needs no choice.
- Byte order defaults to big-endian when the header does not give it, as Interfile 3.3
  specifies; the header facts record whether the order was stated or defaulted.
"""

from __future__ import annotations

import dataclasses
import math
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import IO, Literal

import numpy as np

from netdose.errors import InputError
from netdose.image import Image

__all__ = [
    "InterfileHeader",
    "InterfileVolume",
    "SliceThicknessUnit",
    "decode_data",
    "parse_header",
    "read_interfile",
    "read_interfile_zip",
]

SliceThicknessUnit = Literal["pixels", "mm"]

#: Interfile 3.3 "data starting block" unit, bytes.
_BLOCK_BYTES: int = 2048

#: (number format, bytes per pixel) -> numpy dtype character code (byte order added later).
_FORMATS: dict[tuple[str, int], str] = {
    ("unsigned integer", 1): "u1",
    ("unsigned integer", 2): "u2",
    ("unsigned integer", 4): "u4",
    ("signed integer", 1): "i1",
    ("signed integer", 2): "i2",
    ("signed integer", 4): "i4",
    ("short float", 4): "f4",
    ("long float", 8): "f8",
    ("float", 4): "f4",
    ("float", 8): "f8",
}

_BYTE_ORDERS: dict[str, str] = {"littleendian": "<", "bigendian": ">"}

_LINE = re.compile(r"^\s*(?P<key>[^:=;][^:]*?)\s*:=\s*(?P<value>.*?)\s*$")


def _norm_key(key: str) -> str:
    key = key.strip().lstrip("!").strip().lower()
    key = re.sub(r"\s+", " ", key)
    return re.sub(r"\s*\[\s*(\d+)\s*\]", r" [\1]", key)


@dataclasses.dataclass(frozen=True)
class InterfileHeader:
    """The facts of one Interfile 3.3 header that a volume reader needs.

    Attributes
    ----------
    source : str
        Where the header came from (path, or ``zip!member``), for messages.
    keys : Mapping[str, str]
        Every ``key := value`` of the header, keys normalised (lower case, no ``!``).
    data_file : str
        Value of ``name of data file`` (relative to the header's folder unless absolute).
    matrix_size_xyz : tuple of 3 int
        Columns (``matrix size [1]``), rows (``matrix size [2]``), slices.
    dtype : numpy.dtype
        Voxel type with its byte order.
    byte_order_stated : bool
        False when the header has no ``imagedata byte order`` and big-endian was assumed.
    pixel_size_mm : tuple of 2 float
        ``scaling factor (mm/pixel) [1]`` and ``[2]`` (x, y), mm.
    slice_thickness : float
        The value of the slice-thickness key, in ``slice_thickness_key_unit``.
    slice_thickness_key_unit : {"pixels", "mm"}
        The unit the key name states.
    data_offset_bytes : int
        Bytes to skip at the start of the data file.
    """

    source: str
    keys: Mapping[str, str]
    data_file: str
    matrix_size_xyz: tuple[int, int, int]
    dtype: np.dtype
    byte_order_stated: bool
    pixel_size_mm: tuple[float, float]
    slice_thickness: float
    slice_thickness_key_unit: SliceThicknessUnit
    data_offset_bytes: int

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """Array shape (z, y, x)."""
        nx, ny, nz = self.matrix_size_xyz
        return (nz, ny, nx)

    @property
    def data_bytes(self) -> int:
        """Bytes of voxel data the header announces (after the offset)."""
        return int(np.prod(self.matrix_size_xyz)) * self.dtype.itemsize

    def spacing_mm(
        self, slice_thickness_unit: SliceThicknessUnit = "pixels"
    ) -> tuple[float, float, float]:
        """Voxel spacing (x, y, z) in mm.

        Parameters
        ----------
        slice_thickness_unit : {"pixels", "mm"}
            How to read a ``slice thickness (pixels)`` key: as the standard says (a multiple
            of the x pixel size) or as millimetres (what some writers mean). Ignored when the
            header's key states mm.
        """
        if slice_thickness_unit not in ("pixels", "mm"):
            raise InputError(
                f"slice_thickness_unit must be 'pixels' or 'mm'; got {slice_thickness_unit!r}."
            )
        sx, sy = self.pixel_size_mm
        unit = "mm" if self.slice_thickness_key_unit == "mm" else slice_thickness_unit
        sz = self.slice_thickness if unit == "mm" else self.slice_thickness * sx
        return (sx, sy, sz)

    def facts(self) -> dict[str, object]:
        """JSON-ready summary (for provenance and truth files)."""
        return {
            "source": self.source,
            "data_file": self.data_file,
            "matrix_size_xyz": list(self.matrix_size_xyz),
            "dtype": self.dtype.str,
            "byte_order_stated": self.byte_order_stated,
            "pixel_size_mm": list(self.pixel_size_mm),
            "slice_thickness": self.slice_thickness,
            "slice_thickness_key_unit": self.slice_thickness_key_unit,
            "data_offset_bytes": self.data_offset_bytes,
        }


@dataclasses.dataclass(frozen=True, eq=False)
class InterfileVolume:
    """Voxel data with the header it came from.

    Attributes
    ----------
    header : InterfileHeader
    array : numpy.ndarray, shape (z, y, x)
        Voxels in file order and file type (native byte order), read-only.
    spacing_mm : tuple of 3 float
        (x, y, z) spacing chosen when reading (see ``slice_thickness_unit``).
    """

    header: InterfileHeader
    array: np.ndarray
    spacing_mm: tuple[float, float, float]

    def to_image(
        self,
        direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        origin_mm: tuple[float, float, float] | None = None,
        dtype: np.dtype | type | None = None,
    ) -> Image:
        """The volume as an :class:`~netdose.image.Image`.

        Parameters
        ----------
        direction : 9 floats
            Row-major direction matrix (columns = LPS directions of the x, y, z index axes).
            Interfile does not store it; identity by default.
        origin_mm : 3 floats, optional
            LPS position of voxel (0, 0, 0); by default the field of view is centred on
            (0, 0, 0).
        dtype : numpy dtype, optional
            Convert the voxel values (default: keep the file's type).
        """
        arr = self.array if dtype is None else self.array.astype(dtype)
        if origin_mm is None:
            dmat = np.asarray(direction, dtype=np.float64).reshape(3, 3)
            half = np.asarray(self.spacing_mm) * (np.asarray(self.header.matrix_size_xyz) - 1) / 2.0
            origin_mm = tuple(float(v) for v in -(dmat @ half))  # type: ignore[assignment]
        return Image(arr, self.spacing_mm, origin_mm, direction, {"interfile": self.header.facts()})


# ------------------------------------------------------------------------------ parsing
def _get(keys: Mapping[str, str], key: str, source: str) -> str:
    if key not in keys or keys[key] == "":
        raise InputError(
            f"Interfile header {source}: the required key '!{key}' is missing or empty. Add it "
            "to the header (Interfile 3.3), or re-export the volume with a writer that does."
        )
    return keys[key]


def _positive_int(keys: Mapping[str, str], key: str, source: str) -> int:
    raw = _get(keys, key, source)
    try:
        value = int(raw)
    except ValueError:
        raise InputError(
            f"Interfile header {source}: key '!{key}' must be a whole number; got {raw!r}."
        ) from None
    if value <= 0:
        raise InputError(f"Interfile header {source}: key '!{key}' must be positive; got {value}.")
    return value


def _positive_float(keys: Mapping[str, str], key: str, source: str) -> float:
    raw = _get(keys, key, source)
    try:
        value = float(raw)
    except ValueError:
        raise InputError(
            f"Interfile header {source}: key '{key}' must be a number; got {raw!r}."
        ) from None
    if not (math.isfinite(value) and value > 0.0):
        raise InputError(
            f"Interfile header {source}: key '{key}' must be a positive number; got {raw!r}."
        )
    return value


def parse_header(text: str, source: str = "<header>") -> InterfileHeader:
    """Parse the text of an Interfile 3.3 header.

    Parameters
    ----------
    text : str
        The header (``.h33``) as text.
    source : str
        Where it came from, used in messages.

    Returns
    -------
    InterfileHeader

    Raises
    ------
    InputError
        Not an Interfile header (first key must be ``!INTERFILE``), no ``!END OF INTERFILE``,
        a line that is not ``key := value``, a key repeated with different values, a
        required key missing or not a number, an unsupported number format, byte order or
        number of bytes per pixel.
    """
    lines = [ln for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    keys: dict[str, str] = {}
    first_key: str | None = None
    ended = False
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        m = _LINE.match(stripped)
        if m is None:
            raise InputError(
                f"Interfile header {source}, line {lineno}: {stripped!r} is not a "
                "'key := value' line. Fix or remove the line (comments start with ';')."
            )
        key = _norm_key(m.group("key"))
        value = m.group("value").split(";", 1)[0].strip()
        if first_key is None:
            first_key = key
        if key == "end of interfile":
            ended = True
            break
        if key in keys and keys[key] != value:
            raise InputError(
                f"Interfile header {source}, line {lineno}: key '!{key}' is given twice with "
                f"different values ({keys[key]!r} and {value!r}); keep one."
            )
        keys[key] = value
    if first_key != "interfile":
        raise InputError(
            f"{source} is not an Interfile header: its first key must be '!INTERFILE :='"
            + (f" (found '{first_key}')." if first_key else " (no keys found).")
        )
    if not ended:
        raise InputError(
            f"Interfile header {source} has no '!END OF INTERFILE :=' line: the header is "
            "truncated or not Interfile 3.3. Restore the full header."
        )

    data_file = _get(keys, "name of data file", source)
    nx = _positive_int(keys, "matrix size [1]", source)
    ny = _positive_int(keys, "matrix size [2]", source)
    n_slices: int | None = None
    for key in ("number of slices", "total number of images"):
        if key in keys:
            n = _positive_int(keys, key, source)
            if n_slices is not None and n != n_slices:
                raise InputError(
                    f"Interfile header {source}: '!number of slices' ({n_slices}) and "
                    f"'!total number of images' ({n}) disagree; a single volume needs both equal."
                )
            n_slices = n
    if n_slices is None:
        raise InputError(
            f"Interfile header {source}: neither '!number of slices' nor "
            "'!total number of images' is given; add the number of slices."
        )

    number_format = re.sub(r"\s+", " ", _get(keys, "number format", source).lower())
    nbytes = _positive_int(keys, "number of bytes per pixel", source)
    code = _FORMATS.get((number_format, nbytes))
    if code is None:
        known = sorted({f for f, _ in _FORMATS})
        if number_format in known:
            sizes = sorted(b for f, b in _FORMATS if f == number_format)
            raise InputError(
                f"Interfile header {source}: '!number format := {number_format}' with "
                f"'!number of bytes per pixel := {nbytes}' is not supported; this reader "
                f"handles {number_format} of {sizes} bytes."
            )
        raise InputError(
            f"Interfile header {source}: unsupported '!number format := {number_format}'; "
            f"this reader handles {', '.join(known)}. Convert the data to one of them."
        )
    if "imagedata byte order" in keys:
        order_raw = keys["imagedata byte order"].lower().replace(" ", "").replace("_", "")
        if order_raw not in _BYTE_ORDERS:
            raise InputError(
                f"Interfile header {source}: 'imagedata byte order := "
                f"{keys['imagedata byte order']}' is neither LITTLEENDIAN nor BIGENDIAN."
            )
        order, stated = _BYTE_ORDERS[order_raw], True
    else:
        order, stated = ">", False  # Interfile 3.3 default
    dtype = np.dtype(order + code) if nbytes > 1 else np.dtype(code)

    sx = _positive_float(keys, "scaling factor (mm/pixel) [1]", source)
    sy = _positive_float(keys, "scaling factor (mm/pixel) [2]", source)
    unit: SliceThicknessUnit
    if "slice thickness (mm)" in keys:
        thickness, unit = _positive_float(keys, "slice thickness (mm)", source), "mm"
    elif "slice thickness (pixels)" in keys:
        thickness, unit = _positive_float(keys, "slice thickness (pixels)", source), "pixels"
    else:
        raise InputError(
            f"Interfile header {source}: no slice thickness ('slice thickness (pixels)' or "
            "'slice thickness (mm)'); add it, the z spacing cannot be guessed."
        )

    offset = 0
    if "data offset in bytes" in keys:
        raw = keys["data offset in bytes"]
        try:
            offset = int(raw)
        except ValueError:
            raise InputError(
                f"Interfile header {source}: '!data offset in bytes' must be a whole number; "
                f"got {raw!r}."
            ) from None
    if "data starting block" in keys:
        raw = keys["data starting block"]
        try:
            block_offset = int(raw) * _BLOCK_BYTES
        except ValueError:
            raise InputError(
                f"Interfile header {source}: '!data starting block' must be a whole number; "
                f"got {raw!r}."
            ) from None
        if "data offset in bytes" in keys and block_offset != offset:
            raise InputError(
                f"Interfile header {source}: '!data offset in bytes' ({offset}) and "
                f"'!data starting block' ({raw} x {_BLOCK_BYTES} bytes) disagree; keep one."
            )
        offset = block_offset
    if offset < 0:
        raise InputError(
            f"Interfile header {source}: the data offset must not be negative; got {offset}."
        )

    return InterfileHeader(
        source=source,
        keys=MappingProxyType(keys),
        data_file=data_file,
        matrix_size_xyz=(nx, ny, n_slices),
        dtype=dtype,
        byte_order_stated=stated,
        pixel_size_mm=(sx, sy),
        slice_thickness=thickness,
        slice_thickness_key_unit=unit,
        data_offset_bytes=offset,
    )


def decode_data(header: InterfileHeader, data: bytes, data_source: str = "<data>") -> np.ndarray:
    """Voxel array (z, y, x) from the raw bytes of the data file.

    The file must hold exactly ``data offset + nx * ny * nz * bytes per pixel`` bytes:
    fewer means a truncated file, more means a header that does not describe the data
    (another matrix size or number format), and both are refused.

    Returns
    -------
    numpy.ndarray
        Read-only, native byte order, the file's number type.
    """
    expected = header.data_offset_bytes + header.data_bytes
    if len(data) != expected:
        nx, ny, nz = header.matrix_size_xyz
        raise InputError(
            f"Interfile data file {data_source} has {len(data)} bytes, but its header "
            f"{header.source} describes {expected} (offset {header.data_offset_bytes} + "
            f"{nx} x {ny} x {nz} voxels x {header.dtype.itemsize} bytes, keys '!matrix size', "
            "'!number of slices', '!number of bytes per pixel', '!data offset in bytes'). "
            + ("The file is truncated; copy it again." if len(data) < expected
               else "The header does not match this data file; check those keys.")
        )
    arr = np.frombuffer(data, dtype=header.dtype, count=int(np.prod(header.matrix_size_xyz)),
                        offset=header.data_offset_bytes)
    arr = arr.astype(header.dtype.newbyteorder("="), copy=True).reshape(header.shape_zyx)
    arr.flags.writeable = False
    return arr


def _volume(header: InterfileHeader, data: bytes, data_source: str,
            slice_thickness_unit: SliceThicknessUnit) -> InterfileVolume:
    spacing = header.spacing_mm(slice_thickness_unit)
    return InterfileVolume(header, decode_data(header, data, data_source), spacing)


def read_interfile(
    path: str | Path, *, slice_thickness_unit: SliceThicknessUnit = "pixels"
) -> InterfileVolume:
    """Read an Interfile 3.3 volume from disk.

    Parameters
    ----------
    path : str or Path
        The header (``.h33``). ``name of data file`` is resolved relative to its folder.
    slice_thickness_unit : {"pixels", "mm"}
        How to read ``slice thickness (pixels)`` (module docstring).

    Raises
    ------
    InputError
        Unreadable header or data file, or any problem listed in :func:`parse_header` and
        :func:`decode_data`.
    """
    hpath = Path(path)
    try:
        text = hpath.read_text(encoding="latin-1")
    except OSError as exc:
        raise InputError(f"cannot read the Interfile header {hpath}: {exc}.") from None
    header = parse_header(text, str(hpath))
    dpath = Path(header.data_file)
    if not dpath.is_absolute():
        dpath = hpath.parent / dpath
    try:
        data = dpath.read_bytes()
    except OSError as exc:
        raise InputError(
            f"Interfile header {hpath}: the data file named by '!name of data file := "
            f"{header.data_file}' cannot be read ({exc.strerror or exc}); it is looked for at "
            f"{dpath}. Put the data file next to the header or fix the key."
        ) from None
    return _volume(header, data, str(dpath), slice_thickness_unit)


def read_interfile_zip(
    archive: str | Path | IO[bytes] | zipfile.ZipFile,
    header_member: str,
    *,
    slice_thickness_unit: SliceThicknessUnit = "pixels",
    name: str | None = None,
) -> InterfileVolume:
    """Read an Interfile 3.3 volume stored inside a zip archive (no extraction to disk).

    Parameters
    ----------
    archive : path, binary file object or ZipFile
        The zip archive (e.g. a package resource opened with ``importlib.resources``).
    header_member : str
        Name of the header inside the archive; the data file is resolved relative to the
        header's folder inside the archive.
    slice_thickness_unit : {"pixels", "mm"}
        How to read ``slice thickness (pixels)`` (module docstring).
    name : str, optional
        How to call the archive in messages (default: its path).
    """
    label = name or (str(archive) if isinstance(archive, (str, Path)) else "zip archive")
    if isinstance(archive, zipfile.ZipFile):
        return _read_zip(archive, header_member, slice_thickness_unit, label)
    try:
        zf = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot open the zip archive {label}: {exc}.") from None
    with zf:
        return _read_zip(zf, header_member, slice_thickness_unit, label)


def _read_zip(
    zf: zipfile.ZipFile, header_member: str, slice_thickness_unit: SliceThicknessUnit, label: str
) -> InterfileVolume:
    members = set(zf.namelist())
    if header_member not in members:
        raise InputError(
            f"zip archive {label} has no member {header_member!r}; it holds {sorted(members)}."
        )
    source = f"{label}!{header_member}"
    header = parse_header(zf.read(header_member).decode("latin-1"), source)
    data_member = str(PurePosixPath(header_member).parent / header.data_file.replace("\\", "/"))
    data_member = data_member.removeprefix("./")
    if data_member not in members:
        raise InputError(
            f"Interfile header {source}: the data file named by '!name of data file := "
            f"{header.data_file}' is not in the archive (looked for {data_member!r}; the "
            f"archive holds {sorted(members)}). Add it or fix the key."
        )
    return _volume(header, zf.read(data_member), f"{label}!{data_member}", slice_thickness_unit)
