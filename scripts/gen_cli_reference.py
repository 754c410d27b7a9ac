"""Write docs/cli-reference.md from the command line itself (every command and option), so
the reference cannot drift from the code. Run: ``python scripts/gen_cli_reference.py``;
tests/test_docs.py checks that the committed file is up to date."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from netdose_cli.main import app

OUT = Path(__file__).resolve().parents[1] / "docs" / "cli-reference.md"


def _params(cmd: Any) -> list[str]:
    rows = []
    for p in cmd.params:
        if p.param_type_name == "argument":
            help_ = " ".join((getattr(p, "help", None) or "").split()).replace("|", "\\|")
            rows.append(f"| `{(p.name or '').upper()}` | {help_} (argument) | |")
            continue
        if p.param_type_name != "option":
            continue
        names = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        default = "" if p.required or p.default in (None, False, ()) else f"default `{p.default}`"
        help_ = " ".join((p.help or "").split()).replace("|", "\\|")
        rows.append(f"| {names} | {help_} | {default} |")
    return rows


def _walk(cmd: Any, path: list[str], out: list[str]) -> None:
    if hasattr(cmd, "commands"):
        for name in sorted(cmd.commands):
            _walk(cmd.commands[name], [*path, name], out)
        return
    doc = " ".join((cmd.help or "").split())
    out.append(f"## `netdose {' '.join(path)}`\n")
    out.append(doc + "\n")
    rows = _params(cmd)
    if rows:
        out.append("| parameter | meaning | default |")
        out.append("|---|---|---|")
        out.extend(rows)
    out.append("")


def render() -> str:
    root = typer.main.get_command(app)
    out = ["# Command reference", "",
           ("Generated from the command line by `python scripts/gen_cli_reference.py`; every "
           "command also has `--help`. Exit codes: 0 success, 2 bad input (one-paragraph "
           "message, nothing written), 3 a safety limit blocks the plan (report written), 1 a "
           "bug."), ""]
    _walk(root, [], out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.read_text(encoding="utf-8") == text else 1)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
