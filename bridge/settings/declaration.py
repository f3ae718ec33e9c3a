"""How a setting is declared: ``setting()`` on a field of a ``Group``, read back as a
``Variable``; how a value is shown (``shown``: secrets and database passwords masked).

``setting()`` stores the declaration in the field's metadata under ``DECLARED``; the settings
package collects them, in declaration order, into ``VARIABLES``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bridge.logs import redact
from bridge.settings import parsers

__all__ = ["DECLARED", "Group", "Variable", "mask", "setting", "shown"]


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


def mask(secret: str) -> str:
    """Show only enough of a secret to tell two apart."""
    if len(secret) <= 8:
        return "****"
    return secret[:3] + "****" + secret[-2:]


def shown(parse: Callable[[str], Any], secret: bool, value: object) -> str:
    """A value as ``bridge config`` prints it: secrets and database passwords masked."""
    if value is None:
        return ""
    if secret:
        return mask(str(value))
    if isinstance(value, tuple):
        return ",".join(value)
    if parse is parsers.database_url:
        return redact(str(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


class Group:
    """A group of settings (a frozen dataclass); its fields are declared with setting()."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def __repr__(self) -> str:
        # Groups end up in logs and tracebacks too: never show a secret.
        parts = []
        for member in dataclasses.fields(self):
            declared, value = member.metadata[DECLARED], getattr(self, member.name)
            parse, secret = declared["parse"], declared["secret"]
            if value is not None and (secret or parse is parsers.database_url):
                value = shown(parse, secret, value)
            parts.append(f"{member.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"
