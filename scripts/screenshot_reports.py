"""Screenshot netdose HTML reports with headless Chromium and check that none is blank.

Usage::

    python scripts/screenshot_reports.py REPORT.html [MORE.html | FOLDER ...] [--out-dir DIR]

Every ``*.html`` file given, or found (recursively) under a folder given, is rendered by
``chromium --headless --screenshot`` into ``NAME.png`` (next to the HTML file, or in
``--out-dir``), and each screenshot is checked: at least ``--min-nonwhite`` of its pixels must
be non-white and it must have more than ``--min-colours`` distinct colours; otherwise the page
counts as blank (a broken page, an unloadable image, a CSS error that hides the body).

Exit codes: 0 every screenshot looks like a page; 1 a screenshot is blank or missing;
2 Chromium is not installed or no HTML file was found.

Chromium is looked up as ``$NETDOSE_CHROMIUM``, then ``chromium``, ``chromium-browser``,
``google-chrome``, ``google-chrome-stable`` on the PATH. Debian/Ubuntu: ``apt-get install
chromium``.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("Chromium was not found. Install it (Debian/Ubuntu: `sudo apt-get install "
                "chromium`), or set NETDOSE_CHROMIUM to the browser's executable.")
#: A pixel is "white" when all its channels are at least this (0..1).
WHITE_LEVEL = 0.98
#: Defaults of the blank check.
MIN_NONWHITE_FRACTION = 0.02
MIN_COLOURS = 16
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None."""
    env = os.environ.get("NETDOSE_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def blank_reason(png: bytes | str | os.PathLike[str], *,
                 min_nonwhite_fraction: float = MIN_NONWHITE_FRACTION,
                 min_colours: int = MIN_COLOURS) -> str | None:
    """Why a PNG screenshot looks blank, or None when it looks like a rendered page.

    Parameters
    ----------
    png : bytes or path
        The PNG.
    min_nonwhite_fraction : float
        Smallest fraction of pixels that are not white (any channel below
        :data:`WHITE_LEVEL`).
    min_colours : int
        The image must have more distinct colours (8 bits per channel) than this.
    """
    from matplotlib.image import imread

    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        return "not a PNG file"
    try:
        img = np.asarray(imread(io.BytesIO(data), format="png"), dtype=np.float64)
    except (ValueError, OSError, SyntaxError) as exc:
        return f"the PNG cannot be decoded ({exc})"
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    rgb = img[:, :, :3]
    if img.shape[2] == 4:  # composite on white
        alpha = img[:, :, 3:4]
        rgb = rgb * alpha + (1.0 - alpha)
    nonwhite = float(np.mean(np.any(rgb < WHITE_LEVEL, axis=2)))
    q = np.round(rgb * 255.0).astype(np.uint32).reshape(-1, 3)
    colours = int(np.unique((q[:, 0] << 16) | (q[:, 1] << 8) | q[:, 2]).size)
    problems = []
    if nonwhite < min_nonwhite_fraction:
        problems.append(f"only {100 * nonwhite:.2f} % of the pixels are not white "
                        f"(need {100 * min_nonwhite_fraction:g} %)")
    if colours <= min_colours:
        problems.append(f"only {colours} distinct colours (need more than {min_colours})")
    return "; ".join(problems) or None


def screenshot(chromium: str, html: Path, out_png: Path, *, width: int = 1200,
               height: int = 3000, timeout_s: float = 120.0) -> None:
    """Render ``html`` with headless Chromium into ``out_png`` (raises RuntimeError)."""
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="netdose-chromium-") as profile:
        cmd = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
               "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
               f"--screenshot={out_png.resolve()}", f"--window-size={width},{height}",
               html.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Chromium did not finish {html} within {timeout_s:g} s.") from None
    if not out_png.is_file():
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        raise RuntimeError(f"Chromium wrote no screenshot of {html} (exit {proc.returncode}): "
                           + " | ".join(tail))


def html_files(paths: Sequence[str]) -> list[Path]:
    """The HTML files named, and every ``*.html`` under the folders named (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(p.rglob("*.html")))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder.")
    return out


def output_paths(files: Sequence[Path], out_dir: Path | None) -> list[Path]:
    """``NAME.png`` next to each file, or in ``out_dir`` (prefixed by the parent folders'
    names when two files have the same name)."""
    if out_dir is None:
        return [f.with_suffix(".png") for f in files]
    out, used = [], set()
    for f in files:
        parts = f.resolve().parts[:-1]
        name, k = f.stem, 1
        while name in used and k <= len(parts):
            name = "_".join((*parts[-k:], f.stem))
            k += 1
        used.add(name)
        out.append(out_dir / f"{name}.png")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="HTML files or folders holding *.html")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="folder for the PNGs (default: next to each HTML file)")
    parser.add_argument("--window-size", default="1200,3000", help="WIDTH,HEIGHT in pixels")
    parser.add_argument("--min-nonwhite", type=float, default=MIN_NONWHITE_FRACTION,
                        help="smallest fraction of non-white pixels (default %(default)s)")
    parser.add_argument("--min-colours", type=int, default=MIN_COLOURS,
                        help="a page needs more distinct colours than this (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.window_size.split(","))
    except ValueError:
        parser.error(f"--window-size {args.window_size!r}: give WIDTH,HEIGHT, e.g. 1200,3000")
    try:
        files = html_files(args.paths)
    except FileNotFoundError as exc:
        print(f"screenshot_reports: {exc}", file=sys.stderr)
        return 2
    if not files:
        print("screenshot_reports: no HTML file found in " + ", ".join(args.paths),
              file=sys.stderr)
        return 2
    chromium = find_chromium()
    if chromium is None:
        print(f"screenshot_reports: {INSTALL_HINT}", file=sys.stderr)
        return 2
    failed = 0
    for html, out in zip(files, output_paths(files, args.out_dir)):
        try:
            screenshot(chromium, html, out, width=width, height=height)
        except RuntimeError as exc:
            print(f"FAIL {html}: {exc}", file=sys.stderr)
            failed += 1
            continue
        reason = blank_reason(out, min_nonwhite_fraction=args.min_nonwhite,
                              min_colours=args.min_colours)
        if reason:
            print(f"BLANK {html} -> {out}: {reason}", file=sys.stderr)
            failed += 1
        else:
            print(f"ok {html} -> {out}")
    print(f"{len(files) - failed} of {len(files)} report(s) rendered and not blank.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
