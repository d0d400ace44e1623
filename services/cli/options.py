"""What commands of several modules share: the `--json` option, choices made of a Literal's
values, and the exit codes scripts and CI rely on."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, get_args

import typer

__all__ = ["EXIT_NO_BASELINE", "EXIT_REFUSED", "EXIT_REGRESSED", "EXIT_RUN_FAILED", "JsonOption", "choices"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON (the API's shape).")]

# Exit codes scripts and CI rely on
EXIT_RUN_FAILED = 1
EXIT_REFUSED = 2
EXIT_REGRESSED = 3
EXIT_NO_BASELINE = 4


def choices(name: str, values: Any) -> Any:
    """A StrEnum of a Literal's values, so typer offers (and checks) exactly those.

    Its members are made at run time, which mypy cannot follow: a module binds the result under
    `if not TYPE_CHECKING:` and lets mypy see a plain StrEnum (as in local.py)."""
    return StrEnum(name, {value: value for value in get_args(values)})
