"""The typer application object and the helpers every command module shares."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import netdose
from netdose.provenance import Provenance

app = typer.Typer(
    name="netdose",
    help="Treatment planning and dosimetry for radionuclide therapy (Y-90 SIRT, Lu-177 PRRT).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _version_callback(value: bool) -> None:
    if value:
        print(f"netdose {netdose.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """netdose: SIRT and PRRT dosimetry, planning and response assessment."""


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    print(json.dumps(data, indent=2, default=str))


def warn_all(messages: Sequence[str]) -> None:
    """Print recorded warnings on stderr, one per line."""
    for msg in messages:
        err_console.print(f"warning: {msg}", soft_wrap=True, markup=False)


@contextlib.contextmanager
def run(command: str, **options: Any) -> Iterator[Provenance]:
    """Provenance for one CLI run: captures warnings and prints them at the end."""
    prov = Provenance(command=command, options={k: _jsonable(v) for k, v in options.items()})
    try:
        with prov.capture_warnings():
            yield prov
    finally:
        warn_all(prov.warnings)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (os.PathLike, Path)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_outputs(out: Path, writer: Callable[[Path], dict[str, Path]]) -> dict[str, Path]:
    """Run ``writer`` into a temporary folder next to ``out`` and move the files into ``out``
    only when all were written: a failure leaves no partial output."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".netdose-", dir=out))
    ok = False
    try:
        written = writer(tmp)
        final = {}
        for role, path in written.items():
            target = out / path.name
            os.replace(path, target)
            final[role] = target
        ok = True
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not ok and not any(out.iterdir()):
            out.rmdir()
