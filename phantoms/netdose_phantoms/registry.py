"""One registry of phantoms: it feeds ``netdose phantom`` (choices, help, --list --json) and
Python callers, so the two can never drift.

Each entry names the builder function lazily (``module:function``) so that importing the
registry does not build or import every phantom.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from netdose.errors import InputError
from netdose_phantoms.base import Phantom

__all__ = ["PHANTOMS", "PhantomEntry", "build", "get_builder", "parameters", "parse_option"]


@dataclasses.dataclass(frozen=True)
class PhantomEntry:
    """A registered phantom: registry name, builder (``module:function``), one-line summary."""

    name: str
    builder: str
    summary: str


PHANTOMS: dict[str, PhantomEntry] = {
    e.name: e
    for e in (
        PhantomEntry(
            "nema-iec",
            "netdose_phantoms.nema:nema_iec",
            "NEMA NU 2 / IEC 61675-1 body phantom: six spheres, lung insert, any spacing",
        ),
        PhantomEntry(
            "sirt-liver",
            "netdose_phantoms.sirt_liver:sirt_liver",
            "Tc-99m MAA before SIRT: liver, tumours, lungs, stomach, duodenum; LSF, TNR, GI hot spot",
        ),
        PhantomEntry(
            "prrt-patient",
            "netdose_phantoms.prrt_patient:prrt_patient",
            "Lu-177 DOTATATE patient (real anatomy): SPECT at 4/24/96/168 h with exact truth",
        ),
    )
}


def get_builder(name: str) -> Callable[..., Phantom]:
    """The builder function of a registered phantom."""
    entry = PHANTOMS.get(name)
    if entry is None:
        raise InputError(f"unknown phantom {name!r}; choose one of {', '.join(PHANTOMS)}.")
    module_name, func_name = entry.builder.split(":")
    return getattr(importlib.import_module(module_name), func_name)  # type: ignore[no-any-return]


def _hint(name: str, key: str) -> Any:
    return typing.get_type_hints(get_builder(name)).get(key)


def parameters(name: str) -> dict[str, dict[str, Any]]:
    """Keyword parameters of a phantom builder: name → {"default", "type"} (for help/JSON)."""
    func = get_builder(name)
    hints = typing.get_type_hints(func)
    out: dict[str, dict[str, Any]] = {}
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = None if p.default is inspect.Parameter.empty else p.default
        hint = hints.get(p.name, "")
        kind = getattr(hint, "__name__", None) if isinstance(hint, type) else str(hint)
        out[p.name] = {"default": default, "type": str(kind).replace("typing.", "")}
    return out


def _convert(text: str, hint: Any) -> Any:
    """Convert ``text`` to one of the types a parameter annotation allows."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is None or hint is type(None):
        if text.lower() in ("none", "null"):
            return None
        raise ValueError(text)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        for arg in sorted(args, key=lambda a: a is str):  # try str last
            try:
                return _convert(text, arg)
            except ValueError:
                continue
        raise ValueError(text)
    if origin is typing.Literal:
        if text in args:
            return text
        raise ValueError(text)
    if hint is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if hint is int:
        return int(text)
    if hint is float:
        return float(text)
    if origin is tuple or hint is tuple:
        values = tuple(float(v) for v in text.split(","))
        if args and len(args) == 3 and args[-1] is not Ellipsis and len(values) == 1:
            values = values * 3
        return values
    if hint is str:
        return text
    raise ValueError(text)


def parse_option(name: str, key: str, text: str) -> Any:
    """Convert ``text`` to the type of builder parameter ``key``: numbers, booleans, ``none``,
    literals, and tuples written ``a,b,c`` (one number = the same three times)."""
    params = parameters(name)
    if key not in params:
        raise InputError(
            f"phantom {name!r} has no option {key!r}; its options are {', '.join(params)}."
        )
    hint = _hint(name, key)
    try:
        return _convert(text.strip(), hint if hint is not None else str)
    except ValueError as exc:
        raise InputError(
            f"phantom {name!r} option {key}={text!r}: expected {params[key]['type']}."
        ) from exc


def build(name: str, options: Mapping[str, Any] | None = None) -> Phantom:
    """Build a registered phantom with keyword options."""
    func = get_builder(name)
    return func(**dict(options or {}))
