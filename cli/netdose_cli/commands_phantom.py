"""``netdose phantom``: write a public phantom with its truth (NIfTI, and DICOM)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from netdose_phantoms.registry import PHANTOMS

from netdose.errors import InputError
from netdose.io.atomic import atomic_write_text
from netdose_cli._app import JsonOpt, app, emit_json, out_console, run

_PHANTOM_HELP = "Phantom name. Available: " + "; ".join(f"{n} ({e.summary})" for n, e in PHANTOMS.items())


@app.command()
def phantom(
    name: Annotated[str | None, typer.Argument(help=_PHANTOM_HELP)] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Output folder (new or empty).")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--set", help="Builder option KEY=VALUE (repeatable); --list --json shows them."),
    ] = None,
    dicom: Annotated[bool, typer.Option("--dicom/--no-dicom", help="Also write DICOM series.")] = True,
    list_: Annotated[bool, typer.Option("--list", help="List the phantoms and their options.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a public phantom with known truth: NIfTI images, truth.json, and DICOM (CT, PT or
    NM, SEG)."""
    from netdose_phantoms.registry import build, parameters, parse_option

    if list_ or name is None:
        listing = {n: {"summary": e.summary, "options": parameters(n)} for n, e in PHANTOMS.items()}
        if as_json:
            emit_json(listing)
        else:
            for n, entry in listing.items():
                opts = ", ".join(f"{k}={v['default']!r}" for k, v in entry["options"].items())
                out_console.print(f"{n}: {entry['summary']}\n    options: {opts}")
        return
    if name not in PHANTOMS:
        raise InputError(f"unknown phantom {name!r}; choose one of {', '.join(PHANTOMS)}.")
    if out is None:
        raise InputError("give an output folder with -o/--out.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out} exists and is not an empty folder; give a new folder.")
    options = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r} is not of the form KEY=VALUE.")
        options[key.strip()] = parse_option(name, key.strip(), value)
    with run("phantom", name=name, out=out, options=options, dicom=dicom) as prov:
        with prov.timer("build"):
            ph = build(name, options)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        try:
            with prov.timer("write"):
                files = [str(p.relative_to(staging)) for p in ph.write_nifti(staging / "nifti")]
                if dicom:
                    from netdose_phantoms.export import export_dicom

                    for series, paths in export_dicom(ph, staging / "dicom").items():
                        files.extend(str(Path(p).relative_to(staging)) for p in paths[:1])
                        prov.outputs.append(f"dicom/{series}: {len(paths)} file(s)")
            atomic_write_text(staging / "provenance.json", json.dumps(prov.to_dict(), indent=2, default=str))
            if out.exists():
                out.rmdir()
            staging.rename(out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    summary = {
        "phantom": name,
        "output": str(out),
        "description": ph.description,
        "labels": dict(ph.label_names),
        "grid": ph.labels.describe_grid(),
        "time_points_h": [tp.time_h for tp in ph.time_points],
        "timings_s": prov.timings_s,
    }
    if as_json:
        emit_json({**summary, "truth": json.loads(json.dumps(dict(ph.truth), default=str))})
        return
    out_console.print(
        f"wrote phantom {name} to {out} ({ph.labels.describe_grid()}); truth in nifti/truth.json; "
        f"built in {prov.timings_s.get('build', 0):.1f} s"
    )
