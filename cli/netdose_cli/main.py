"""Entry point of the ``netdose`` command: a thin layer that parses, calls the library and
renders.

Exit codes: 0 success; 2 bad input (any :class:`netdose.NetdoseError`, or a usage error);
3 a safety limit blocks the plan (:class:`netdose.LimitExceeded`); 1 anything else (a bug,
shown with its traceback so it can be reported).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import typer

from netdose.errors import LimitExceeded, NetdoseError
from netdose_cli import (  # noqa: F401  (importing registers the commands)
    commands_basic,
    commands_demo,
    commands_dose,
    commands_measure,
    commands_phantom,
    commands_prrt,
    commands_response,
    commands_sirt,
    commands_suv,
)
from netdose_cli._app import app, err_console

__all__ = ["app", "main"]


def _one_paragraph(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line and exit with its code (see the module docstring).

    Usage errors, ``--help`` and ``--version`` are handled by typer (standalone mode, usage
    errors exit 2); netdose's own errors are caught here and printed as one paragraph.
    """
    command = typer.main.get_command(app)
    try:
        command.main(
            args=list(argv) if argv is not None else None, prog_name="netdose", standalone_mode=True
        )
    except LimitExceeded as exc:
        err_console.print(f"netdose: do not treat: {_one_paragraph(str(exc))}", soft_wrap=True, markup=False)
        sys.exit(3)
    except NetdoseError as exc:
        err_console.print(f"netdose: error: {_one_paragraph(str(exc))}", soft_wrap=True, markup=False)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
