"""How a setting is declared: ``setting()`` on a field of a group, read back as a ``Variable``.

``setting()`` stores the declaration in the field's metadata under ``DECLARED``; the settings
package collects them, in declaration order, into ``VARIABLES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DECLARED", "Variable", "setting"]


@dataclass(frozen=True)
class Variable:
    """One environment variable: its group and field in Settings, and how it is read."""

    name: str
    group: str
    attr: str
    parse: Callable[[str], Any]
    default: str | None
    example: str
    doc: str
    secret: bool = False


DECLARED = "bridge.settings.variable"


def setting(
    name: str,
    parse: Callable[[str], Any],
    doc: str,
    *,
    default: str | None = None,
    example: str | None = None,
    secret: bool = False,
) -> Any:
    """Declare the variable behind a field of a settings group, once.

    The field's typed default is ``parse(default)`` (None when there is no default); ``example``
    is what config.example.env and error messages show, the default unless given. The group and
    field the variable lands on are where it is declared.
    """
    if example is None and default is None:
        raise TypeError(f"{name}: a variable without a default needs an example")
    declared = {
        "name": name,
        "parse": parse,
        "doc": doc,
        "default": default,
        "example": default if example is None else example,
        "secret": secret,
    }
    typed = None if default is None else parse(default)
    return field(default=typed, metadata={DECLARED: declared})
