"""Click parameter types the subcommands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from worker.errors import PaletteError

if TYPE_CHECKING:
    from worker.palette.options import K


class KType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """-k: an integer or ``auto``, checked by ``parse`` (the rule of the place the value
    goes: ``extract``'s options or an upload's metadata); its ``PaletteError`` becomes
    click's usage error, with the same message the worker would store."""

    name = "K|auto"

    def __init__(self, parse: Callable[[str], K]) -> None:
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self._parse(str(value))
        except PaletteError as exc:
            self.fail(exc.message, param, ctx)
